import DNSWire
import Synchronization

/// The DNS cache engine both front doors ask.
///
/// - A hit is answered synchronously by `cachedAnswer`, under one shard lock held for a table probe.
/// - A miss goes to `answer`, which joins or starts the one upstream query for its key (coalescing), and may be
///   answered stale when the upstream is slow or failing (RFC 8767).
/// - The first caller of a key that nothing is cached for queries the upstream in its own task (`lead`); other
///   upstream queries (those with a stale copy and its client timer) and prefetches run as jobs of `run()`, which
///   the daemon runs as a long-lived service.
public final class ResponseCache: Sendable {
    public let configuration: CacheConfiguration
    public let statistics = CacheStatistics()
    let clock: any CacheClock
    let upstream: any Upstream

    private final class ShardBox: Sendable {
        let state: Mutex<CacheShard>
        init(seed: UInt64) { state = Mutex(CacheShard(seed: seed)) }
    }
    private let shards: [ShardBox]
    private let shardSeed: UInt64
    private let inFlight = Atomic<Int>(0)
    private let jobs: AsyncStream<@Sendable () async -> Void>
    private let jobSink: AsyncStream<@Sendable () async -> Void>.Continuation

    /// - Parameters:
    ///   - seed: seeds the shuffle generator; pass a fixed value in tests for repeatable orders.
    public init(
        configuration: CacheConfiguration = CacheConfiguration(), upstream: any Upstream,
        clock: any CacheClock = MonotonicClock(), seed: UInt64 = UInt64.random(in: .min ... .max)
    ) {
        self.configuration = configuration
        self.upstream = upstream
        self.clock = clock
        var seeds = SplitMix64(seed: seed)
        self.shards = (0..<max(1, configuration.shardCount)).map { _ in ShardBox(seed: seeds.next()) }
        self.shardSeed = seeds.next()
        (jobs, jobSink) = AsyncStream.makeStream(bufferingPolicy: .unbounded)
    }

    /// Runs upstream queries, prefetches and the periodic purge until the task is cancelled.
    public func run() async {
        await withDiscardingTaskGroup { group in
            group.addTask {
                while !Task.isCancelled {
                    try? await Task.sleep(nanoseconds: 30 * 1_000_000_000)
                    self.purge()
                }
            }
            for await job in jobs {
                group.addTask { await job() }
            }
            group.cancelAll()
        }
    }

    /// The engine's clock now: the time base of every entry's expiry.
    public var now: Nanoseconds { clock.now }

    /// Picks the shard with a seeded FNV-1a over the name and type, not with the key's `hashValue`: that is the
    /// table's own SipHash, which the dictionary probe computes again, so the hit path paid for it twice. An attacker
    /// who could aim every name at one shard would only make that shard's lock busier; the table itself still hashes
    /// with SipHash.
    @inline(__always)
    private func shard(for key: CacheKey) -> ShardBox {
        var hash = shardSeed ^ UInt64(key.type.rawValue)
        key.name.withUnsafeBufferPointer { name in
            for octet in name { hash = (hash ^ UInt64(octet)) &* 0x0000_0100_0000_01B3 }
        }
        hash ^= hash >> 32
        return shards[Int(hash % UInt64(shards.count))]
    }

    /// Positive entries get the budget less the negative share; each shard gets an equal part of both.
    private var negativeBudget: Int {
        min(configuration.maximumNegativeBytes, configuration.maximumBytes) / shards.count
    }
    private var positiveBudget: Int {
        (configuration.maximumBytes - min(configuration.maximumNegativeBytes, configuration.maximumBytes)) / shards.count
    }

    // MARK: - Serving

    /// A fresh entry found for a key, with what rendering it needs.
    public struct Hit: Sendable {
        public let entry: CacheEntry
        public let now: Nanoseconds
        /// Seeds this caller's shuffle.
        public let seed: UInt64

        /// Renders the answer into `buffer` (at least `entry.count` octets).
        public func render(into buffer: UnsafeMutableRawBufferPointer, id: UInt16, recursionDesired: Bool) {
            var rng = SplitMix64(seed: seed)
            entry.render(into: buffer, id: id, recursionDesired: recursionDesired, now: now, stale: false, using: &rng)
        }
    }

    /// The hit path: a fresh entry for `key`, or nil on a miss. One shard lock, one table probe.
    /// A hit in the last part of the TTL starts one background refresh (prefetch).
    public func freshHit(for key: CacheKey) -> Hit? {
        withFreshEntry(for: key) { entry, now, seed in Hit(entry: entry, now: now, seed: seed) }
    }

    /// The hit path without keeping the entry: `body` runs under the shard lock with the fresh entry as the table
    /// holds it, the time and the shuffle seed, and its result is returned; nil on a miss. The DNS door renders
    /// into its send slot there. Returning the entry (`freshHit`) retains and releases it: a write to the entry's
    /// first cache line, which two threads answering the same name pull back and forth. `body` holds the shard lock:
    /// keep it to a copy.
    public func withFreshEntry<Result>(
        for key: CacheKey, _ body: (CacheEntry, Nanoseconds, UInt64) -> Result
    ) -> Result? {
        let now = clock.now
        let box = shard(for: key)
        let (result, prefetch): (Result?, Bool) = box.state.withLock { shard in
            guard let index = shard.table.index(forKey: key), shard.table.values[index].entry.isFresh(at: now) else {
                return (nil, false)
            }
            shard.table.values[index].referenced = true
            if shard.table.values[index].hits < .max { shard.table.values[index].hits += 1 }
            shard.hits &+= 1
            var prefetch = false
            if now >= shard.table.values[index].entry.prefetchAt && !shard.table.values[index].prefetchStarted
                && shard.flights[key] == nil
            {
                shard.table.values[index].prefetchStarted = true
                let flight = Flight(isPrefetch: true)
                shard.flights[key] = flight
                startFetch(key, flight: flight, staleTimer: false)
                prefetch = true
            }
            let seed = shard.table.values[index].entry.needsShuffle ? shard.random.next() : 0
            return (body(shard.table.values[index].entry, now, seed), prefetch)
        }
        if prefetch { statistics.bump(statistics.prefetches) }
        return result
    }

    /// Answers from the cache alone: a fresh entry rendered for this caller, or nil on a miss.
    public func cachedAnswer(for key: CacheKey, id: UInt16, recursionDesired: Bool) -> CacheAnswer? {
        guard let hit = freshHit(for: key) else { return nil }
        return render(hit.entry, id: id, recursionDesired: recursionDesired, now: hit.now, stale: false, source: .hit,
            seed: hit.seed)
    }

    /// Answers from the cache or, on a miss, from the upstream: one upstream query per key however many callers
    /// miss at once.
    public func answer(for key: CacheKey, id: UInt16, recursionDesired: Bool) async -> CacheAnswer {
        if let hit = cachedAnswer(for: key, id: id, recursionDesired: recursionDesired) { return hit }
        statistics.bump(statistics.misses)
        let box = shard(for: key)
        let resolution: Resolution
        if let flight = box.state.withLock({ shard in self.lead(key, shard: &shard) }) {
            resolution = await fetchInline(key, flight: flight)
        } else {
            resolution = await withCheckedContinuation { continuation in
                let immediate: Resolution? = box.state.withLock { shard in
                    self.admit(key, shard: &shard, continuation: continuation)
                }
                if let immediate { continuation.resume(returning: immediate) }
            }
        }
        let now = clock.now
        switch resolution {
        case .entry(let entry, let stale, let source):
            if stale { statistics.bump(statistics.staleServed) }
            return render(
                entry, id: id, recursionDesired: recursionDesired, now: now, stale: stale, source: source, key: key)
        case .failure(let source):
            return CacheAnswer.serverFailure(for: key, id: id, recursionDesired: recursionDesired, source: source)
        }
    }

    /// The common cold miss, decided under the shard lock: nothing cached for the key at all (so no stale copy, no
    /// client response timer), no query in flight, no failure backoff, room in flight. The caller then leads a new
    /// flight and queries the upstream itself, in its own task: no hand-over to the engine's job loop and back,
    /// each of which costs a thread wake-up on a cold lookup's critical path (a search-list walk makes several in a
    /// row). Anyone who misses meanwhile joins the flight as usual. nil: take `admit`'s way.
    private func lead(_ key: CacheKey, shard: inout CacheShard) -> Flight? {
        let now = clock.now
        guard shard.table[key] == nil, shard.flights[key] == nil else { return nil }
        if let mark = shard.failures[key], mark.until > now { return nil }
        guard inFlight.load(ordering: .relaxed) < configuration.maximumInFlight else { return nil }
        let flight = Flight(isPrefetch: false, inlineLeader: true)
        shard.flights[key] = flight
        inFlight.wrappingAdd(1, ordering: .relaxed)
        return flight
    }

    /// The leader's query (see `lead`): what `fetch` does without a stale timer, and the leader gets the outcome
    /// that every joined waiter gets.
    private func fetchInline(_ key: CacheKey, flight: Flight) async -> Resolution {
        statistics.bump(statistics.upstreamQueries)
        let result = await upstream.resolve(key)
        let resolution = complete(key, flight: flight, result: result)
        inFlight.wrappingSubtract(1, ordering: .relaxed)
        return resolution
    }

    /// Decides, under the shard lock, what a missing caller gets: an answer now, or a place among the waiters of
    /// the key's upstream query (started here if there is none).
    private func admit(
        _ key: CacheKey, shard: inout CacheShard, continuation: CheckedContinuation<Resolution, Never>
    ) -> Resolution? {
        let now = clock.now
        let node = shard.table[key]
        if let node, node.entry.isFresh(at: now) {
            return .entry(node.entry, stale: false, source: .hit)
        }
        let stale = node.flatMap { $0.entry.isServableStale(at: now) ? $0 : nil }
        if let stale, stale.staleRecheckAfter > now {
            return .entry(stale.entry, stale: true, source: .stale)
        }
        if let flight = shard.flights[key] {
            if flight.servingStale, let stale {
                return .entry(stale.entry, stale: true, source: .stale)
            }
            guard flight.callers < configuration.maximumWaitersPerKey else {
                statistics.bump(statistics.overloaded)
                return .failure(.overloaded)
            }
            flight.waiters.append(continuation)
            statistics.bump(statistics.coalesced)
            if stale != nil, !flight.staleTimerArmed, configuration.staleAnswerTimeout > 0 {
                // A prefetch (or a query started while the entry was fresh) has no client timer; the entry expired
                // while it was out, so this caller must not wait longer for it than for any other stale miss.
                flight.staleTimerArmed = true
                startStaleTimer(key, flight: flight)
            }
            return nil
        }
        if let mark = shard.failures[key], mark.until > now {
            // Within the backoff: the same answer the upstream gave (SERVFAIL, REFUSED), or SERVFAIL for a timeout.
            statistics.bump(statistics.failureBackoffs)
            if let answer = mark.answer { return .entry(answer, stale: false, source: .failureBackoff) }
            return .failure(.failureBackoff)
        }
        guard inFlight.load(ordering: .relaxed) < configuration.maximumInFlight else {
            statistics.bump(statistics.overloaded)
            return .failure(.overloaded)
        }
        let staleTimer = stale != nil && configuration.staleAnswerTimeout > 0
        let flight = Flight(isPrefetch: false, staleTimerArmed: staleTimer)
        flight.waiters.append(continuation)
        shard.flights[key] = flight
        startFetch(key, flight: flight, staleTimer: staleTimer)
        return nil
    }

    /// Renders an entry for one caller. `seed` feeds the shuffle; nil draws one from the key's shard.
    private func render(
        _ entry: CacheEntry, id: UInt16, recursionDesired: Bool, now: Nanoseconds, stale: Bool,
        source: CacheAnswer.Source, seed: UInt64? = nil, key: CacheKey? = nil
    ) -> CacheAnswer {
        var seedValue = seed ?? 0
        if seed == nil, entry.needsShuffle, let key {
            seedValue = shard(for: key).state.withLock { $0.random.next() }
        }
        var rng = SplitMix64(seed: seedValue)
        let wire = entry.render(id: id, recursionDesired: recursionDesired, now: now, stale: stale, using: &rng)
        return CacheAnswer(
            wire: wire, source: source, replyClass: entry.replyClass, expiry: stale ? nil : entry.expiry,
            prefetchAt: stale || entry.prefetchAt == .max ? nil : entry.prefetchAt)
    }

    // MARK: - Upstream queries

    /// Queues the upstream query of a new flight. Called under the shard lock; only yields to the job stream.
    private func startFetch(_ key: CacheKey, flight: Flight, staleTimer: Bool) {
        inFlight.wrappingAdd(1, ordering: .relaxed)
        jobSink.yield { [self] in
            await self.fetch(key, flight: flight, staleTimer: staleTimer)
        }
    }

    private func fetch(_ key: CacheKey, flight: Flight, staleTimer: Bool) async {
        statistics.bump(statistics.upstreamQueries)
        let timeout = configuration.staleAnswerTimeout
        let result: UpstreamResult = await withTaskGroup(of: UpstreamResult?.self) { group in
            group.addTask { await self.upstream.resolve(key) }
            if staleTimer {
                group.addTask {
                    try? await Task.sleep(nanoseconds: timeout)
                    if !Task.isCancelled { self.serveStaleToWaiters(key, flight: flight) }
                    return nil
                }
            }
            while let next = await group.next() {
                if let next {
                    group.cancelAll()
                    return next
                }
            }
            return .failure(.cancelled)
        }
        complete(key, flight: flight, result: result)
        inFlight.wrappingSubtract(1, ordering: .relaxed)
    }

    /// A client response timer for a flight already under way. Called under the shard lock; only yields a job. When
    /// the flight ends first, `serveStaleToWaiters` finds it gone and does nothing.
    private func startStaleTimer(_ key: CacheKey, flight: Flight) {
        let timeout = configuration.staleAnswerTimeout
        jobSink.yield { [self] in
            try? await Task.sleep(nanoseconds: timeout)
            self.serveStaleToWaiters(key, flight: flight)
        }
    }

    /// The client response timer fired before the upstream answered: everyone waiting gets the stale entry, and
    /// so does everyone who joins until the query ends (RFC 8767 5).
    private func serveStaleToWaiters(_ key: CacheKey, flight: Flight) {
        let now = clock.now
        let box = shard(for: key)
        let (waiters, entry): ([CheckedContinuation<Resolution, Never>], CacheEntry?) = box.state.withLock { shard in
            guard shard.flights[key] === flight, let node = shard.table[key], node.entry.isServableStale(at: now)
            else { return ([], nil) }
            flight.servingStale = true
            defer { flight.waiters = [] }
            return (flight.waiters, node.entry)
        }
        guard let entry else { return }
        for waiter in waiters { waiter.resume(returning: .entry(entry, stale: true, source: .stale)) }
    }

    @discardableResult
    private func complete(_ key: CacheKey, flight: Flight, result: UpstreamResult) -> Resolution {
        let now = clock.now
        var evicted = 0
        let box = shard(for: key)
        let (waiters, resolution): ([CheckedContinuation<Resolution, Never>], Resolution) = box.state.withLock {
            shard in
            if shard.flights[key] === flight { shard.flights[key] = nil }
            let waiters = flight.waiters
            flight.waiters = []
            var failure: CacheAnswer.Source = .upstreamFailure
            var passThrough: CacheEntry? = nil
            if case .response(let message) = result {
                let reply = ReplyClassifier.classify(message, for: key, policy: configuration.ttl)
                let entry = CacheEntry(reply: reply, now: now, configuration: configuration)
                switch reply.replyClass {
                case .positive, .nameError, .noData:
                    if reply.lifetime > 0 {
                        evicted = shard.insert(
                            entry, for: key, now: now, positiveBudget: positiveBudget, negativeBudget: negativeBudget)
                    }
                    shard.failures[key] = nil
                    return (waiters, .entry(entry, stale: false, source: .upstream))
                case .referral, .truncated:
                    return (waiters, .entry(entry, stale: false, source: .upstream))
                case .serverError:
                    passThrough = entry
                    failure = .upstream
                }
            }
            // The upstream failed (no reply, or SERVFAIL/REFUSED): stale data if we have it, else the failure.
            if let node = shard.table[key], node.entry.isServableStale(at: now) {
                shard.table[key]?.staleRecheckAfter = now + Nanoseconds(configuration.staleRefreshInterval) * .second
                return (waiters, .entry(node.entry, stale: true, source: .stale))
            }
            if !flight.isPrefetch && configuration.failureBackoff > 0 {
                shard.failures[key] = CacheShard.FailureMark(until: now + configuration.failureBackoff, answer: passThrough)
            }
            if let passThrough { return (waiters, .entry(passThrough, stale: false, source: failure)) }
            return (waiters, .failure(failure))
        }
        if case .failure = resolution { statistics.bump(statistics.upstreamFailures) }
        if case .entry(let entry, _, .upstream) = resolution, entry.replyClass == .serverError {
            statistics.bump(statistics.upstreamFailures)
        }
        if evicted > 0 { statistics.bump(statistics.evictions, by: evicted) }
        for waiter in waiters { waiter.resume(returning: resolution) }
        return resolution
    }

    // MARK: - Administration

    /// Drops every entry (`name == nil`) or the entries of one name (all types), like `nscd -i hosts`.
    /// Returns the number of entries removed.
    @discardableResult
    public func flush(name: DNSName? = nil) -> Int {
        let wire = name?.lowercased().wire
        var removed = 0
        for box in shards {
            removed += box.state.withLock { shard in
                let keys = shard.table.keys.filter { wire == nil || $0.name == wire! }
                for key in keys { shard.remove(key) }
                shard.failures = shard.failures.filter { wire != nil && $0.key.name != wire! }
                return keys.count
            }
        }
        return removed
    }

    /// Removes entries past their stale limit.
    public func purge() {
        let now = clock.now
        for box in shards { _ = box.state.withLock { $0.purge(now: now) } }
    }

    public struct DumpEntry: Sendable, Hashable {
        public var key: CacheKey
        public var replyClass: ReplyClass
        /// Whole seconds of TTL left (0 when stale).
        public var remainingTTL: UInt32
        public var stale: Bool
        public var bytes: Int
        /// Fresh hits since first stored (saturates at 65535).
        public var hits: Int
    }

    /// Every entry with its remaining TTL, for inspection by operators and tests.
    public func dump() -> [DumpEntry] {
        let now = clock.now
        return shards.flatMap { box in
            box.state.withLock { shard in
                shard.table.map { key, node in
                    DumpEntry(
                        key: key, replyClass: node.entry.replyClass,
                        remainingTTL: TTLPolicy.remainingTTL(expiry: node.entry.expiry, now: now),
                        stale: !node.entry.isFresh(at: now), bytes: CacheShard.cost(of: key, node.entry),
                        hits: Int(node.hits))
                }
            }
        }
    }

    public func snapshot() -> CacheStatistics.Snapshot {
        var entries = 0
        var bytes = 0
        var negativeBytes = 0
        var hits = 0
        for box in shards {
            box.state.withLock { shard in
                hits += shard.hits
                entries += shard.count
                bytes += shard.bytes
                negativeBytes += shard.negative.bytes
            }
        }
        let s = statistics
        return CacheStatistics.Snapshot(
            hits: hits, misses: s.misses.load(ordering: .relaxed),
            staleServed: s.staleServed.load(ordering: .relaxed), prefetches: s.prefetches.load(ordering: .relaxed),
            coalesced: s.coalesced.load(ordering: .relaxed), evictions: s.evictions.load(ordering: .relaxed),
            upstreamQueries: s.upstreamQueries.load(ordering: .relaxed),
            upstreamFailures: s.upstreamFailures.load(ordering: .relaxed),
            overloaded: s.overloaded.load(ordering: .relaxed), failureBackoffs: s.failureBackoffs.load(ordering: .relaxed),
            entries: entries, bytes: bytes, negativeBytes: negativeBytes)
    }
}
