import DNSWire

/// What the cache needs from whatever answers its misses. The forwarder implements it; tests script it.
public protocol Upstream: Sendable {
    /// Asks one question. The returned message has already been matched to the question (ID, name, type, class)
    /// by the implementation; a failure is returned, never thrown, so every outcome is a value the cache classifies.
    func resolve(_ key: CacheKey) async -> UpstreamResult
}

public enum UpstreamResult: Sendable {
    case response(DNSMessage)
    case failure(UpstreamFailure)
}

/// Why no usable response came back.
public enum UpstreamFailure: String, Error, Sendable, Hashable {
    /// No answer before the deadline from any upstream.
    case timeout
    /// Every upstream is marked down or refused the connection.
    case unreachable
    /// Responses arrived but none was well-formed and matching.
    case malformed
    /// A forwarding loop was detected; the forwarder refuses to send.
    case loop
    /// The process is shutting down.
    case cancelled
}
