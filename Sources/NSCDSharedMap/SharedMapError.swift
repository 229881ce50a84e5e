/// Why the map could not be set up or kept. The nscd door goes on without it.
public struct SharedMapError: Error, CustomStringConvertible, Sendable {
    public enum Code: String, Sendable {
        /// The file could not be created, sized or mapped (directory, space, permissions).
        case cannotCreate
        /// The configuration is out of range.
        case invalidConfiguration
    }

    public var code: Code
    public var reason: String

    public init(_ code: Code, _ reason: String) {
        self.code = code
        self.reason = reason
    }

    public var description: String { "shared-map: \(reason)" }
}
