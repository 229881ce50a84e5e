import DNSWire

/// One stored answer, immutable once built. Everything time-related is computed here, at store time (as Unbound's
/// `msgreply` does): absolute expiry, prefetch point, stale limit.
///
/// The answer is kept in wire form with ID 0 and the question lower-cased; serving it is a copy plus in-place
/// patches (ID, RD, TTLs, A/AAAA order), never a re-encode.
public final class CacheEntry: Sendable {
    public let wire: [UInt8]
    /// Per record: TTL offset (high 32 bits) and stored TTL in seconds (low 32 bits).
    let ttlSlots: [UInt64]
    /// Runs of A or AAAA records of one RRset with two or more members: the RDATA offset of each member.
    let shuffleGroups: [ShuffleGroup]
    public let replyClass: ReplyClass
    public let responseCode: DNSResponseCode
    public let storedAt: Nanoseconds
    /// The first instant at which this entry is no longer fresh.
    public let expiry: Nanoseconds
    /// A hit at or after this instant starts a background refresh; `.max` when the entry is not prefetchable.
    public let prefetchAt: Nanoseconds
    /// Until this instant the entry may be served stale (RFC 8767); equal to `expiry` when it may not.
    public let staleUntil: Nanoseconds
    /// The lifetime in seconds as stored.
    public let lifetime: UInt32

    struct ShuffleGroup: Sendable {
        var rdataOffsets: [Int32]
        var length: Int
    }

    /// The TTL served with stale data (RFC 8767 4 recommends 30 s).
    public static let staleTTL: UInt32 = 30

    init(reply: ClassifiedReply, now: Nanoseconds, configuration: CacheConfiguration) {
        // A message we just built always encodes and scans; if not, store an empty SERVFAIL rather than trap.
        // Copied out of the encoder's 512-octet scratch capacity: an entry keeps only the bytes it uses.
        var wire = (try? reply.message.encode()).map(Self.exactCopy) ?? []
        let layout = (try? DNSMessageLayout(scanning: wire)) ?? nil
        if layout == nil { wire = [] }
        self.wire = wire
        var slots: [UInt64] = []
        var groups: [ShuffleGroup] = []
        if let layout {
            slots.reserveCapacity(layout.slots.count)
            var previous: DNSMessageLayout.Slot? = nil
            for slot in layout.slots {
                let ttl = wire.withUnsafeBytes { DNSWirePatch.ttl(at: Int(slot.ttlOffset), in: $0) }
                slots.append(UInt64(UInt32(slot.ttlOffset)) << 32 | UInt64(ttl))
                let shufflable = slot.section == .answer && (slot.type == .a || slot.type == .aaaa)
                if shufflable, let previous, previous.section == .answer, previous.type == slot.type,
                    previous.rdataLength == slot.rdataLength,
                    Self.sameOwner(wire, Int(previous.nameOffset), Int(slot.nameOffset)),
                    let last = groups.last, last.rdataOffsets.last == previous.rdataOffset
                {
                    groups[groups.count - 1].rdataOffsets.append(slot.rdataOffset)
                } else if shufflable {
                    groups.append(ShuffleGroup(rdataOffsets: [slot.rdataOffset], length: Int(slot.rdataLength)))
                }
                previous = slot
            }
        }
        self.ttlSlots = slots
        self.shuffleGroups = configuration.shuffle ? groups.filter { $0.rdataOffsets.count > 1 } : []
        self.replyClass = reply.replyClass
        self.responseCode = reply.message.responseCode
        self.storedAt = now
        self.lifetime = reply.lifetime
        self.expiry = now + Nanoseconds(reply.lifetime) * .second
        if reply.replyClass == .positive && reply.lifetime >= configuration.prefetchMinimumTTL
            && configuration.prefetchFraction > 0
        {
            // Prefetch in the last `prefetchFraction` of the original TTL.
            let lead = Nanoseconds(Double(reply.lifetime) * configuration.prefetchFraction * 1e9)
            self.prefetchAt = expiry - lead
        } else {
            self.prefetchAt = .max
        }
        if reply.replyClass == .positive && configuration.maximumStaleAge > 0 {
            self.staleUntil = expiry + Nanoseconds(configuration.maximumStaleAge) * .second
        } else {
            self.staleUntil = expiry
        }
    }

    /// A copy whose capacity is its count.
    static func exactCopy(_ bytes: [UInt8]) -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: bytes.count) { buffer, count in
            _ = buffer.initialize(from: bytes)
            count = bytes.count
        }
    }

    /// Compares two owner names as stored, following pointers: records of one RRset written by our encoder share
    /// a pointer, so the common case is equal offsets.
    private static func sameOwner(_ wire: [UInt8], _ a: Int, _ b: Int) -> Bool {
        if a == b { return true }
        if wire[a] & 0xC0 == 0xC0 && wire[b] & 0xC0 == 0xC0 { return wire[a] == wire[b] && wire[a + 1] == wire[b + 1] }
        return false
    }

    /// Bytes this entry is charged against the memory budget: wire data plus its per-record metadata.
    public var cost: Int { wire.count + ttlSlots.count * 8 + shuffleGroups.reduce(0) { $0 + $1.rdataOffsets.count * 4 } }

    public func isFresh(at now: Nanoseconds) -> Bool { now < expiry }
    /// True when rendering reorders something, so a random seed is needed.
    var needsShuffle: Bool { !shuffleGroups.isEmpty }
    public func isServableStale(at now: Nanoseconds) -> Bool { now >= expiry && now < staleUntil }

    /// The length of a rendered answer.
    public var count: Int { wire.count }

    /// A copy of the answer for one client: its ID and RD bit, TTLs counted down to `now` (or the stale TTL),
    /// every A/AAAA RRset in a fresh order (Fisher-Yates).
    public func render<R: RandomNumberGenerator>(
        id: UInt16, recursionDesired: Bool, now: Nanoseconds, stale: Bool, using rng: inout R
    ) -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: wire.count) { buffer, count in
            render(into: UnsafeMutableRawBufferPointer(buffer), id: id, recursionDesired: recursionDesired, now: now,
                stale: stale, using: &rng)
            count = wire.count
        }
    }

    /// Renders into memory the caller owns (`count` octets), so a front door can write straight into its send
    /// buffer: one copy of the stored bytes, then patches in place.
    public func render<R: RandomNumberGenerator>(
        into buffer: UnsafeMutableRawBufferPointer, id: UInt16, recursionDesired: Bool, now: Nanoseconds,
        stale: Bool, using rng: inout R
    ) {
        guard !wire.isEmpty else { return }
        precondition(buffer.count >= wire.count)
        wire.withUnsafeBytes { stored in buffer.baseAddress!.copyMemory(from: stored.baseAddress!, byteCount: stored.count) }
        DNSWirePatch.setID(id, in: buffer)
        if recursionDesired { buffer[2] |= 0x01 } else { buffer[2] &= ~0x01 }
        for slot in ttlSlots {
            let ttl: UInt32
            if stale {
                ttl = Self.staleTTL
            } else {
                let expiry = storedAt + Nanoseconds(UInt32(truncatingIfNeeded: slot)) * .second
                ttl = TTLPolicy.remainingTTL(expiry: expiry, now: now)
            }
            DNSWirePatch.setTTL(ttl, at: Int(slot >> 32), in: buffer)
        }
        for group in shuffleGroups {
            var i = group.rdataOffsets.count - 1
            while i > 0 {
                let j = Int.random(in: 0...i, using: &rng)
                DNSWirePatch.swapBytes(
                    Int(group.rdataOffsets[i]), Int(group.rdataOffsets[j]), length: group.length, in: buffer)
                i -= 1
            }
        }
    }
}
