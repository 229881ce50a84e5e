import DNSCache
import DNSWire
import Foundation
import NIOCore
import SidecacheDaemon
import TestSupport
import Testing

/// Two daemons forwarding to each other: the runtime loop probe comes back and trips the guard, which then fails
/// every forward at once instead of letting queries circle. And a listen address that is taken is refused with the
/// setting's name.
@Suite(.serialized, .enabled(if: runningAsRoot, "binds loopback addresses like the other daemon tests (CI runs as root)"))
struct LoopAndBindTests {
    static func configuration(listen: String, upstream: String, scratch: String) throws -> SidecacheConfiguration {
        try SidecacheConfiguration.resolve(
            flags: SidecacheConfiguration.parseFlags([
                "--dns-listen", listen, "--upstream", upstream, "--nscd-socket", "\(scratch)/socket",
                "--hosts-file", "\(scratch)/hosts", "--upstream-timeout", "300ms", "--upstream-deadline", "600ms",
                "--admin-listen", "off", "--shared-map", "off",
            ]), environment: [:])
    }

    @Test func forwardingLoopIsDetectedAtRunTime() async throws {
        let a = randomLoopbackAddress()
        let b = randomLoopbackAddress()
        let first = try await Sidecache(
            configuration: Self.configuration(listen: "\(a):5353", upstream: "\(b):5353", scratch: try makeScratchDirectory("loop-a")))
        let second = try await Sidecache(
            configuration: Self.configuration(listen: "\(b):5353", upstream: "\(a):5353", scratch: try makeScratchDirectory("loop-b")))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await first.run(signals: []) }
            group.addTask { try await second.run(signals: []) }
            defer { group.cancelAll() }
            // A daemon's startup probe reaches the other, which forwards it back to the sender's own DNS door. (Once
            // one side has tripped it forwards nothing more, so the other side's probe may never come back.)
            var tripped: Sidecache? = nil
            for _ in 0..<40 where tripped == nil {
                try await Task.sleep(nanoseconds: 50_000_000)
                tripped = first.forwarder.loopDetected ? first : second.forwarder.loopDetected ? second : nil
            }
            let daemon = try #require(tripped)
            // From then on nothing is forwarded: a question fails at once instead of circling.
            let started = Date()
            let result = await daemon.forwarder.resolve(CacheKey(name: try DNSName("anything.example"), type: .a))
            guard case .failure(.loop) = result else {
                Issue.record("expected the loop failure, got \(result)")
                return
            }
            #expect(Date().timeIntervalSince(started) < 0.05)
        }
    }

    @Test func aTakenListenAddressNamesTheSetting() async throws {
        let address = randomLoopbackAddress()
        let scratch = try makeScratchDirectory("bind")
        let holder = try await Sidecache(
            configuration: Self.configuration(listen: "\(address):5353", upstream: "192.0.2.53", scratch: scratch + "/1"))
        do {
            _ = try await Sidecache(
                configuration: Self.configuration(listen: "\(address):5353", upstream: "192.0.2.53", scratch: scratch + "/2"))
            Issue.record("a second daemon bound the same address")
        } catch {
            #expect("\(error)".hasPrefix("dns-listen: cannot bind"), "\(error)")
            #expect("\(error)".contains("\(address)"), "\(error)")
        }
        await holder.door.close()
    }
}
