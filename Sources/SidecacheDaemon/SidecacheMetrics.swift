import CoreMetrics
import DNSCache
import DNSForwarder
import DNSFrontend
import MetricCatalogue
import NSCDFrontend
import NSCDWire
import Prometheus
import Synchronization

/// The daemon's metrics, through swift-metrics into a Prometheus registry of its own (so tests can run several
/// daemons in one process). The components count with plain atomics on their hot paths; `collect()` brings those
/// counts into the registry when /metrics is scraped. Upstream latency goes straight into a histogram.
///
/// Every metric is listed in `SidecacheMetrics.catalogue` and in docs/metrics.md; a test keeps them in step.
public final class SidecacheMetrics: Sendable {
    public typealias Metric = MetricDescription

    public static let catalogue: [Metric] = [
        Metric(name: "sidecache_frontend_requests_total", kind: .counter, labels: ["door", "qtype", "rcode"],
            help: "Replies by door (dns-udp, dns-tcp, nscd), question type (nscd: request type) and RCODE (nscd: outcome)"),
        Metric(name: "sidecache_frontend_dropped_total", kind: .counter, labels: ["door"],
            help: "Messages dropped without a reply (responses, runts, datagrams over 4096 octets, malformed nscd requests) and UDP replies the kernel would not take (send buffer full)"),
        Metric(name: "sidecache_frontend_tcp_connections", kind: .gauge, labels: [], help: "Open client TCP connections"),
        Metric(name: "sidecache_cache_hits_total", kind: .counter, labels: [], help: "Answers served fresh from the cache"),
        Metric(name: "sidecache_cache_misses_total", kind: .counter, labels: [], help: "Lookups not answered fresh from the cache"),
        Metric(name: "sidecache_cache_stale_served_total", kind: .counter, labels: [], help: "Stale answers served (RFC 8767)"),
        Metric(name: "sidecache_cache_prefetches_total", kind: .counter, labels: [], help: "Background refreshes started"),
        Metric(name: "sidecache_cache_coalesced_total", kind: .counter, labels: [], help: "Misses that joined an upstream query in flight"),
        Metric(name: "sidecache_cache_evictions_total", kind: .counter, labels: [], help: "Entries evicted to stay within the budget"),
        Metric(name: "sidecache_cache_overloaded_total", kind: .counter, labels: [], help: "Misses refused: waiter or in-flight limit"),
        Metric(name: "sidecache_cache_entries", kind: .gauge, labels: [], help: "Entries held"),
        Metric(name: "sidecache_cache_bytes", kind: .gauge, labels: ["kind"], help: "Bytes charged, positive and negative"),
        Metric(name: "sidecache_upstream_requests_total", kind: .counter, labels: [], help: "Queries sent upstream, every try counted"),
        Metric(name: "sidecache_upstream_errors_total", kind: .counter, labels: ["kind"],
            help: "Upstream failures and dropped replies by kind"),
        Metric(name: "sidecache_upstream_latency_seconds", kind: .histogram, labels: ["upstream"],
            help: "Latency of answered tries per upstream"),
        Metric(name: "sidecache_nscd_requests_total", kind: .counter, labels: ["type"], help: "nscd requests by type"),
        Metric(name: "sidecache_nscd_fallbacks_total", kind: .counter, labels: [],
            help: "nscd requests closed without an answer so glibc resolves by itself (temporary failure, overload)"),
        Metric(name: "sidecache_nscd_map_publishes_total", kind: .counter, labels: [],
            help: "Records written into the shared hosts map (new, changed, rotated, rewritten by a swap)"),
        Metric(name: "sidecache_nscd_map_flips_total", kind: .counter, labels: [],
            help: "Shared-map records made unusable at their deadline (or by a flush)"),
        Metric(name: "sidecache_nscd_map_rotations_total", kind: .counter, labels: [],
            help: "Shared-map records republished in the next address order"),
        Metric(name: "sidecache_nscd_map_swaps_total", kind: .counter, labels: ["kind"],
            help: "Shared-map reclamations: generation (new file) or compaction (in place)"),
        Metric(name: "sidecache_nscd_map_fd_served_total", kind: .counter, labels: [],
            help: "GETFDHST requests answered with the map's descriptor"),
        Metric(name: "sidecache_nscd_map_refused_total", kind: .counter, labels: [],
            help: "New names not put in the shared map because its live share was full"),
        Metric(name: "sidecache_nscd_map_bytes", kind: .gauge, labels: ["kind"],
            help: "Shared-map data area: live records and used (live plus garbage awaiting a swap)"),
    ]

    public let registry: PrometheusCollectorRegistry
    let factory: PrometheusMetricsFactory
    private let last = Mutex<[String: Int]>([:])
    private let counters = Mutex<[String: CoreMetrics.Counter]>([:])
    private let latency = Mutex<[String: CoreMetrics.Timer]>([:])

    init() {
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.durationHistogramBuckets["sidecache_upstream_latency_seconds"] = [
            .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10),
            .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500),
            .seconds(1), .seconds(2.5),
        ]
        self.registry = registry
        self.factory = factory
    }

    /// Records one upstream try's latency (called by the forwarder).
    func recordLatency(upstream: UpstreamAddress, nanoseconds: Int64) {
        let name = upstream.description
        let timer = latency.withLock { timers in
            if let timer = timers[name] { return timer }
            let timer = CoreMetrics.Timer(
                label: "sidecache_upstream_latency_seconds", dimensions: [("upstream", name)], factory: factory)
            timers[name] = timer
            return timer
        }
        timer.recordNanoseconds(nanoseconds)
    }

    /// Brings a monotonically growing count into its Prometheus counter.
    private func count(_ name: String, _ labels: [(String, String)] = [], _ value: Int) {
        let key = name + labels.map { "|\($0.0)=\($0.1)" }.joined()
        let delta: Int = last.withLock { last in
            defer { last[key] = value }
            return value - (last[key] ?? 0)
        }
        guard delta > 0 else { return }
        let counter = counters.withLock { counters in
            if let counter = counters[key] { return counter }
            let counter = CoreMetrics.Counter(label: name, dimensions: labels, factory: factory)
            counters[key] = counter
            return counter
        }
        counter.increment(by: Int64(delta))
    }

    private func gauge(_ name: String, _ labels: [(String, String)] = [], _ value: Int) {
        CoreMetrics.Gauge(label: name, dimensions: labels, factory: factory).record(Double(value))
    }

    /// Reads every component's counters into the registry.
    func collect(cache: ResponseCache, forwarder: DNSForwarder, door: DNSDoor, nscd: NSCDDoor?) {
        for row in door.statistics.replies.rows() {
            count("sidecache_frontend_requests_total",
                [("door", "dns-" + row.transport), ("qtype", row.type), ("rcode", row.rcode)], row.count)
        }
        count("sidecache_frontend_dropped_total", [("door", "dns")], door.statistics.dropped.load(ordering: .relaxed))
        gauge("sidecache_frontend_tcp_connections", [], door.statistics.tcpConnections.load(ordering: .relaxed))
        let snapshot = cache.snapshot()
        count("sidecache_cache_hits_total", [], snapshot.hits)
        count("sidecache_cache_misses_total", [], snapshot.misses)
        count("sidecache_cache_stale_served_total", [], snapshot.staleServed)
        count("sidecache_cache_prefetches_total", [], snapshot.prefetches)
        count("sidecache_cache_coalesced_total", [], snapshot.coalesced)
        count("sidecache_cache_evictions_total", [], snapshot.evictions)
        count("sidecache_cache_overloaded_total", [], snapshot.overloaded)
        gauge("sidecache_cache_entries", [], snapshot.entries)
        gauge("sidecache_cache_bytes", [("kind", "positive")], snapshot.bytes - snapshot.negativeBytes)
        gauge("sidecache_cache_bytes", [("kind", "negative")], snapshot.negativeBytes)
        let upstream = forwarder.statistics
        count("sidecache_upstream_requests_total", [], upstream.queriesSent.load(ordering: .relaxed))
        for (kind, value) in [
            ("timeout", upstream.timeouts.load(ordering: .relaxed)), ("network", upstream.networkErrors.load(ordering: .relaxed)),
            ("wrong_id", upstream.droppedWrongID.load(ordering: .relaxed)),
            ("wrong_question", upstream.droppedWrongQuestion.load(ordering: .relaxed)),
            ("wrong_source", upstream.droppedWrongSource.load(ordering: .relaxed)),
            ("malformed", upstream.droppedMalformed.load(ordering: .relaxed)),
            ("truncated_retry", upstream.truncatedRetries.load(ordering: .relaxed)),
        ] as [(String, Int)] {
            count("sidecache_upstream_errors_total", [("kind", kind)], value)
        }
        if let nscd {
            for (type, value) in nscd.statistics.requests() {
                count("sidecache_nscd_requests_total", [("type", type.description)], value)
            }
            count("sidecache_nscd_fallbacks_total", [], nscd.statistics.fallbacks.load(ordering: .relaxed))
            count("sidecache_frontend_dropped_total", [("door", "nscd")], nscd.statistics.malformed.load(ordering: .relaxed))
            if let map = nscd.sharedMap {
                let stats = map.statistics
                count("sidecache_nscd_map_publishes_total", [], stats.publishes.load(ordering: .relaxed))
                count("sidecache_nscd_map_flips_total", [], stats.flips.load(ordering: .relaxed))
                count("sidecache_nscd_map_rotations_total", [], stats.rotations.load(ordering: .relaxed))
                count("sidecache_nscd_map_swaps_total", [("kind", "generation")], stats.swaps.load(ordering: .relaxed))
                count("sidecache_nscd_map_swaps_total", [("kind", "compaction")], stats.compactions.load(ordering: .relaxed))
                count("sidecache_nscd_map_fd_served_total", [], stats.handouts.load(ordering: .relaxed))
                count("sidecache_nscd_map_refused_total", [], stats.refusedFull.load(ordering: .relaxed))
                let usage = map.usage()
                gauge("sidecache_nscd_map_bytes", [("kind", "live")], usage.liveBytes)
                gauge("sidecache_nscd_map_bytes", [("kind", "used")], usage.usedBytes)
            }
        }
    }
}
