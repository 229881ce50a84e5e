/// Why `sidecache inject` refused its input. `code` is for tests to match on; `description` is the message the
/// command prints, naming the source, the document and what to change.
public struct InjectError: Error, Equatable, CustomStringConvertible, Sendable {
    public enum Code: String, Sendable {
        /// The text is not YAML (scanner, parser or composer error, duplicate keys).
        case invalidYAML
        /// A document is not a Kubernetes object: not a mapping, or no `kind`/`apiVersion`.
        case notAnObject
        /// A workload whose pod template is missing or has the wrong shape.
        case malformedPodSpec
        /// A pod this sidecar cannot serve, or one that already uses its socket path for something else.
        case unsupported
        /// A bad option (e.g. an upstream that is sidecache itself).
        case invalidOption
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}
