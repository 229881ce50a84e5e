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
    /// Replies by RCODE (index = RCODE, 0...15).
    public let replies: [Int] = []
    public let rcodes = RCodeCounters()

    public init() {}

    func bump(_ counter: borrowing Atomic<Int>) { counter.wrappingAdd(1, ordering: .relaxed) }
}

/// One counter per 4-bit RCODE.
public final class RCodeCounters: Sendable {
    private let counts = Mutex<[Int]>(Array(repeating: 0, count: 16))
    func record(_ rcode: UInt8) { counts.withLock { $0[Int(rcode & 0x0F)] += 1 } }
    public func snapshot() -> [Int] { counts.withLock { $0 } }
}
