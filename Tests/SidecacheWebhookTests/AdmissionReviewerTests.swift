import Foundation
import SidecacheInject
import Testing
import Yams

@testable import SidecacheWebhook

/// The review logic without a socket: real AdmissionReview bodies in, the response and its patch checked by
/// applying the patch to the pod.
struct AdmissionReviewerTests {
    let reviewer: AdmissionReviewer
    let uid = "705ab4f5-6393-11e8-b7cc-42010a800002"

    init() throws { reviewer = try AdmissionReviewer(options: testOptions) }

    func patchedPod(_ body: [UInt8]) throws -> (pod: JSONValue, answer: AdmissionAnswer) {
        let answer = reviewer.review(body)
        #expect(answer.status == 200)
        let response = try response(of: answer.body, uid: uid)
        let patch = try #require(try decodedPatch(response))
        let pod = try #require(try JSONValue.parse(body)["request"]?["object"])
        return (try PatchApplier.apply(patch, to: pod), answer)
    }

    /// The patched pod is exactly what `sidecache inject` makes of the same pod, and the golden file that
    /// .ci/check-packaging validates against the Kubernetes schemas.
    @Test func patchedPodIsWhatInjectWrites() throws {
        let body = try fixture("pod-web.review.json")
        let (patched, answer) = try patchedPod(body)
        #expect(answer.result == .patched)
        #expect(answer.warnings.isEmpty)

        let pod = try #require(try JSONValue.parse(body)["request"]?["object"])
        let yaml = try Yams.serialize(node: pod.node)
        let injected = try ManifestInjector(options: testOptions).inject(yaml, source: "pod")
        let fromInject = try JSONValue(node: try #require(try Yams.compose(yaml: injected.yaml)))
        #expect(patched == fromInject)

        let golden = fixtureDirectory.appendingPathComponent("pod-web.patched.json")
        if ProcessInfo.processInfo.environment["SIDECACHE_UPDATE_GOLDEN"] == "1" {
            try patched.pretty.write(to: golden, atomically: true, encoding: .utf8)
        }
        #expect(patched == (try fixtureJSON("pod-web.patched.json")), "SIDECACHE_UPDATE_GOLDEN=1 rewrites it")
        // What the pod keeps: the unicode, quotes, slashes and tildes of its env value; its own volume first.
        let web = try #require(patched["spec"]?["containers"]?.array?.first)
        #expect(web["env"]?.array?.first?["value"] == .string("caf\u{e9} \u{1F600} \"quoted\" a/b ~tilde"))
        #expect(patched["spec"]?["volumes"]?.array?.first?["name"] == .string("kube-api-access-abcde"))
        #expect(patched["spec"]?["initContainers"]?.array?.first?["name"] == .string("sidecache"))
        #expect(patched["metadata"]?["labels"]?["sidecache/injected"] == .string("true"))
    }

    /// A review of the patched pod (as after reinvocation) changes nothing more.
    @Test func patchedPodGetsNoSecondPatch() throws {
        let (patched, _) = try patchedPod(try fixture("pod-web.review.json"))
        let again = try adding([("/request/object", patched)], to: try fixtureJSON("pod-web.review.json"))
        let answer = reviewer.review(again.serialized())
        #expect(answer.result == .skipped)
        #expect(answer.reason == "already injected")
        #expect(try decodedPatch(try response(of: answer.body, uid: uid)) == nil)
    }

    /// Keys with `/` and `~` are escaped as RFC 6901 says (the classic mode's default-container annotation).
    @Test func annotationKeysAreEscaped() throws {
        var options = testOptions
        options.mode = .classic
        options.prometheusAnnotations = true
        let reviewer = try AdmissionReviewer(options: options)
        let body = try podReview([("/metadata/annotations", .object([:]))])
        let answer = reviewer.review(body)
        let patch = try #require(try decodedPatch(try response(of: answer.body, uid: uid)))
        let paths = (patch.array ?? []).compactMap { $0["path"]?.string }
        #expect(paths.contains("/metadata/annotations/kubectl.kubernetes.io~1default-container"))
        #expect(paths.contains("/metadata/annotations/prometheus.io~1scrape"))
        #expect(paths.contains("/metadata/labels/sidecache~1injected"))
        let pod = try #require(try JSONValue.parse(body)["request"]?["object"])
        let patched = try PatchApplier.apply(patch, to: pod)
        #expect(patched["metadata"]?["annotations"]?["kubectl.kubernetes.io/default-container"] == .string("web"))
        #expect(patched["spec"]?["containers"]?.array?.first?["name"] == .string("sidecache"))
    }

    struct SkipCase: CustomTestStringConvertible, Sendable {
        var name: String
        var changes: [(path: String, value: JSONValue)]
        var result: AdmissionResult
        var reason: String
        /// A word the warning must contain; nil: no warning.
        var warning: String?
        var testDescription: String { name }
    }

    static let skipCases: [SkipCase] = [
        SkipCase(
            name: "opted out", changes: [("/metadata/annotations/sidecache.io~1inject", .string("false"))],
            result: .skipped, reason: "opted out", warning: nil),
        SkipCase(
            name: "host network", changes: [("/spec/hostNetwork", .bool(true))], result: .skipped,
            reason: "host network", warning: "hostNetwork"),
        SkipCase(
            name: "already has the sidecar",
            changes: [("/spec/containers/-", .object(["name": .string("sidecache"), "image": .string("mine")]))],
            result: .skipped, reason: "already injected", warning: nil),
        SkipCase(
            name: "no containers", changes: [("/spec/containers", .array([]))], result: .error,
            reason: "pod shop/web-7d9f8b6c5d-: spec.containers is missing or empty",
            warning: "spec.containers is missing or empty"),
        SkipCase(
            name: "mounts /var/run/nscd already",
            changes: [
                ("/spec/volumes/-", .object(["name": .string("own"), "emptyDir": .object([:])])),
                ("/spec/containers/0/volumeMounts/-", .object(["name": .string("own"), "mountPath": .string("/var/run/nscd")])),
            ],
            result: .error,
            reason: "pod shop/web-7d9f8b6c5d-: container web already mounts volume own at /var/run/nscd, where the sidecar's socket goes",
            warning: "already mounts volume own"),
        SkipCase(
            name: "dnsPolicy Default", changes: [("/spec/dnsPolicy", .string("Default"))], result: .error,
            reason: "", warning: "dnsPolicy is Default"),
        SkipCase(
            name: "containers not a list", changes: [("/spec/containers", .string("web"))], result: .error,
            reason: "", warning: "not a list"),
    ]

    /// Pods the webhook leaves alone are allowed unchanged; a warning says why when the pod did not ask for it.
    @Test(arguments: skipCases)
    func allowedUnchanged(_ testCase: SkipCase) throws {
        let answer = reviewer.review(try podReview(testCase.changes))
        #expect(answer.status == 200)
        #expect(answer.result == testCase.result)
        if !testCase.reason.isEmpty { #expect(answer.reason == testCase.reason) }
        let response = try response(of: answer.body, uid: uid)
        #expect(try decodedPatch(response) == nil)
        let warnings = response["warnings"]?.array?.compactMap(\.string) ?? []
        if let word = testCase.warning {
            #expect(warnings.count == 1 && warnings[0].contains(word), "\(warnings)")
            #expect(warnings[0].hasPrefix("sidecache: "))
        } else {
            #expect(warnings.isEmpty)
        }
    }

    /// Not a Pod, or not a CREATE: allowed with a warning, no patch.
    @Test func otherResourcesAndOperations() throws {
        let deployment = reviewer.review(try fixture("deployment.review.json"))
        #expect(deployment.result == .skipped)
        let response = try response(of: deployment.body, uid: "11111111-2222-4333-8444-555555555555")
        #expect(try decodedPatch(response) == nil)
        #expect(response["warnings"]?.array?.first?.string?.contains("apps/v1/Deployment is not a Pod") == true)

        let update = try adding([("/request/operation", .string("UPDATE"))], to: try fixtureJSON("pod-web.review.json"))
        let answer = reviewer.review(update.serialized())
        #expect(answer.result == .skipped)
        #expect(answer.warnings == ["sidecache: injects at CREATE only, not UPDATE"])

        let ephemeral = try adding([("/request/subResource", .string("ephemeralcontainers"))], to: try fixtureJSON("pod-web.review.json"))
        #expect(reviewer.review(ephemeral.serialized()).result == .skipped)
    }

    struct RefusalCase: CustomTestStringConvertible, Sendable {
        var name: String
        var body: @Sendable () throws -> [UInt8]
        var message: String
        var testDescription: String { name }
    }

    static let refusalCases: [RefusalCase] = [
        RefusalCase(name: "malformed JSON", body: { Array(#"{"kind": "AdmissionReview", "#.utf8) }, message: "the body is not JSON"),
        RefusalCase(name: "empty body", body: { [] }, message: "the body is not JSON"),
        RefusalCase(name: "a JSON array", body: { Array("[1, 2]".utf8) }, message: "not a JSON object"),
        RefusalCase(name: "v1beta1", body: { try fixture("pod-web.v1beta1.review.json") },
            message: "apiVersion admission.k8s.io/v1beta1 is not supported: only admission.k8s.io/v1"),
        RefusalCase(name: "another kind", body: {
            try adding([("/kind", .string("ConversionReview"))], to: try fixtureJSON("pod-web.review.json")).serialized()
        }, message: "kind is ConversionReview, not AdmissionReview"),
        RefusalCase(name: "no request", body: { Array(#"{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1"}"#.utf8) },
            message: "request is missing"),
        RefusalCase(name: "no uid", body: {
            try adding([("/request/uid", .string(""))], to: try fixtureJSON("pod-web.review.json")).serialized()
        }, message: "request.uid is missing"),
    ]

    /// What is not an AdmissionReview v1 gets a 400 with a message (and the failure policy admits the pod).
    @Test(arguments: refusalCases)
    func refused(_ testCase: RefusalCase) throws {
        let answer = reviewer.review(try testCase.body())
        #expect(answer.status == 400)
        #expect(answer.result == .rejected)
        let text = String(decoding: answer.body, as: UTF8.self)
        #expect(text.contains(testCase.message), "\(text)")
    }

    /// A replaced nameserver warns, as inject does on standard error, and the pod is still patched.
    @Test func injectorWarningsReachTheClient() throws {
        let answer = reviewer.review(try podReview([
            ("/spec/dnsPolicy", .string("None")),
            ("/spec/dnsConfig", .object(["nameservers": .array([.string("10.0.0.53")])])),
        ]))
        #expect(answer.result == .patched)
        #expect(answer.warnings.count == 1)
        #expect(answer.warnings.first?.contains("10.0.0.53 replaced by 127.0.0.1") == true)
    }

    @Test func invalidOptionsNameTheSetting() {
        var options = testOptions
        options.upstreams = ["127.0.0.1"]
        let error = #expect(throws: WebhookError.self) { try AdmissionReviewer(options: options) }
        #expect(error?.code == .invalidSetting)
        #expect(error?.message.contains("upstream '127.0.0.1' is a loopback address") == true)
    }
}
