import DNSWire

/// Every piece of TTL arithmetic the cache does, in one place.
///
/// - Stored TTLs are clamped to `[minimumTTL, maximumTTL]` (defaults 0 and 86400 s: short TTLs are never inflated).
///   RFC 2181 8 limits TTLs to 2^31 - 1; larger values are treated as 0 as it directs.
/// - Each RRset gets the minimum TTL of its records (RFC 2181 5.2) but keeps its own TTL in the reply: TTLs of
///   different RRsets are never flattened to one value.
/// - Negative answers live for min(SOA TTL, SOA MINIMUM) (RFC 2308 5), clamped by `maximumNegativeTTL`.
/// - A served TTL is the **floor** of the remaining whole seconds: an answer stored with TTL 2 at t0 is served with
///   TTL 2 at t0, TTL 1 from just after t0 through t0+1 s, TTL 0 after t0+1 s, and is not served at or after t0+2 s. Rounding down
///   means no downstream cache can keep the data past the moment sidecache itself drops it (RFC 1035 3.2.1 and
///   RFC 2181 8: the TTL bounds how long data may be cached).
public struct TTLPolicy: Sendable, Hashable {
    public var minimumTTL: UInt32
    public var maximumTTL: UInt32
    public var maximumNegativeTTL: UInt32
    /// Negative TTL for NXDOMAIN/NODATA replies that carry no SOA; 0 means such replies are not cached (RFC 2308 5).
    public var negativeTTLWithoutSOA: UInt32

    public init(
        minimumTTL: UInt32 = 0, maximumTTL: UInt32 = 86400, maximumNegativeTTL: UInt32 = 900,
        negativeTTLWithoutSOA: UInt32 = 0
    ) {
        self.minimumTTL = minimumTTL
        self.maximumTTL = maximumTTL
        self.maximumNegativeTTL = maximumNegativeTTL
        self.negativeTTLWithoutSOA = negativeTTLWithoutSOA
    }

    /// A positive RRset's TTL as stored.
    public func positiveTTL(_ ttl: UInt32) -> UInt32 {
        let sane = ttl > UInt32(Int32.max) ? 0 : ttl
        return min(max(sane, minimumTTL), maximumTTL)
    }

    /// The negative TTL of an NXDOMAIN/NODATA reply, from its SOA record if there is one.
    public func negativeTTL(soaRecordTTL: UInt32?, soaMinimum: UInt32?) -> UInt32 {
        guard let soaRecordTTL, let soaMinimum else { return min(negativeTTLWithoutSOA, maximumNegativeTTL) }
        let sane = min(soaRecordTTL, soaMinimum) > UInt32(Int32.max) ? 0 : min(soaRecordTTL, soaMinimum)
        return min(sane, maximumNegativeTTL)
    }

    /// The TTL to put in a reply for data that expires at `expiry`: floor of the remaining seconds.
    @inline(__always)
    public static func remainingTTL(expiry: Nanoseconds, now: Nanoseconds) -> UInt32 {
        guard expiry > now else { return 0 }
        return UInt32(truncatingIfNeeded: (expiry - now) / Nanoseconds.second)
    }
}
