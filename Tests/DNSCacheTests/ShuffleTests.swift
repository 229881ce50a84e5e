import DNSCache
import DNSWire
import TestSupport
import Testing

struct ShuffleTests {
    static let four = (1...4).map { IPv4Bytes(192, 0, 2, UInt8($0)) }

    @Test func everyAddressLeadsAQuarterOfTheTime() async throws {
        let upstream = ScriptedUpstream()
        let clock = ManualClock()
        upstream.answer("rr.test", .a, Self.four.map { .a("rr.test", $0, ttl: 300) })
        let cache = makeCache(upstream, clock: clock)
        try await cache.withRunning { cache throws in
            var firsts: [IPv4Bytes: Int] = [:]
            let first = await cache.answer(for: key("rr.test"), id: 0, recursionDesired: true)
            for index in 0..<10_000 {
                // Long synchronous loops give the cooperative threads back now and then: other suites run an
                // in-process daemon on them.
                if index % 100 == 0 { await Task.yield() }
                let answer = index == 0 ? first : cache.cachedAnswer(for: key("rr.test"), id: 0, recursionDesired: true)!
                let message = try decode(answer)
                #expect(Set(message.answers.map(\.data)) == Set(Self.four.map { .a($0) }))
                if case .a(let address) = message.answers[0].data { firsts[address, default: 0] += 1 }
            }
            for address in Self.four {
                let share = Double(firsts[address] ?? 0) / 10_000
                #expect(abs(share - 0.25) <= 0.02, "\(address) first in \(share)")
            }
        }
    }

    @Test func chainOrderIsKeptAndOnlyTheAddressSetMoves() async throws {
        let upstream = ScriptedUpstream()
        let clock = ManualClock()
        upstream.answer(
            "a.test", .a,
            [.cname("a.test", "b.test", ttl: 60), .cname("b.test", "c.test", ttl: 60)] + Self.four.map { .a("c.test", $0, ttl: 60) })
        let cache = makeCache(upstream, clock: clock)
        try await cache.withRunning { cache throws in
            _ = await cache.answer(for: key("a.test"), id: 0, recursionDesired: true)
            var orders = Set<[DNSRecordData]>()
            for _ in 0..<200 {
                let message = try decode(cache.cachedAnswer(for: key("a.test"), id: 0, recursionDesired: true)!)
                #expect(message.answers[0].data == .cname("b.test"))
                #expect(message.answers[1].data == .cname("c.test"))
                orders.insert(message.answers.dropFirst(2).map(\.data))
            }
            #expect(orders.count > 1)
        }
    }

    @Test func shuffleCanBeTurnedOff() async throws {
        let upstream = ScriptedUpstream()
        let clock = ManualClock()
        upstream.answer("rr.test", .a, Self.four.map { .a("rr.test", $0, ttl: 300) })
        let cache = makeCache(upstream, clock: clock) { $0.shuffle = false }
        try await cache.withRunning { cache throws in
            _ = await cache.answer(for: key("rr.test"), id: 0, recursionDesired: true)
            for _ in 0..<100 {
                let message = try decode(cache.cachedAnswer(for: key("rr.test"), id: 0, recursionDesired: true)!)
                #expect(message.answers.map(\.data) == Self.four.map { .a($0) })
            }
        }
    }
}
