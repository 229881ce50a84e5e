import DNSWire
import Synchronization

/// Counters of the DNS door.
public final class DNSFrontendStatistics: Sendable {
    public let udpQueries = Atomic<Int>(0)
    public let tcpQueries = Atomic<Int>(0)
    /// Datagrams or TCP messages dropped without a reply (responses, fragments of a header, datagrams longer than
    /// 4096 octets), and UDP replies the kernel would not take (the socket's send buffer full).
    public let dropped = Atomic<Int>(0)
    /// FORMERR, NOTIMP, REFUSED and BADVERS replies made by the door itself.
    public let rejected = Atomic<Int>(0)
    /// Replies cut to the header and question with TC set.
    public let truncated = Atomic<Int>(0)
    public let tcpConnections = Atomic<Int>(0)
    public let tcpIdleClosed = Atomic<Int>(0)
    public let tcpRefused = Atomic<Int>(0)
    /// Misses answered SERVFAIL at once because their client already had `maximumPendingMissesPerClient` pending.
    public let clientMissesRefused = Atomic<Int>(0)
    /// Replies by transport, type and RCODE.
    public let replies = ReplyCounters()

    public init() {}

    func bump(_ counter: borrowing Atomic<Int>) { counter.wrappingAdd(1, ordering: .relaxed) }
}

/// Replies by transport, question type and RCODE, for `sidecache_frontend_requests_total`. One uncontended lock per
/// reply (about as cheap as an atomic add here, and one place to read a consistent table from).
public final class ReplyCounters: Sendable {
    public static let types: [DNSType] = [.a, .aaaa, .cname, .ptr, .srv, .txt, .mx, .ns, .soa, .https, DNSType(64), .any]
    /// RCODEs 0...5 by value; index 6 counts every other.
    public static let rcodeSlots = 7
    private let counts = Mutex<[Int]>(Array(repeating: 0, count: cellCount))

    public init() {}

    static func typeIndex(_ type: DNSType) -> Int { types.firstIndex(of: type) ?? types.count }

    static var cellCount: Int { 2 * (types.count + 1) * rcodeSlots }

    static func cell(udp: Bool, type: DNSType, rcode: UInt8) -> Int {
        ((udp ? 0 : 1) * (types.count + 1) + typeIndex(type)) * rcodeSlots + min(Int(rcode), rcodeSlots - 1)
    }

    func record(udp: Bool, type: DNSType, rcode: UInt8) {
        let index = Self.cell(udp: udp, type: type, rcode: rcode)
        counts.withLock { $0[index] += 1 }
    }

    /// Adds a thread's tally (one lock for a whole batch) and clears it.
    func add(_ tally: inout ReplyTally) {
        guard !tally.touched.isEmpty else { return }
        counts.withLock { counts in
            for index in tally.touched {
                counts[index] += tally.cells[index]
                tally.cells[index] = 0
            }
        }
        tally.touched.removeAll(keepingCapacity: true)
    }

    public struct Row: Sendable, Hashable {
        public var transport: String
        /// The type's mnemonic, or "other".
        public var type: String
        /// The RCODE's mnemonic, or "other".
        public var rcode: String
        public var count: Int
    }

    /// Every non-zero cell.
    public func rows() -> [Row] {
        let counts = self.counts.withLock { $0 }
        var rows: [Row] = []
        for (index, count) in counts.enumerated() where count > 0 {
            let rcode = index % Self.rcodeSlots
            let type = (index / Self.rcodeSlots) % (Self.types.count + 1)
            let transport = index / Self.rcodeSlots / (Self.types.count + 1)
            rows.append(
                Row(
                    transport: transport == 0 ? "udp" : "tcp",
                    type: type < Self.types.count ? Self.types[type].description : "other",
                    rcode: rcode < Self.rcodeSlots - 1 ? DNSResponseCode(UInt16(rcode)).description : "other",
                    count: count))
        }
        return rows
    }
}

/// Replies counted by one thread between two `ReplyCounters.add` calls.
struct ReplyTally {
    let udp: Bool
    var cells = [Int](repeating: 0, count: ReplyCounters.cellCount)
    /// The cells counted since the last `add` (a batch touches one or two).
    var touched: [Int] = []

    init(udp: Bool) {
        self.udp = udp
        touched.reserveCapacity(ReplyCounters.cellCount)
    }

    mutating func record(type: DNSType, rcode: UInt8) {
        let index = ReplyCounters.cell(udp: udp, type: type, rcode: rcode)
        if cells[index] == 0 { touched.append(index) }
        cells[index] += 1
    }
}
