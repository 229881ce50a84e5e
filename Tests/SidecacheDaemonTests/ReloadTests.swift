import Foundation
import SidecacheDaemon
import TestSupport
import Testing

/// Reload: the real binary, two Knot servers that answer the same names differently (so an answer tells which
/// upstream gave it), and resolv.conf rewritten under the daemon.
@Suite(.serialized, .enabled(if: runningAsRoot, "needs root to run knotd on port 53 of a loopback address (CI runs as root)"))
struct ReloadTests {
    static func zone(_ prefix: String) -> String {
        """
        $ORIGIN e2e.test.
        $TTL 3600
        @     IN SOA ns1 hostmaster 1 3600 600 86400 60
        @     IN NS ns1
        ns1   IN A 127.0.0.53
        www   IN A \(prefix).1
        new   IN A \(prefix).2
        other IN A \(prefix).3

        """
    }

    /// A daemon process with `arguments` on a random loopback address (scratch nscd socket and hosts file), ended
    /// by PID when the body returns; its log is printed when the body throws. The body gets the process and the
    /// address; the daemon has answered www.e2e.test (192.0.2.1) before it starts.
    static func withProcess(
        _ arguments: [String], scratch: String, _ body: (ExternalProcess, String) async throws -> Void
    ) async throws {
        let address = randomLoopbackAddress()
        let daemon = try ExternalProcess(
            try sidecacheBinary(),
            ["serve"] + arguments + [
                "--dns-listen", "\(address):5353", "--nscd-socket", "\(scratch)/socket", "--hosts-file", "\(scratch)/hosts",
                "--admin-listen", "\(address):9253", "--lame-duck", "0",
            ])
        do {
            #expect(try await Self.waitFor(address, "www.e2e.test", "192.0.2.1", seconds: 5), "daemon did not answer")
            try await body(daemon, address)
            _ = daemon.stop(grace: 2)
        } catch {
            print(daemon.stop(grace: 2))
            throw error
        }
    }

    static func firstAnswer(_ address: String, _ name: String) async throws -> String {
        try await DaemonEndToEndTests.dig(address, 5353, ["+short", name, "A"])
            .split(separator: "\n").first.map(String.init) ?? ""
    }

    static func waitFor(_ address: String, _ name: String, _ expected: String, seconds: Double) async throws -> Bool {
        let until = Date().addingTimeInterval(seconds)
        while Date() < until {
            if try await firstAnswer(address, name) == expected { return true }
            try await Task.sleep(nanoseconds: 100_000_000)
        }
        return false
    }

    @Test func sighupMovesQueriesToTheNewUpstreamAndKeepsTheCache() async throws {
        // resolv.conf names servers without a port: both listen on 53 of their own loopback address.
        let first = try await KnotServer.launch(zones: ["e2e.test": Self.zone("192.0.2")], port: 53)
        let second = try await KnotServer.launch(zones: ["e2e.test": Self.zone("198.51.100")], port: 53)
        defer {
            first.stop()
            second.stop()
        }
        let scratch = try makeScratchDirectory("reload")
        let resolvConf = scratch + "/resolv.conf"
        try "nameserver \(first.address)\n".write(toFile: resolvConf, atomically: false, encoding: .utf8)
        try await Self.withProcess(["--resolv-conf", resolvConf], scratch: scratch) { process, address in
            // SIGHUP after resolv.conf changed: new names go to the second server, the cached one stays.
            try "nameserver \(second.address)\n".write(toFile: resolvConf, atomically: false, encoding: .utf8)
            process.signal(SIGHUP)
            try await Task.sleep(nanoseconds: 300_000_000)
            #expect(try await Self.firstAnswer(address, "new.e2e.test") == "198.51.100.2")
            #expect(try await Self.firstAnswer(address, "www.e2e.test") == "192.0.2.1", "the cache was lost")
            let (_, metrics) = try await OperationsTests.get(address, "/metrics")
            let firstCount = #"sidecache_upstream_latency_seconds_count{upstream="\#(first.address):53"}"#
            let secondCount = #"sidecache_upstream_latency_seconds_count{upstream="\#(second.address):53"}"#
            // Each server answered one name and the loop probe (sent again for a new upstream set).
            #expect(OperationsTests.value(metrics, firstCount) == 2, "\(metrics)")
            #expect(OperationsTests.value(metrics, secondCount) == 2, "\(metrics)")

            // No signal at all: a change of the file is noticed within a few seconds (polled every 2 s). The name is
            // asked once only after that, or the second server's answer would be cached.
            try "# back\nnameserver \(first.address)\n".write(toFile: resolvConf, atomically: false, encoding: .utf8)
            try await Task.sleep(nanoseconds: 4_500_000_000)
            #expect(try await Self.firstAnswer(address, "other.e2e.test") == "192.0.2.3")
            #expect(try await Self.firstAnswer(address, "new.e2e.test") == "198.51.100.2", "the cache was lost")
            #expect(process.isRunning)
        }
    }

    /// A reload whose configuration does not validate changes nothing; the daemon keeps serving.
    @Test func invalidReloadKeepsTheRunningConfiguration() async throws {
        let knot = try await KnotServer.launch(zones: ["e2e.test": Self.zone("192.0.2")])
        defer { knot.stop() }
        let scratch = try makeScratchDirectory("reload-bad")
        let file = scratch + "/sidecache.conf"
        try "upstream = \(knot.address):\(knot.port)\nlog-level = info\n".write(toFile: file, atomically: false, encoding: .utf8)
        try await Self.withProcess(["--config", file], scratch: scratch) { process, address in
            try "upstream = kube-dns\n".write(toFile: file, atomically: false, encoding: .utf8)
            process.signal(SIGHUP)
            try await Task.sleep(nanoseconds: 300_000_000)
            #expect(process.isRunning)
            #expect(try await Self.firstAnswer(address, "new.e2e.test") == "192.0.2.2")
        }
    }
}
