import DNSCache
import DNSWire
import TestSupport
import Testing

/// Unbound-style scenarios on a manual clock: "store at t0 with TTL 2; time passes; expect...".
struct ExpiryTests {
    @Test func servedUntilExactlyTheTTLThenAMiss() async throws {
        let upstream = ScriptedUpstream()
        let clock = ManualClock()
        upstream.answer("short.test", .a, [.a("short.test", IPv4Bytes(10, 0, 0, 1), ttl: 2)])
        let cache = makeCache(upstream, clock: clock)
        try await cache.withRunning { cache throws in
            let first = await cache.answer(for: key("short.test"), id: 7, recursionDesired: true)
            #expect(first.source == .upstream)
            #expect(try decode(first).answers.first?.ttl == 2)
            #expect(try decode(first).header.id == 7)

            clock.advance(by: 999_999_999)  // t0 + 0.999999999 s
            #expect(try decode(cache.cachedAnswer(for: key("short.test"), id: 1, recursionDesired: true)!).answers[0].ttl == 1)
            clock.advance(by: 1)  // t0 + 1 s: floor(1.0) = 1
            #expect(try decode(cache.cachedAnswer(for: key("short.test"), id: 1, recursionDesired: true)!).answers[0].ttl == 1)
            clock.advance(by: 999_000_000)  // t0 + 1.999 s
            let late = try #require(cache.cachedAnswer(for: key("short.test"), id: 1, recursionDesired: true))
            #expect(try decode(late).answers[0].ttl == 0)
            clock.advance(by: 999_999)  // t0 + 1.999999999 s: still served
            #expect(cache.cachedAnswer(for: key("short.test"), id: 1, recursionDesired: true) != nil)
            clock.advance(by: 1)  // t0 + 2.000 s exactly: a miss
            #expect(cache.cachedAnswer(for: key("short.test"), id: 1, recursionDesired: true) == nil)

            upstream.answer("short.test", .a, [.a("short.test", IPv4Bytes(10, 0, 0, 2), ttl: 2)])
            let refreshed = await cache.answer(for: key("short.test"), id: 2, recursionDesired: true)
            #expect(refreshed.source == .upstream)
            #expect(try decode(refreshed).answers[0].data == .a(IPv4Bytes(10, 0, 0, 2)))
            #expect(upstream.count("short.test", .a) == 2)
        }
    }

    @Test func eachRRsetKeepsItsOwnTTL() async throws {
        let upstream = ScriptedUpstream()
        let clock = ManualClock()
        upstream.answer(
            "alias.test", .a,
            [
                .cname("alias.test", "target.test", ttl: 300),
                .a("target.test", IPv4Bytes(10, 0, 0, 1), ttl: 60),
                .a("target.test", IPv4Bytes(10, 0, 0, 2), ttl: 30),  // RFC 2181 5.2: the set takes the minimum
            ])
        let cache = makeCache(upstream, clock: clock)
        try await cache.withRunning { cache throws in
            _ = await cache.answer(for: key("alias.test"), id: 1, recursionDesired: true)
            clock.advance(seconds: 10.5)
            let message = try decode(try #require(cache.cachedAnswer(for: key("alias.test"), id: 1, recursionDesired: true)))
            #expect(message.answers.map(\.ttl) == [289, 19, 19])
            // The whole answer expires with its shortest RRset.
            clock.advance(seconds: 19.5)
            #expect(cache.cachedAnswer(for: key("alias.test"), id: 1, recursionDesired: true) == nil)
        }
    }

    @Test func clampsWithoutInflatingShortTTLsByDefault() async throws {
        let upstream = ScriptedUpstream()
        let clock = ManualClock()
        upstream.answer("one.test", .a, [.a("one.test", IPv4Bytes(10, 0, 0, 1), ttl: 1)])
        upstream.answer("long.test", .a, [.a("long.test", IPv4Bytes(10, 0, 0, 1), ttl: 604_800)])
        upstream.answer("zero.test", .a, [.a("zero.test", IPv4Bytes(10, 0, 0, 1), ttl: 0)])
        upstream.answer("huge.test", .a, [.a("huge.test", IPv4Bytes(10, 0, 0, 1), ttl: 0x8000_0000)])
        let cache = makeCache(upstream, clock: clock)
        try await cache.withRunning { cache throws in
            #expect(try decode(await cache.answer(for: key("one.test"), id: 1, recursionDesired: true)).answers[0].ttl == 1)
            #expect(try decode(await cache.answer(for: key("long.test"), id: 1, recursionDesired: true)).answers[0].ttl == 86400)
            // TTL 0 is passed through and not cached.
            #expect(try decode(await cache.answer(for: key("zero.test"), id: 1, recursionDesired: true)).answers[0].ttl == 0)
            #expect(cache.cachedAnswer(for: key("zero.test"), id: 1, recursionDesired: true) == nil)
            // RFC 2181 8: a TTL with the top bit set is taken as 0.
            #expect(try decode(await cache.answer(for: key("huge.test"), id: 1, recursionDesired: true)).answers[0].ttl == 0)
        }
    }

    @Test func configuredMinimumRaisesTTLs() async throws {
        let upstream = ScriptedUpstream()
        let clock = ManualClock()
        upstream.answer("one.test", .a, [.a("one.test", IPv4Bytes(10, 0, 0, 1), ttl: 1)])
        let cache = makeCache(upstream, clock: clock) { $0.ttl.minimumTTL = 5 }
        try await cache.withRunning { cache throws in
            #expect(try decode(await cache.answer(for: key("one.test"), id: 1, recursionDesired: true)).answers[0].ttl == 5)
        }
    }

    @Test func keysAreCaseInsensitiveAndAnswersEchoTheIDAndRD() async throws {
        let upstream = ScriptedUpstream()
        let clock = ManualClock()
        upstream.answer("mixed.test", .a, [.a("mixed.test", IPv4Bytes(10, 0, 0, 1), ttl: 60)])
        let cache = makeCache(upstream, clock: clock)
        try await cache.withRunning { cache throws in
            _ = await cache.answer(for: key("MiXeD.TeSt"), id: 1, recursionDesired: true)
            let hit = try #require(cache.cachedAnswer(for: key("mixed.TEST"), id: 0xABCD, recursionDesired: false))
            let message = try decode(hit)
            #expect(message.header.id == 0xABCD)
            #expect(!message.header.recursionDesired)
            #expect(message.header.recursionAvailable)
            #expect(message.header.isResponse)
            #expect(upstream.queries.count == 1)
            // DO and CD are part of the key.
            #expect(cache.cachedAnswer(for: CacheKey(name: "mixed.test", type: .a, dnssecOK: true), id: 1, recursionDesired: true) == nil)
        }
    }
}
