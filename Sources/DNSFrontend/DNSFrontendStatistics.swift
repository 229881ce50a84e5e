import Synchronization

/// Counters of the DNS door.
public final class DNSFrontendStatistics: Sendable {
    public let udpQueries = Atomic<Int>(0)
    public let tcpQueries = Atomic<Int>(0)
    /// Datagrams or TCP messages dropped without a reply (responses, fragments of a header).
    public let dropped = Atomic<Int>(0)
    /// FORMERR, NOTIMP, REFUSED and BADVERS replies made by the door itself.
    public let rejected = Atomic<Int>(0)
    /// Replies cut to the header and question with TC set.
    public let truncated = Atomic<Int>(0)
    public let tcpConnections = Atomic<Int>(0)
    public let tcpIdleClosed = Atomic<Int>(0)
    public let tcpRefused = Atomic<Int>(0)

    public init() {}

    func bump(_ counter: borrowing Atomic<Int>) { counter.wrappingAdd(1, ordering: .relaxed) }
}
