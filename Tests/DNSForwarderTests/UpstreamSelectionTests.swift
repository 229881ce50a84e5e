import DNSForwarder
import NIOCore
import Testing

struct UpstreamSelectionTests {
    @Test func sequentialKeepsOrderAndMovesDownUpstreamsLast() {
        var selection = UpstreamSelection(count: 3, policy: .sequential, failuresBeforeDown: 2, downInterval: .seconds(5))
        var rng = SystemRandomNumberGenerator()
        let t0 = NIODeadline.uptimeNanoseconds(1_000_000_000_000)
        #expect(selection.order(now: t0, using: &rng) == [0, 1, 2])
        #expect(selection.recordFailure(0, now: t0) == nil)
        let change = selection.recordFailure(0, now: t0)
        #expect(change == .markedDown(index: 0, until: t0 + .seconds(5)))
        #expect(selection.order(now: t0, using: &rng) == [1, 2, 0])
        // After the down interval the upstream is tried again (the probe); success brings it back.
        #expect(selection.order(now: t0 + .seconds(5), using: &rng) == [0, 1, 2])
        #expect(selection.recordSuccess(0) == .recovered(index: 0))
        #expect(selection.recordSuccess(0) == nil)
    }

    @Test func roundRobinRotates() {
        var selection = UpstreamSelection(count: 3, policy: .roundRobin, failuresBeforeDown: 3, downInterval: .seconds(5))
        var rng = SystemRandomNumberGenerator()
        let now = NIODeadline.now()
        #expect(selection.order(now: now, using: &rng).first == 0)
        #expect(selection.order(now: now, using: &rng).first == 1)
        #expect(selection.order(now: now, using: &rng).first == 2)
        #expect(selection.order(now: now, using: &rng).first == 0)
    }

    @Test func randomSpreadsOverHealthyUpstreams() {
        var selection = UpstreamSelection(count: 3, policy: .random, failuresBeforeDown: 1, downInterval: .seconds(5))
        var rng = SystemRandomNumberGenerator()
        let now = NIODeadline.now()
        _ = selection.recordFailure(2, now: now)
        var firsts = Set<Int>()
        for _ in 0..<200 {
            let order = selection.order(now: now, using: &rng)
            firsts.insert(order[0])
            #expect(order.last == 2)
        }
        #expect(firsts == [0, 1])
    }

    @Test func upstreamParsing() {
        #expect(UpstreamAddress(parsing: "10.96.0.10") == UpstreamAddress(host: "10.96.0.10", port: 53))
        #expect(UpstreamAddress(parsing: "127.0.0.1:5353") == UpstreamAddress(host: "127.0.0.1", port: 5353))
        #expect(UpstreamAddress(parsing: "[::1]:5353") == UpstreamAddress(host: "::1", port: 5353))
        #expect(UpstreamAddress(parsing: "fd00::10") == UpstreamAddress(host: "fd00::10", port: 53))
        #expect(UpstreamAddress(parsing: "kube-dns.kube-system") == nil)
        #expect(UpstreamAddress(parsing: "10.0.0.1:0") == nil)
        #expect(UpstreamAddress(parsing: "10.0.0.1:99999") == nil)
    }

    @Test func ownListenAddressIsRefused() {
        let own = [UpstreamAddress(host: "127.0.0.1", port: 53), UpstreamAddress(host: "::1", port: 53)]
        #expect(throws: ForwarderConfigurationError.self) {
            try ForwarderConfiguration(upstreams: [UpstreamAddress(host: "127.0.0.1")]).validate(ownListenAddresses: own)
        }
        do {
            try ForwarderConfiguration(upstreams: [UpstreamAddress(host: "::1")]).validate(ownListenAddresses: own)
            Issue.record("::1 accepted")
        } catch {
            #expect(error.setting == "upstream")
            #expect(error.reason.contains("own listen address"))
        }
        // A wildcard listener owns loopback on its port.
        #expect(throws: ForwarderConfigurationError.self) {
            try ForwarderConfiguration(upstreams: [UpstreamAddress(host: "127.0.0.53")])
                .validate(ownListenAddresses: [UpstreamAddress(host: "0.0.0.0", port: 53)])
        }
        // Addresses, not their text: other spellings of the same address are refused too.
        for spelling in ["0:0::1", "0000:0000:0000:0000:0000:0000:0000:0001", "::ffff:127.0.0.1", "::1%lo"] {
            #expect(throws: ForwarderConfigurationError.self, "\(spelling)") {
                try ForwarderConfiguration(upstreams: [UpstreamAddress(host: spelling)]).validate(ownListenAddresses: own)
            }
        }
        #expect(throws: ForwarderConfigurationError.self) {
            try ForwarderConfiguration(upstreams: [UpstreamAddress(host: "::1")])
                .validate(ownListenAddresses: [UpstreamAddress(host: "0:0:0:0:0:0:0:0", port: 53)])
        }
        // Another port or address is fine.
        #expect(throws: Never.self) {
            try ForwarderConfiguration(upstreams: [UpstreamAddress(host: "127.0.0.1", port: 5353), UpstreamAddress(host: "10.96.0.10")])
                .validate(ownListenAddresses: own)
        }
    }
}
