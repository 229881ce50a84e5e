import Foundation
import SidecacheInject
import Testing

@testable import SidecacheWebhook

/// Tests/SidecacheWebhookTests/Fixtures, found from this file's path (not bundle resources).
let fixtureDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

func fixture(_ name: String) throws -> [UInt8] {
    Array(try Data(contentsOf: fixtureDirectory.appendingPathComponent(name)))
}

func fixtureJSON(_ name: String) throws -> JSONValue { try JSONValue.parse(try fixture(name)) }

/// The options the fixtures are injected with.
var testOptions: SidecarOptions {
    var options = SidecarOptions()
    options.upstreams = ["10.96.0.10"]
    options.image = "registry.example/platform/sidecache:1.0"
    return options
}

/// `document` with RFC 6902 `add` operations applied: how a test varies a fixture ("the same pod, but host network").
func adding(_ changes: [(path: String, value: JSONValue)], to document: JSONValue) throws -> JSONValue {
    try PatchApplier.apply(
        .array(changes.map { .object(["op": .string("add"), "path": .string($0.path), "value": $0.value]) }),
        to: document)
}

/// The review of the pod fixture with its pod changed.
func podReview(_ changes: [(path: String, value: JSONValue)] = []) throws -> [UInt8] {
    try adding(changes.map { ("/request/object" + $0.path, $0.value) }, to: try fixtureJSON("pod-web.review.json"))
        .serialized()
}

/// The AdmissionReview a body holds, checked for the fields every answer must carry.
func response(of body: [UInt8], uid: String) throws -> JSONValue {
    let review = try JSONValue.parse(body)
    #expect(review["apiVersion"] == .string("admission.k8s.io/v1"))
    #expect(review["kind"] == .string("AdmissionReview"))
    let response = try #require(review["response"])
    #expect(response["uid"] == .string(uid))
    #expect(response["allowed"] == .bool(true))
    return response
}

/// The patch of a response, decoded from base64 as the API server does; nil when there is none.
func decodedPatch(_ response: JSONValue) throws -> JSONValue? {
    guard let encoded = response["patch"]?.string else {
        #expect(response["patchType"] == nil)
        return nil
    }
    #expect(response["patchType"] == .string("JSONPatch"))
    let bytes = try #require(Data(base64Encoded: encoded))
    return try JSONValue.parse(Array(bytes))
}

extension JSONValue {
    /// Indented JSON with sorted keys, for golden files a person reviews.
    var pretty: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: (try? encoder.encode(self)) ?? Data(), as: UTF8.self) + "\n"
    }
}
