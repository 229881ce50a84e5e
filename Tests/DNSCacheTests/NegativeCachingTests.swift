import DNSCache
import DNSWire
import TestSupport
import Testing

struct NegativeCachingTests {
    @Test func nxdomainLivesForSOAMinimum() async throws {
        let upstream = ScriptedUpstream()
        let clock = ManualClock()
        upstream.set("gone.example.test", .a, .reply(rcode: .nameError, answers: [], authorities: [.soa("example.test", soa, ttl: 300)]))
        let cache = makeCache(upstream, clock: clock)
        try await cache.withRunning { cache throws in
            let first = await cache.answer(for: key("gone.example.test"), id: 1, recursionDesired: true)
            #expect(first.replyClass == .nameError)
            let message = try decode(first)
            #expect(message.responseCode == .nameError)
            // min(SOA TTL 300, MINIMUM 60) = 60, and the SOA carries it (RFC 2308 3).
            #expect(message.authorities.first?.ttl == 60)
            clock.advance(seconds: 59.5)
            let hit = try #require(cache.cachedAnswer(for: key("gone.example.test"), id: 2, recursionDesired: true))
            #expect(try decode(hit).authorities.first?.ttl == 0)
            #expect(try decode(hit).responseCode == .nameError)
            clock.advance(seconds: 0.5)
            #expect(cache.cachedAnswer(for: key("gone.example.test"), id: 2, recursionDesired: true) == nil)
        }
    }

    @Test func nodataIsDistinctFromNXDOMAIN() async throws {
        let upstream = ScriptedUpstream()
        let clock = ManualClock()
        upstream.set("v4only.test", .aaaa, .reply(rcode: .noError, answers: [], authorities: [.soa("test", soa, ttl: 30)]))
        let cache = makeCache(upstream, clock: clock)
        try await cache.withRunning { cache throws in
            let answer = await cache.answer(for: key("v4only.test", .aaaa), id: 1, recursionDesired: true)
            #expect(answer.replyClass == .noData)
            #expect(try decode(answer).responseCode == .noError)
            #expect(try decode(answer).answers.isEmpty)
            #expect(try decode(answer).authorities.first?.ttl == 30)
            #expect(cache.cachedAnswer(for: key("v4only.test", .aaaa), id: 1, recursionDesired: true)?.replyClass == .noData)
        }
    }

    @Test func negativeTTLIsCappedByConfiguration() async throws {
        let upstream = ScriptedUpstream()
        let clock = ManualClock()
        var longSOA = soa
        longSOA.minimum = 86400
        upstream.set("gone.test", .a, .reply(rcode: .nameError, answers: [], authorities: [.soa("test", longSOA, ttl: 86400)]))
        let cache = makeCache(upstream, clock: clock)
        try await cache.withRunning { cache throws in
            let answer = await cache.answer(for: key("gone.test"), id: 1, recursionDesired: true)
            #expect(try decode(answer).authorities.first?.ttl == 900)
        }
    }

    @Test func negativeWithoutSOAIsNotCached() async throws {
        let upstream = ScriptedUpstream()
        let clock = ManualClock()
        upstream.set("bare.test", .a, .reply(rcode: .nameError, answers: [], authorities: []))
        let cache = makeCache(upstream, clock: clock)
        try await cache.withRunning { cache throws in
            let answer = await cache.answer(for: key("bare.test"), id: 1, recursionDesired: true)
            #expect(try decode(answer).responseCode == .nameError)
            #expect(cache.cachedAnswer(for: key("bare.test"), id: 1, recursionDesired: true) == nil)
            _ = await cache.answer(for: key("bare.test"), id: 1, recursionDesired: true)
            #expect(upstream.count("bare.test", .a) == 2)
        }
    }

    /// An authoritative-only upstream answers an alias out of its zones with the CNAME alone and no SOA: kept for
    /// the CNAME's TTL, so the next lookups cost no query.
    @Test func cnameOnlyAnswerWithoutSOAIsCachedForTheCNAMETTL() async throws {
        let upstream = ScriptedUpstream()
        let clock = ManualClock()
        upstream.answer("alias.test", .a, [.cname("alias.test", "elsewhere.other", ttl: 40)])
        let cache = makeCache(upstream, clock: clock)
        try await cache.withRunning { cache throws in
            let first = await cache.answer(for: key("alias.test"), id: 1, recursionDesired: true)
            #expect(first.replyClass == .noData)
            #expect(try decode(first).answers.count == 1)
            clock.advance(seconds: 39.9)
            let hit = try #require(cache.cachedAnswer(for: key("alias.test"), id: 2, recursionDesired: true))
            #expect(try decode(hit).answers.first?.data == .cname("elsewhere.other"))
            #expect(try decode(hit).answers.first?.ttl == 0)
            #expect(upstream.count("alias.test", .a) == 1)
            clock.advance(seconds: 0.1)
            #expect(cache.cachedAnswer(for: key("alias.test"), id: 3, recursionDesired: true) == nil)
        }
    }

    @Test func cnameOnlyAnswerIsCappedByTheMaximumNegativeTTL() async throws {
        let upstream = ScriptedUpstream()
        let clock = ManualClock()
        upstream.answer("long-alias.test", .a, [.cname("long-alias.test", "elsewhere.other", ttl: 86400)])
        let cache = makeCache(upstream, clock: clock)
        try await cache.withRunning { cache throws in
            _ = await cache.answer(for: key("long-alias.test"), id: 1, recursionDesired: true)
            clock.advance(seconds: 899.9)
            #expect(cache.cachedAnswer(for: key("long-alias.test"), id: 2, recursionDesired: true) != nil)
            clock.advance(seconds: 0.1)
            #expect(cache.cachedAnswer(for: key("long-alias.test"), id: 3, recursionDesired: true) == nil)
        }
    }

    @Test func servfailIsNeverCachedAsNegative() async throws {
        let upstream = ScriptedUpstream()
        let clock = ManualClock()
        upstream.set("broken.test", .a, .reply(rcode: .serverFailure, answers: [], authorities: []))
        let cache = makeCache(upstream, clock: clock) { $0.failureBackoff = 1_000_000_000 }
        try await cache.withRunning { cache throws in
            let answer = await cache.answer(for: key("broken.test"), id: 1, recursionDesired: true)
            #expect(try decode(answer).responseCode == .serverFailure)
            #expect(answer.isTemporaryFailure)
            #expect(cache.cachedAnswer(for: key("broken.test"), id: 1, recursionDesired: true) == nil)
            // Within the backoff the key answers SERVFAIL without asking again...
            let backoff = await cache.answer(for: key("broken.test"), id: 1, recursionDesired: true)
            #expect(backoff.source == .failureBackoff)
            #expect(try decode(backoff).responseCode == .serverFailure)
            #expect(upstream.count("broken.test", .a) == 1)
            // ...and after it, asks again; a good answer replaces the failure.
            clock.advance(seconds: 1)
            upstream.answer("broken.test", .a, [.a("broken.test", IPv4Bytes(10, 9, 9, 9), ttl: 60)])
            let fixed = await cache.answer(for: key("broken.test"), id: 1, recursionDesired: true)
            #expect(fixed.replyClass == .positive)
            #expect(upstream.count("broken.test", .a) == 2)
        }
    }

    @Test func refusedIsReplayedDuringTheBackoff() async throws {
        let upstream = ScriptedUpstream()
        let clock = ManualClock()
        upstream.set("other.zone", .a, .reply(rcode: .refused, answers: [], authorities: []))
        let cache = makeCache(upstream, clock: clock)
        try await cache.withRunning { cache throws in
            let first = await cache.answer(for: key("other.zone"), id: 1, recursionDesired: true)
            #expect(try decode(first).responseCode == .refused)
            let again = await cache.answer(for: key("other.zone"), id: 2, recursionDesired: true)
            #expect(again.source == .failureBackoff)
            #expect(try decode(again).responseCode == .refused)
            #expect(try decode(again).header.id == 2)
            #expect(upstream.count("other.zone", .a) == 1)
        }
    }

    @Test func recordsOutsideTheChainAreDropped() async throws {
        let upstream = ScriptedUpstream()
        let clock = ManualClock()
        upstream.answer(
            "www.test", .a,
            [
                .cname("www.test", "edge.cdn.test", ttl: 60),
                .a("edge.cdn.test", IPv4Bytes(10, 0, 0, 1), ttl: 60),
                .a("bank.test", IPv4Bytes(6, 6, 6, 6), ttl: 86400),  // not asked for: must not be cached
            ])
        let cache = makeCache(upstream, clock: clock)
        try await cache.withRunning { cache throws in
            let message = try decode(await cache.answer(for: key("www.test"), id: 1, recursionDesired: true))
            #expect(message.answers.count == 2)
            #expect(!message.answers.contains { $0.name == "bank.test" })
            #expect(cache.cachedAnswer(for: key("bank.test"), id: 1, recursionDesired: true) == nil)
        }
    }

    @Test func referralsAndTruncationArePassedThroughUncached() async throws {
        let upstream = ScriptedUpstream()
        let clock = ManualClock()
        upstream.set(
            "deleg.test", .a,
            .reply(rcode: .noError, answers: [], authorities: [DNSResourceRecord(name: "deleg.test", type: .ns, ttl: 60, data: .ns("ns.deleg.test"))]))
        let cache = makeCache(upstream, clock: clock)
        try await cache.withRunning { cache throws in
            let answer = await cache.answer(for: key("deleg.test"), id: 1, recursionDesired: true)
            #expect(answer.replyClass == .referral)
            #expect(cache.cachedAnswer(for: key("deleg.test"), id: 1, recursionDesired: true) == nil)
        }
    }
}
