/// Why the webhook refused a setting, a certificate or a request. `code` is for tests to match on; `message` names
/// the setting, the file or the field, and what to change.
public struct WebhookError: Error, Equatable, CustomStringConvertible, Sendable {
    public enum Code: String, Sendable {
        /// A flag or SIDECACHE_WEBHOOK_* variable with a value that cannot work.
        case invalidSetting
        /// The certificate or key file is missing, unreadable or not PEM, the pair does not match, or the
        /// certificate has expired (or is not valid yet).
        case badCertificate
        /// The listen address cannot be bound.
        case cannotListen
        /// The request body is not an AdmissionReview admission.k8s.io/v1 the webhook can answer.
        case badRequest
        /// A failure of the webhook itself (it still admits the pod, with a warning).
        case internalFailure
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}
