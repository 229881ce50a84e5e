import AdminHTTP
import DNSCache
import DNSForwarder
import DNSFrontend
import NIOHTTP1
import NSCDFrontend

/// What the admin listener answers.
///
/// - `GET /metrics`: Prometheus text format (docs/metrics.md).
/// - `GET /healthz`: 200 while the process runs.
/// - `GET /readyz`: 200 when the doors are bound and the upstream has answered at least once (or the cache has
///   something to serve), 503 otherwise and while draining.
/// - `GET /stats`: counters in the manner of `nscd -g`.
/// - `GET /dump`: every cache entry with its remaining TTL.
struct AdminRoutes: Sendable {
    let cache: ResponseCache
    let forwarder: DNSForwarder
    let door: DNSDoor
    let nscd: NSCDDoor?
    let metrics: SidecacheMetrics
    let state: DaemonState

    /// Why the daemon is not ready, or nil when it is.
    var notReadyReason: String? {
        if state.draining.load(ordering: .acquiring) { return "draining" }
        if door.boundAddresses.isEmpty { return "DNS door not bound" }
        if forwarder.loopDetected { return "forwarding loop detected" }
        if !forwarder.hasAnswered && cache.snapshot().entries == 0 { return "no upstream has answered yet" }
        return nil
    }

    func respond(_ method: HTTPMethod, _ path: String, _ query: String) -> AdminResponse {
        guard method == .GET || method == .HEAD else {
            return AdminResponse(status: .methodNotAllowed, text: "only GET\n")
        }
        switch path {
        case "/metrics":
            metrics.collect(cache: cache, forwarder: forwarder, door: door, nscd: nscd)
            return AdminResponse(
                contentType: "text/plain; version=0.0.4; charset=utf-8", body: metrics.registry.emitToBuffer())
        case "/healthz":
            return AdminResponse(text: "ok\n")
        case "/readyz":
            if let reason = notReadyReason { return AdminResponse(status: .serviceUnavailable, text: "not ready: \(reason)\n") }
            return AdminResponse(text: "ready\n")
        case "/stats":
            return AdminResponse(text: statistics())
        case "/dump":
            let lines = cache.dump().sorted { ($0.key.description, $0.remainingTTL) < ($1.key.description, $1.remainingTTL) }
                .map { "\($0.key) \($0.replyClass.rawValue) ttl=\($0.remainingTTL)\($0.stale ? " stale" : "") bytes=\($0.bytes) hits=\($0.hits)" }
            return AdminResponse(text: lines.joined(separator: "\n") + (lines.isEmpty ? "" : "\n"))
        default:
            return AdminResponse(status: .notFound, text: "not found: \(path)\n")
        }
    }

    func statistics() -> String {
        let c = cache.snapshot()
        let lookups = c.hits + c.misses
        let ratio = lookups == 0 ? 0 : Double(c.hits) * 100 / Double(lookups)
        var lines = [
            "cache entries            \(c.entries)",
            "cache bytes              \(c.bytes) (negative \(c.negativeBytes))",
            "cache hits               \(c.hits)",
            "cache misses             \(c.misses)",
            "cache hit rate           \(Int(ratio.rounded()))%",
            "stale answers served     \(c.staleServed)",
            "prefetches               \(c.prefetches)",
            "coalesced misses         \(c.coalesced)",
            "evictions                \(c.evictions)",
            "upstream queries         \(forwarder.statistics.queriesSent.load(ordering: .relaxed))",
            "upstream timeouts        \(forwarder.statistics.timeouts.load(ordering: .relaxed))",
            "upstreams down           \(forwarder.downUpstreams().map(\.description))",
            "dns queries udp/tcp      \(door.statistics.udpQueries.load(ordering: .relaxed))/\(door.statistics.tcpQueries.load(ordering: .relaxed))",
        ]
        let top = cache.dump().filter { $0.hits > 0 }.sorted { ($1.hits, $0.key.description) < ($0.hits, $1.key.description) }
            .prefix(10)
        lines.append("top names by hits        \(top.isEmpty ? "none yet" : "")")
        for entry in top {
            lines.append("  \(entry.hits == 65535 ? "65535+" : String(entry.hits)) \(entry.key)")
        }
        if let nscd {
            let requests = nscd.statistics.requests().map { "\($0.key)=\($0.value)" }.sorted().joined(separator: " ")
            lines.append("nscd requests            \(requests)")
            lines.append("nscd fallbacks           \(nscd.statistics.fallbacks.load(ordering: .relaxed))")
        }
        lines.append("ready                    \(notReadyReason.map { "no (\($0))" } ?? "yes")")
        return lines.joined(separator: "\n") + "\n"
    }
}
