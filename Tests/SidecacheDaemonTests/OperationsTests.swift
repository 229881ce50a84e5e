import DNSWire
import NSCDFrontend
import NSCDWire
import Foundation
import SidecacheDaemon
import TestSupport
import Testing

/// The admin listener of a running daemon: exact metric counts after a known sequence, readiness, drain.
@Suite(.serialized, .enabled(if: runningAsRoot, "needs root to run knotd on loopback (CI runs as root)"))
struct OperationsTests {
    static func get(_ address: String, _ path: String) async throws -> (Int, String) {
        let result = try await ExternalProcess.run(
            "python3", ["-c", """
                import sys, urllib.request, urllib.error
                try:
                    r = urllib.request.urlopen("http://\(address):9253\(path)", timeout=3)
                    print(r.status); print(r.read().decode(), end="")
                except urllib.error.HTTPError as e:
                    print(e.code); print(e.read().decode(), end="")
                """])
        let lines = result.output.split(separator: "\n", maxSplits: 1, omittingEmptySubsequences: false)
        return (Int(lines.first ?? "") ?? 0, lines.count > 1 ? String(lines[1]) : "")
    }

    static func value(_ metrics: String, _ series: String) -> Double? {
        metrics.split(separator: "\n").first { $0.hasPrefix(series + " ") }.flatMap { Double($0.split(separator: " ").last ?? "") }
    }

    @Test func metricsCarryExactCountsAndReadinessFlips() async throws {
        try await DaemonEndToEndTests.withDaemon { address, port, daemon, _ in
            #expect(try await Self.get(address, "/healthz").0 == 200)
            // A known sequence: one miss, two hits, one NXDOMAIN miss, one FORMERR over UDP; one hit over TCP.
            _ = try await DaemonEndToEndTests.dig(address, port, ["+short", "www.e2e.test", "A"])
            _ = try await DaemonEndToEndTests.dig(address, port, ["+short", "www.e2e.test", "A"])
            _ = try await DaemonEndToEndTests.dig(address, port, ["+short", "www.e2e.test", "A"])
            _ = try await DaemonEndToEndTests.dig(address, port, ["+short", "nope.e2e.test", "A"])
            _ = try await DaemonEndToEndTests.dig(address, port, ["+tcp", "+short", "www.e2e.test", "A"])
            let (status, metrics) = try await Self.get(address, "/metrics")
            #expect(status == 200)
            #expect(Self.value(metrics, #"sidecache_frontend_requests_total{door="dns-udp",qtype="A",rcode="NOERROR"}"#) == 3)
            #expect(Self.value(metrics, #"sidecache_frontend_requests_total{door="dns-udp",qtype="A",rcode="NXDOMAIN"}"#) == 1)
            #expect(Self.value(metrics, #"sidecache_frontend_requests_total{door="dns-tcp",qtype="A",rcode="NOERROR"}"#) == 1)
            #expect(Self.value(metrics, "sidecache_cache_hits_total") == 3)
            #expect(Self.value(metrics, "sidecache_cache_misses_total") == 2)
            #expect(Self.value(metrics, "sidecache_cache_entries") == 2)
            // Two questions plus the loop probe went upstream.
            #expect(Self.value(metrics, "sidecache_upstream_requests_total") == 3)
            #expect(metrics.contains("sidecache_upstream_latency_seconds_count"))
            // Everything exposed is in the catalogue (and so in docs/metrics.md).
            let exposed = Set(metrics.split(separator: "\n").filter { $0.hasPrefix("# TYPE ") }.map { String($0.split(separator: " ")[2]) })
            #expect(exposed.isSubset(of: Set(SidecacheMetrics.catalogue.map(\.name))), "\(exposed)")
            // Scraping again does not double-count.
            let (_, again) = try await Self.get(address, "/metrics")
            #expect(Self.value(again, "sidecache_cache_hits_total") == 3)
            #expect(try await Self.get(address, "/readyz").0 == 200)
            let (_, stats) = try await Self.get(address, "/stats")
            #expect(stats.contains("cache hits               3"))
            // Top names: www was hit three times (two UDP, one TCP); nope only missed.
            #expect(stats.contains("top names by hits"))
            #expect(stats.contains("  3 www.e2e.test. IN A\n"), "\(stats)")
            #expect(!stats.contains("nope.e2e.test. IN A\n"))
            let (_, dump) = try await Self.get(address, "/dump")
            #expect(dump.contains("www.e2e.test. IN A positive ttl="))
            #expect(dump.contains("hits=3"))
        }
    }

    /// `sidecache check`, the exec probe, asks both doors of a running daemon; it fails for a door that is not there.
    @Test func checkAsksTheDoorsThemselves() async throws {
        try await DaemonEndToEndTests.withDaemon { address, port, daemon, _ in
            let binary = try sidecacheBinary()
            let socket = try #require(daemon.configuration.nscdSocket)
            let good = try await ExternalProcess.run(binary, ["check", "--dns", "\(address):\(port)", "--socket", socket])
            #expect(good.status == 0, "\(good.output)")
            let bad = try await ExternalProcess.run(binary, ["check", "--dns", "\(address):\(port + 1)", "--socket", socket])
            #expect(bad.status == 1, "\(bad.output)")
        }
    }

    /// `nscd -K` from root (a SHUTDOWN request over the socket) starts the same drain as SIGTERM.
    @Test func nscdShutdownFromRootDrains() async throws {
        guard getuid() == 0 else { return }
        try await DaemonEndToEndTests.withDaemon(extra: ["--lame-duck", "2s"]) { address, port, daemon, _ in
            let socket = try #require(daemon.configuration.nscdSocket)
            #expect(!daemon.isDraining)
            _ = try? await offloaded { try NSCDClient.exchange(NSCDRequest(type: .shutdown, key: []), socketPath: socket, timeoutMilliseconds: 1000) }
            try await Task.sleep(nanoseconds: 200_000_000)
            #expect(daemon.isDraining)
            #expect(try await Self.get(address, "/readyz").0 == 503)
        }
    }

    /// `sidecache stats`, `dump` and `flush [NAME]` against a running daemon.
    @Test func adminCommands() async throws {
        guard getuid() == 0 else { return }
        try await DaemonEndToEndTests.withDaemon { address, port, daemon, _ in
            let binary = try sidecacheBinary()
            let socket = try #require(daemon.configuration.nscdSocket)
            _ = try await DaemonEndToEndTests.dig(address, port, ["+short", "www.e2e.test", "A"])
            _ = try await DaemonEndToEndTests.dig(address, port, ["+short", "v4only.e2e.test", "A"])
            let stats = try await ExternalProcess.run(binary, ["stats", "--admin", "\(address):9253"])
            #expect(stats.status == 0)
            #expect(stats.output.contains("cache entries            2"), "\(stats.output)")
            let dump = try await ExternalProcess.run(binary, ["dump", "--admin", "\(address):9253"])
            #expect(dump.output.contains("www.e2e.test. IN A positive"), "\(dump.output)")
            #expect(dump.output.contains("v4only.e2e.test. IN A positive"), "\(dump.output)")
            let one = try await ExternalProcess.run(binary, ["flush", "--socket", socket, "WWW.e2e.test"])
            #expect(one.status == 0, "\(one.output)")
            let after = try await ExternalProcess.run(binary, ["dump", "--admin", "\(address):9253"])
            #expect(!after.output.contains("www.e2e.test."), "\(after.output)")
            #expect(after.output.contains("v4only.e2e.test."), "\(after.output)")
            let all = try await ExternalProcess.run(binary, ["flush", "--socket", socket])
            #expect(all.status == 0, "\(all.output)")
            #expect(daemon.cache.snapshot().entries == 0)
        }
    }

    /// With an upstream that never answers, the daemon is alive but not ready.
    @Test func notReadyUntilAnUpstreamAnswers() async throws {
        let address = randomLoopbackAddress()
        let scratch = try makeScratchDirectory("ready")
        // A port on which nobody listens: every try fails, nothing is cached.
        let configuration = try SidecacheConfiguration.resolve(
            flags: SidecacheConfiguration.parseFlags([
                "--dns-listen", "\(address):5353", "--upstream", "\(randomLoopbackAddress()):5399",
                "--nscd-socket", "\(scratch)/socket", "--hosts-file", "\(scratch)/hosts",
                "--admin-listen", "\(address):9253", "--upstream-timeout", "200ms", "--upstream-deadline", "400ms",
                "--shared-map", "off",
            ]), environment: [:])
        let daemon = try await Sidecache(configuration: configuration)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await daemon.run(signals: []) }
            defer { group.cancelAll() }
            try await Task.sleep(nanoseconds: 600_000_000)
            #expect(try await Self.get(address, "/healthz").0 == 200)
            let (status, body) = try await Self.get(address, "/readyz")
            #expect(status == 503)
            #expect(body.contains("no upstream has answered yet"))
        }
    }

    /// SIGTERM's drain: not ready at once, but every query keeps being answered through the lame-duck period.
    @Test func drainKeepsAnsweringThroughTheLameDuckPeriod() async throws {
        try await DaemonEndToEndTests.withDaemon(extra: ["--lame-duck", "3s"]) { address, port, daemon, _ in
            _ = try await DaemonEndToEndTests.dig(address, port, ["+short", "www.e2e.test", "A"])
            daemon.drain()
            try await Task.sleep(nanoseconds: 100_000_000)
            #expect(daemon.isDraining)
            #expect(try await Self.get(address, "/readyz").0 == 503)
            var failures = 0
            var answered = 0
            let started = Date()
            // A query every 10 ms for 1.2 s, well inside the 3 s lame-duck period (a dig may be slow on a busy machine).
            while Date().timeIntervalSince(started) < 1.2 {
                let output = try await DaemonEndToEndTests.dig(address, port, ["+short", "+time=1", "www.e2e.test", "A"])
                if output.contains("192.0.2.") { answered += 1 } else { failures += 1 }
                try await Task.sleep(nanoseconds: 10_000_000)
            }
            #expect(failures == 0)
            #expect(answered > 10)
        }
    }
}
