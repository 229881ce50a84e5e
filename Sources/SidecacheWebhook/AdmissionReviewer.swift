import Foundation
import SidecacheInject
import Yams

/// What became of one AdmissionReview: the label of `sidecache_webhook_requests_total`.
public enum AdmissionResult: String, Sendable, CaseIterable {
    /// The pod gets the sidecar (a non-empty JSONPatch).
    case patched
    /// Allowed unchanged on purpose: opted out, already injected, host network, not a Pod, not CREATE.
    case skipped
    /// Allowed unchanged because the injector refused the pod or failed; the warning says why.
    case error
    /// Not an AdmissionReview the webhook can answer (HTTP 4xx): the API server applies the failure policy.
    case rejected
}

/// The HTTP answer to one `POST /mutate`.
public struct AdmissionAnswer: Sendable {
    public var status: Int
    public var contentType: String
    public var body: [UInt8]
    public var result: AdmissionResult
    /// For the log: why it was skipped or refused.
    public var reason: String
    public var warnings: [String]
    /// The patch, for tests (the body carries it base64-encoded).
    public var patch: JSONPatch?
}

/// Turns an AdmissionReview (admission.k8s.io/v1) for a Pod into the review's response, with the same injection as
/// `sidecache inject`. Pure: bytes in, answer out, so every case is tested without a socket.
///
/// It never stands in the way of a pod: whatever it cannot patch it allows unchanged with a warning, which the API
/// server passes on to the client (`kubectl` prints it). Only input that is not an AdmissionReview v1 at all gets a
/// 400, and the webhook configuration's `failurePolicy: Ignore` admits the pod then too.
public struct AdmissionReviewer: Sendable {
    public static let apiVersion = "admission.k8s.io/v1"
    /// `sidecache.io/inject: "false"` on a pod keeps the sidecar out.
    public static let optOutAnnotation = "sidecache.io/inject"

    let injector: ManifestInjector

    public init(options: SidecarOptions) throws {
        do {
            injector = try ManifestInjector(options: options)
        } catch let error as InjectError {
            throw WebhookError(.invalidSetting, error.message)
        }
    }

    public func review(_ body: [UInt8]) -> AdmissionAnswer {
        let document: JSONValue
        do {
            document = try JSONValue.parse(body)
        } catch {
            return Self.refusal("the body is not JSON: \(Self.describe(error))")
        }
        guard case .object = document else { return Self.refusal("the body is not a JSON object (an AdmissionReview)") }
        let apiVersion = document["apiVersion"]?.string ?? "(none)"
        let kind = document["kind"]?.string ?? "(none)"
        guard kind == "AdmissionReview" else {
            return Self.refusal("kind is \(kind), not AdmissionReview")
        }
        guard apiVersion == Self.apiVersion else {
            return Self.refusal(
                "apiVersion \(apiVersion) is not supported: only \(Self.apiVersion) (set admissionReviewVersions: [\"v1\"] in the MutatingWebhookConfiguration)")
        }
        guard let request = document["request"], case .object = request else {
            return Self.refusal("request is missing: an AdmissionReview sent to a webhook carries one")
        }
        guard let uid = request["uid"]?.string, !uid.isEmpty else { return Self.refusal("request.uid is missing") }
        return decide(request).answer(uid: uid)
    }

    /// The decision for a well-formed request.
    private func decide(_ request: JSONValue) -> Decision {
        let kind = request["kind"]
        let group = kind?["group"]?.string ?? ""
        let kindName = kind?["kind"]?.string ?? "?"
        guard group.isEmpty, kindName == "Pod", request["subResource"]?.string ?? "" == "" else {
            let resource = [group, kind?["version"]?.string, kindName].compactMap { $0 }.filter { !$0.isEmpty }
            let sub = request["subResource"]?.string.map { " (\($0))" } ?? ""
            return Decision(.skipped, "not a Pod", warning: "sidecache: \(resource.joined(separator: "/"))\(sub) is not a Pod; nothing injected")
        }
        let operation = request["operation"]?.string ?? "?"
        guard operation == "CREATE" else {
            return Decision(.skipped, "operation \(operation)", warning: "sidecache: injects at CREATE only, not \(operation)")
        }
        guard let pod = request["object"], case .object = pod else {
            return Decision(.error, "no object", warning: "sidecache: request.object is not a Pod object; nothing injected")
        }
        let metadata = pod["metadata"]
        let namespace = request["namespace"]?.string ?? metadata?["namespace"]?.string ?? "default"
        let name = metadata?["name"]?.string ?? metadata?["generateName"]?.string ?? request["name"]?.string ?? "(unnamed)"
        let location = "pod \(namespace)/\(name)"

        if metadata?["annotations"]?[Self.optOutAnnotation]?.string == "false" {
            return Decision(.skipped, "opted out")
        }
        let spec = pod["spec"]
        let containers = (spec?["initContainers"]?.array ?? []) + (spec?["containers"]?.array ?? [])
        if containers.contains(where: { $0["name"]?.string == ManifestInjector.sidecarContainerName }) {
            return Decision(.skipped, "already injected")
        }
        if spec?["hostNetwork"] == .bool(true) {
            return Decision(
                .skipped, "host network",
                warning: "sidecache: \(location) uses hostNetwork: 127.0.0.1:53 is the node's, so no sidecar was added")
        }

        guard case .mapping(var mapping) = pod.node else {
            return Decision(.error, "no object", warning: "sidecache: \(location) is not an object; nothing injected")
        }
        do {
            let warnings = try injector.injectPod(&mapping, namespace: namespace, location: location)
            let injected = try JSONValue(node: .mapping(mapping))
            let patch = JSONPatch(from: pod, to: injected)
            if patch.isEmpty { return Decision(.skipped, "nothing to change") }
            var decision = Decision(.patched, "injected")
            decision.patch = patch
            decision.warnings = warnings.map { "sidecache: \($0)" }
            return decision
        } catch {
            return Decision(.error, "\(error)", warning: "sidecache: not injected: \(error)")
        }
    }

    struct Decision {
        var result: AdmissionResult
        var reason: String
        var warnings: [String]
        var patch: JSONPatch?

        init(_ result: AdmissionResult, _ reason: String, warning: String? = nil) {
            self.result = result
            self.reason = reason
            self.warnings = warning.map { [$0] } ?? []
        }

        func answer(uid: String) -> AdmissionAnswer {
            var response: [String: JSONValue] = ["uid": .string(uid), "allowed": .bool(true)]
            if let patch, !patch.isEmpty {
                response["patchType"] = .string("JSONPatch")
                response["patch"] = .string(Data(patch.json.serialized()).base64EncodedString())
            }
            if !warnings.isEmpty { response["warnings"] = .array(warnings.map(JSONValue.string)) }
            let review: JSONValue = .object([
                "apiVersion": .string(AdmissionReviewer.apiVersion), "kind": .string("AdmissionReview"),
                "response": .object(response),
            ])
            return AdmissionAnswer(
                status: 200, contentType: "application/json", body: review.serialized(), result: result,
                reason: reason, warnings: warnings, patch: patch)
        }
    }

    /// A 400 for a body the webhook cannot answer at all.
    static func refusal(_ message: String) -> AdmissionAnswer {
        AdmissionAnswer(
            status: 400, contentType: "text/plain; charset=utf-8", body: Array("\(message)\n".utf8), result: .rejected,
            reason: message, warnings: [], patch: nil)
    }

    /// JSONDecoder's errors, shortened to what a person sending the body needs.
    static func describe(_ error: any Error) -> String {
        switch error {
        case DecodingError.dataCorrupted(let context):
            // The underlying error says where ("Unexpected character ... at line 1, column 9").
            let underlying = context.underlyingError.map { ($0 as NSError).userInfo[NSDebugDescriptionErrorKey] as? String ?? "\($0)" }
            return [context.debugDescription, underlying].compactMap { $0 }.joined(separator: ": ")
        default:
            return "\(error)"
        }
    }
}
