import DNSCache
import DNSWire
import Synchronization
import TestSupport
import Testing

struct CoalescingTests {
    @Test func thousandConcurrentMissesCauseOneUpstreamQuery() async throws {
        let upstream = ScriptedUpstream()
        let clock = ManualClock()
        // The upstream takes a while, so every caller arrives while the query is in flight.
        upstream.set(
            "cold.test", .a,
            .delay(nanoseconds: 200_000_000, then: .init(.reply(rcode: .noError, answers: [.a("cold.test", IPv4Bytes(10, 1, 1, 1), ttl: 60)], authorities: []))))
        let cache = makeCache(upstream, clock: clock)
        try await cache.withRunning { cache throws in
            let ids = await withTaskGroup(of: (UInt16, UInt16, CacheAnswer.Source).self) { group in
                for id in 0..<1000 {
                    group.addTask {
                        let answer = await cache.answer(for: key("cold.test"), id: UInt16(id), recursionDesired: true)
                        let message = try? DNSMessage(decoding: answer.wire)
                        return (UInt16(id), message?.header.id ?? 0xFFFF, answer.source)
                    }
                }
                var all: [(UInt16, UInt16, CacheAnswer.Source)] = []
                for await result in group { all.append(result) }
                return all
            }
            #expect(upstream.count("cold.test", .a) == 1)
            #expect(ids.count == 1000)
            // Each waiter got its own ID.
            #expect(ids.allSatisfy { $0.0 == $0.1 })
            #expect(ids.allSatisfy { $0.2 == .upstream || $0.2 == .hit })
            #expect(cache.snapshot().upstreamQueries == 1)
        }
    }

    @Test func waitersPastTheLimitGetSERVFAIL() async throws {
        let upstream = ScriptedUpstream()
        let clock = ManualClock()
        upstream.set(
            "slow.test", .a,
            .delay(nanoseconds: 300_000_000, then: .init(.reply(rcode: .noError, answers: [.a("slow.test", IPv4Bytes(10, 1, 1, 1), ttl: 60)], authorities: []))))
        let cache = makeCache(upstream, clock: clock) { $0.maximumWaitersPerKey = 10 }
        try await cache.withRunning { cache throws in
            let sources = await withTaskGroup(of: CacheAnswer.Source.self) { group in
                for id in 0..<50 {
                    group.addTask { await cache.answer(for: key("slow.test"), id: UInt16(id), recursionDesired: true).source }
                }
                var all: [CacheAnswer.Source] = []
                for await source in group { all.append(source) }
                return all
            }
            #expect(sources.filter { $0 == .overloaded }.count == 40)
            #expect(sources.filter { $0 == .upstream }.count == 10)
            #expect(upstream.count("slow.test", .a) == 1)
        }
    }
}

struct StaleTests {
    @Test func staleIsServedOnlyAfterTheUpstreamFailsWithTTL30() async throws {
        let upstream = ScriptedUpstream()
        let clock = ManualClock()
        upstream.answer("svc.test", .a, [.a("svc.test", IPv4Bytes(10, 2, 2, 2), ttl: 10)])
        let cache = makeCache(upstream, clock: clock)
        try await cache.withRunning { cache throws in
            _ = await cache.answer(for: key("svc.test"), id: 1, recursionDesired: true)
            clock.advance(seconds: 11)
            // Expired, upstream healthy: a normal refresh, not stale.
            upstream.answer("svc.test", .a, [.a("svc.test", IPv4Bytes(10, 2, 2, 3), ttl: 10)])
            let refreshed = await cache.answer(for: key("svc.test"), id: 1, recursionDesired: true)
            #expect(refreshed.source == .upstream)
            #expect(try decode(refreshed).answers[0].data == .a(IPv4Bytes(10, 2, 2, 3)))

            clock.advance(seconds: 11)
            upstream.set("svc.test", .a, .fail(.timeout))
            let stale = await cache.answer(for: key("svc.test"), id: 2, recursionDesired: true)
            #expect(stale.source == .stale)
            #expect(try decode(stale).answers[0].ttl == 30)
            #expect(try decode(stale).answers[0].data == .a(IPv4Bytes(10, 2, 2, 3)))
            #expect(upstream.count("svc.test", .a) == 3)

            // Within 30 s the upstream is not asked again for this key (RFC 8767 failure recheck).
            clock.advance(seconds: 29)
            #expect(await cache.answer(for: key("svc.test"), id: 3, recursionDesired: true).source == .stale)
            #expect(upstream.count("svc.test", .a) == 3)
            clock.advance(seconds: 1)
            #expect(await cache.answer(for: key("svc.test"), id: 3, recursionDesired: true).source == .stale)
            #expect(upstream.count("svc.test", .a) == 4)
            #expect(cache.snapshot().staleServed == 3)
        }
    }

    @Test func servfailFromUpstreamAlsoFallsBackToStale() async throws {
        let upstream = ScriptedUpstream()
        let clock = ManualClock()
        upstream.answer("svc.test", .a, [.a("svc.test", IPv4Bytes(10, 2, 2, 2), ttl: 10)])
        let cache = makeCache(upstream, clock: clock)
        try await cache.withRunning { cache throws in
            _ = await cache.answer(for: key("svc.test"), id: 1, recursionDesired: true)
            clock.advance(seconds: 100)
            upstream.set("svc.test", .a, .reply(rcode: .serverFailure, answers: [], authorities: []))
            let stale = await cache.answer(for: key("svc.test"), id: 2, recursionDesired: true)
            #expect(stale.source == .stale)
            #expect(try decode(stale).responseCode == .noError)
        }
    }

    @Test func staleNXDOMAINIsNeverServed() async throws {
        let upstream = ScriptedUpstream()
        let clock = ManualClock()
        upstream.set("gone.test", .a, .reply(rcode: .nameError, answers: [], authorities: [.soa("test", soa, ttl: 10)]))
        let cache = makeCache(upstream, clock: clock)
        try await cache.withRunning { cache throws in
            _ = await cache.answer(for: key("gone.test"), id: 1, recursionDesired: true)
            clock.advance(seconds: 11)
            upstream.set("gone.test", .a, .fail(.timeout))
            let answer = await cache.answer(for: key("gone.test"), id: 2, recursionDesired: true)
            #expect(answer.source == .upstreamFailure)
            #expect(try decode(answer).responseCode == .serverFailure)
        }
    }

    @Test func staleBeyondMaximumAgeIsNotServed() async throws {
        let upstream = ScriptedUpstream()
        let clock = ManualClock()
        upstream.answer("svc.test", .a, [.a("svc.test", IPv4Bytes(10, 2, 2, 2), ttl: 10)])
        let cache = makeCache(upstream, clock: clock) { $0.maximumStaleAge = 60 }
        try await cache.withRunning { cache throws in
            _ = await cache.answer(for: key("svc.test"), id: 1, recursionDesired: true)
            clock.advance(seconds: 70)
            upstream.set("svc.test", .a, .fail(.timeout))
            #expect(await cache.answer(for: key("svc.test"), id: 2, recursionDesired: true).source == .upstreamFailure)
        }
    }

    /// A slow upstream: after the client response timer, waiters get stale data while the query goes on, and
    /// its late answer still refreshes the cache.
    @Test func slowUpstreamGetsStaleAfterTheClientTimer() async throws {
        let upstream = ScriptedUpstream()
        let clock = ManualClock()
        upstream.answer("svc.test", .a, [.a("svc.test", IPv4Bytes(10, 2, 2, 2), ttl: 10)])
        let cache = makeCache(upstream, clock: clock) { $0.staleAnswerTimeout = 50_000_000 }
        try await cache.withRunning { cache throws in
            _ = await cache.answer(for: key("svc.test"), id: 1, recursionDesired: true)
            clock.advance(seconds: 11)
            upstream.set(
                "svc.test", .a,
                .delay(nanoseconds: 400_000_000, then: .init(.reply(rcode: .noError, answers: [.a("svc.test", IPv4Bytes(10, 2, 2, 9), ttl: 10)], authorities: []))))
            let stale = await cache.answer(for: key("svc.test"), id: 2, recursionDesired: true)
            #expect(stale.source == .stale)
            #expect(try decode(stale).answers[0].data == .a(IPv4Bytes(10, 2, 2, 2)))
            // The late answer (400 ms) lands in the cache; wait for it, bounded.
            var fresh: CacheAnswer? = nil
            for _ in 0..<100 where fresh == nil {
                try await Task.sleep(nanoseconds: 50_000_000)
                fresh = cache.cachedAnswer(for: key("svc.test"), id: 3, recursionDesired: true)
            }
            #expect(try decode(try #require(fresh)).answers[0].data == .a(IPv4Bytes(10, 2, 2, 9)))
            #expect(upstream.count("svc.test", .a) == 2)
        }
    }
}

struct PrefetchTests {
    /// A prefetch still out when its entry expires: a miss that joins it gets the stale entry after the client
    /// timer, as a miss that started its own query would, not only when the slow prefetch ends.
    @Test func aMissJoiningASlowPrefetchGetsTheStaleTimer() async throws {
        let upstream = ScriptedUpstream()
        let clock = ManualClock()
        upstream.answer("hot.test", .a, [.a("hot.test", IPv4Bytes(10, 3, 3, 3), ttl: 100)])
        let cache = makeCache(upstream, clock: clock) { $0.staleAnswerTimeout = 50_000_000 }
        try await cache.withRunning { cache throws in
            _ = await cache.answer(for: key("hot.test"), id: 1, recursionDesired: true)
            // The refresh takes 3 s of real time; the timer is 50 ms.
            upstream.set(
                "hot.test", .a,
                .delay(nanoseconds: 3_000_000_000, then: .init(.reply(rcode: .noError, answers: [.a("hot.test", IPv4Bytes(10, 3, 3, 4), ttl: 100)], authorities: []))))
            clock.advance(seconds: 95)
            _ = cache.cachedAnswer(for: key("hot.test"), id: 1, recursionDesired: true)  // starts the prefetch
            #expect(cache.snapshot().prefetches == 1)
            clock.advance(seconds: 6)  // expired while the prefetch is out
            let started = ContinuousClock.now
            let answer = await cache.answer(for: key("hot.test"), id: 2, recursionDesired: true)
            let waited = ContinuousClock.now - started
            #expect(answer.source == .stale)
            #expect(try decode(answer).answers[0].data == .a(IPv4Bytes(10, 3, 3, 3)))
            #expect(waited < .milliseconds(2_500), "waited \(waited) for the prefetch instead of the client timer")
            #expect(upstream.count("hot.test", .a) == 2)
        }
    }

    @Test func aHitInTheLastTenthRefreshesOnce() async throws {
        let upstream = ScriptedUpstream()
        let clock = ManualClock()
        upstream.answer("hot.test", .a, [.a("hot.test", IPv4Bytes(10, 3, 3, 3), ttl: 100)])
        let cache = makeCache(upstream, clock: clock)
        try await cache.withRunning { cache throws in
            _ = await cache.answer(for: key("hot.test"), id: 1, recursionDesired: true)
            clock.advance(seconds: 89)
            _ = cache.cachedAnswer(for: key("hot.test"), id: 1, recursionDesired: true)
            #expect(cache.snapshot().prefetches == 0)
            upstream.answer("hot.test", .a, [.a("hot.test", IPv4Bytes(10, 3, 3, 4), ttl: 100)])
            clock.advance(seconds: 1)  // 90 s: the last 10 % begins
            for _ in 0..<50 { _ = cache.cachedAnswer(for: key("hot.test"), id: 1, recursionDesired: true) }
            // Wait for the background refresh to land.
            for _ in 0..<200 where upstream.count("hot.test", .a) < 2 { try await Task.sleep(nanoseconds: 5_000_000) }
            try await Task.sleep(nanoseconds: 20_000_000)
            #expect(upstream.count("hot.test", .a) == 2)
            #expect(cache.snapshot().prefetches == 1)
            clock.advance(seconds: 15)  // past the old expiry: the refreshed entry answers
            let answer = try #require(cache.cachedAnswer(for: key("hot.test"), id: 1, recursionDesired: true))
            #expect(try decode(answer).answers[0].data == .a(IPv4Bytes(10, 3, 3, 4)))
            #expect(try decode(answer).answers[0].ttl == 85)
        }
    }

    @Test func shortTTLsAreNotPrefetched() async throws {
        let upstream = ScriptedUpstream()
        let clock = ManualClock()
        upstream.answer("short.test", .a, [.a("short.test", IPv4Bytes(10, 3, 3, 3), ttl: 5)])
        let cache = makeCache(upstream, clock: clock)
        try await cache.withRunning { cache throws in
            _ = await cache.answer(for: key("short.test"), id: 1, recursionDesired: true)
            clock.advance(seconds: 4.9)
            _ = cache.cachedAnswer(for: key("short.test"), id: 1, recursionDesired: true)
            try await Task.sleep(nanoseconds: 20_000_000)
            #expect(upstream.count("short.test", .a) == 1)
        }
    }
}

struct CapacityTests {
    @Test func budgetIsHeldByEvictingColdEntriesFirst() async throws {
        let upstream = ScriptedUpstream()
        let clock = ManualClock()
        for i in 0..<200 {
            let name = try DNSName("n\(i).test")
            upstream.answer(name, .a, [.a(name, IPv4Bytes(10, 0, UInt8(i / 256), UInt8(i % 256)), ttl: 300)])
        }
        // One shard so the budget is exact; room for roughly 50 entries (data ~60 bytes, overhead 272 each).
        let cache = makeCache(upstream, clock: clock) {
            $0.shardCount = 1
            $0.maximumBytes = 50 * 330
            $0.maximumNegativeBytes = 0
        }
        try await cache.withRunning { cache throws in
            _ = await cache.answer(for: key("n0.test"), id: 1, recursionDesired: true)
            for i in 1..<200 {
                _ = cache.cachedAnswer(for: key("n0.test"), id: 1, recursionDesired: true)  // keep n0 hot
                _ = await cache.answer(for: key(try DNSName("n\(i).test")), id: 1, recursionDesired: true)
            }
            let snapshot = cache.snapshot()
            #expect(snapshot.bytes <= 50 * 330)
            #expect(snapshot.evictions > 0)
            #expect(snapshot.entries + snapshot.evictions == 200)
            #expect(cache.cachedAnswer(for: key("n0.test"), id: 1, recursionDesired: true) != nil)
        }
    }

    @Test func flushRemovesOneNameOrAll() async throws {
        let upstream = ScriptedUpstream()
        let clock = ManualClock()
        upstream.answer("a.test", .a, [.a("a.test", IPv4Bytes(10, 0, 0, 1), ttl: 300)])
        upstream.answer("b.test", .a, [.a("b.test", IPv4Bytes(10, 0, 0, 2), ttl: 300)])
        let cache = makeCache(upstream, clock: clock)
        try await cache.withRunning { cache throws in
            _ = await cache.answer(for: key("a.test"), id: 1, recursionDesired: true)
            _ = await cache.answer(for: key("b.test"), id: 1, recursionDesired: true)
            #expect(cache.flush(name: "A.test") == 1)
            #expect(cache.cachedAnswer(for: key("a.test"), id: 1, recursionDesired: true) == nil)
            #expect(cache.cachedAnswer(for: key("b.test"), id: 1, recursionDesired: true) != nil)
            #expect(cache.dump().map(\.remainingTTL) == [300])
            #expect(cache.flush() == 1)
            #expect(cache.snapshot().entries == 0)
        }
    }
}
