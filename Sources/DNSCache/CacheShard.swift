import DNSWire

/// One lock's worth of the cache: the table, the CLOCK rings that order eviction, the in-flight upstream queries
/// and the failure backoffs of the keys that hash here.
///
/// Eviction (when a budget is exceeded): the CLOCK hand sweeps its ring and evicts the first entry it meets that is
/// past its expiry or whose reference bit is clear (a hit sets the bit; the hand clears it as it passes). Positive and
/// negative entries have separate rings and budgets. Entries past their stale limit are also purged every 30 s.
struct CacheShard: ~Copyable {
    /// Laid out largest field first so a table slot is 24 octets (the memory budget per entry is tight).
    struct Node {
        var entry: CacheEntry
        /// While stale and before this instant, serve stale without asking the upstream (RFC 8767 failure recheck).
        var staleRecheckAfter: Nanoseconds
        var ringIndex: Int32
        /// Fresh hits since the key was first stored (kept across refreshes), saturating: `sidecache stats`'s top
        /// names. 16 bits keep the node at 24 octets.
        var hits: UInt16
        var referenced: Bool
        /// A refresh of this entry is in flight or was tried (one prefetch per stored entry).
        var prefetchStarted: Bool
    }

    struct Ring {
        var keys: [CacheKey] = []
        var hand = 0
        var bytes = 0
    }

    var table: [CacheKey: Node] = [:]
    var positive = Ring()
    var negative = Ring()
    var flights: [CacheKey: Flight] = [:]
    var failures: [CacheKey: FailureMark] = [:]

    /// A key whose upstream query just failed: until `until`, callers get `answer` (the upstream's own SERVFAIL or
    /// REFUSED) or, after a timeout, SERVFAIL, without asking again.
    struct FailureMark {
        var until: Nanoseconds
        var answer: CacheEntry?
    }
    /// Fresh hits served from this shard (counted under the lock: no shared cache line on the hit path).
    var hits = 0
    /// Seeds for the shuffles of this shard's answers.
    var random: SplitMix64

    init(seed: UInt64) {
        random = SplitMix64(seed: seed)
    }

    var count: Int { table.count }
    var bytes: Int { positive.bytes + negative.bytes }

    /// Heap bytes an entry costs beyond its data: the entry object and its arrays' headers, the key's name
    /// storage, the hash-table slot at its load factor and the ring slot (measured with `mallinfo2` by
    /// `sidecache-bench memory`: 237 bytes, 265 with the table's spare capacity; rounded up). Charging it makes
    /// `--cache-size` a budget of process memory, not only of cached data.
    static let entryOverhead = 272

    static func cost(of key: CacheKey, _ entry: CacheEntry) -> Int { entry.cost + key.name.count + entryOverhead }

    /// Stores `entry`, replacing any previous one, then evicts until both budgets hold. Returns evicted count.
    mutating func insert(
        _ entry: CacheEntry, for key: CacheKey, now: Nanoseconds, positiveBudget: Int, negativeBudget: Int
    ) -> Int {
        let hits = table[key]?.hits ?? 0
        remove(key)
        let isNegative = entry.replyClass.isNegative
        let cost = Self.cost(of: key, entry)
        let budget = isNegative ? negativeBudget : positiveBudget
        guard cost <= budget else { return 0 }
        var evicted = 0
        while (isNegative ? negative.bytes : positive.bytes) + cost > budget {
            guard evictOne(negativeRing: isNegative, now: now) else { break }
            evicted += 1
        }
        let index: Int
        if isNegative {
            index = negative.keys.count
            negative.keys.append(key)
            negative.bytes += cost
        } else {
            index = positive.keys.count
            positive.keys.append(key)
            positive.bytes += cost
        }
        table[key] = Node(
            entry: entry, staleRecheckAfter: 0, ringIndex: Int32(index), hits: hits, referenced: false,
            prefetchStarted: false)
        return evicted
    }

    /// Removes a key and its ring slot (swap with the ring's last key).
    @discardableResult
    mutating func remove(_ key: CacheKey) -> Bool {
        guard let node = table.removeValue(forKey: key) else { return false }
        let cost = Self.cost(of: key, node.entry)
        if node.entry.replyClass.isNegative {
            Self.removeFromRing(&negative, at: Int(node.ringIndex), cost: cost, table: &table)
        } else {
            Self.removeFromRing(&positive, at: Int(node.ringIndex), cost: cost, table: &table)
        }
        return true
    }

    private static func removeFromRing(_ ring: inout Ring, at index: Int, cost: Int, table: inout [CacheKey: Node]) {
        let last = ring.keys.count - 1
        if index != last {
            let moved = ring.keys[last]
            ring.keys[index] = moved
            table[moved]?.ringIndex = Int32(index)
        }
        ring.keys.removeLast()
        ring.bytes -= cost
        if ring.hand >= ring.keys.count { ring.hand = 0 }
    }

    /// One CLOCK step sequence: evicts one entry from the chosen ring. Returns false when the ring is empty.
    private mutating func evictOne(negativeRing: Bool, now: Nanoseconds) -> Bool {
        var ring = negativeRing ? negative : positive
        guard !ring.keys.isEmpty else { return false }
        // At most two sweeps: the first clears reference bits, the second must find a victim.
        var victim: CacheKey? = nil
        for _ in 0..<(2 * ring.keys.count) {
            if ring.hand >= ring.keys.count { ring.hand = 0 }
            let key = ring.keys[ring.hand]
            let node = table[key]!
            if !node.entry.isFresh(at: now) || !node.referenced {
                victim = key
                break
            }
            table[key]!.referenced = false
            ring.hand += 1
        }
        if negativeRing { negative.hand = ring.hand } else { positive.hand = ring.hand }
        if let victim { return remove(victim) }
        return remove(ring.keys[0])
    }

    /// Drops entries that can no longer be served at all (past their stale limit) and old failure marks.
    mutating func purge(now: Nanoseconds) -> Int {
        let dead = table.filter { now >= $0.value.entry.staleUntil }.map(\.key)
        for key in dead { remove(key) }
        failures = failures.filter { $0.value.until > now }
        return dead.count
    }
}

/// One in-flight upstream query and the callers waiting on it.
final class Flight: @unchecked Sendable {
    // Guarded by the owning shard's lock.
    var waiters: [CheckedContinuation<Resolution, Never>] = []
    /// The client response timer fired: later joiners get the stale entry at once.
    var servingStale = false
    /// Started by a prefetch: nobody waits, and a failure keeps the current entry.
    let isPrefetch: Bool
    /// A client response timer (RFC 8767 5) is running for this flight: started with it when a stale entry was
    /// there at the miss, or by the first miss that joined a prefetch after the entry expired.
    var staleTimerArmed: Bool

    /// The caller that started the flight queries in its own task and is not among `waiters` (ResponseCache.lead).
    let inlineLeader: Bool

    init(isPrefetch: Bool, staleTimerArmed: Bool = false, inlineLeader: Bool = false) {
        self.isPrefetch = isPrefetch
        self.staleTimerArmed = staleTimerArmed
        self.inlineLeader = inlineLeader
    }

    /// Callers waiting for this flight's answer, its leader included.
    var callers: Int { waiters.count + (inlineLeader ? 1 : 0) }
}

/// What a waiting caller receives.
enum Resolution: Sendable {
    /// An entry, stored or passed through, to render.
    case entry(CacheEntry, stale: Bool, source: CacheAnswer.Source)
    /// No answer: SERVFAIL with the reason.
    case failure(CacheAnswer.Source)
}
