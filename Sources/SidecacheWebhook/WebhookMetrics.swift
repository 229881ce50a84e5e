import MetricCatalogue
import Prometheus

/// The webhook's metrics, straight into a Prometheus registry of its own (one per server, so tests can run several
/// in one process), as the daemon's: a counter per result, a duration histogram, a gauge. Every metric is listed in `WebhookMetrics.catalogue` and in docs/metrics.md's webhook table; a
/// test keeps them in step and lints the names as the daemon's are.
public final class WebhookMetrics: Sendable {
    public typealias Metric = MetricDescription

    public static let catalogue: [Metric] = [
        Metric(name: "sidecache_webhook_requests_total", kind: .counter, labels: ["result"],
            help: "AdmissionReviews answered, by result: patched, skipped, error (allowed unchanged), rejected (HTTP 4xx)"),
        Metric(name: "sidecache_webhook_request_duration_seconds", kind: .histogram, labels: [],
            help: "Time from a complete POST /mutate body to its answer"),
        Metric(name: "sidecache_webhook_timeouts_total", kind: .counter, labels: [],
            help: "Connections closed because a request did not arrive complete within --request-timeout"),
        Metric(name: "sidecache_webhook_certificate_reloads_total", kind: .counter, labels: ["result"],
            help: "Changed certificate files read: success (new connections use them) or failure (old pair kept)"),
        Metric(name: "sidecache_webhook_certificate_expiry_timestamp_seconds", kind: .gauge, labels: [],
            help: "notAfter of the serving certificate, Unix time"),
    ]

    public let registry: PrometheusCollectorRegistry
    private let requests: [AdmissionResult: Counter]
    private let duration: DurationHistogram
    private let timeouts: Counter
    private let reloads: [Bool: Counter]
    private let expiry: Gauge

    public init() {
        // The full name as the metric name (the catalogue holds full names); the help text from the catalogue.
        func help(_ name: String) -> MetricNameDescriptor {
            MetricNameDescriptor(metricName: name, unitName: "", helpText: Self.catalogue.first { $0.name == name }!.help)
        }
        let registry = PrometheusCollectorRegistry()
        self.registry = registry
        let requestsName = "sidecache_webhook_requests_total"
        requests = Dictionary(uniqueKeysWithValues: AdmissionResult.allCases.map { result in
            (result, registry.makeCounter(descriptor: help(requestsName), labels: [("result", result.rawValue)]))
        })
        let durationName = "sidecache_webhook_request_duration_seconds"
        duration = registry.makeDurationHistogram(
            descriptor: help(durationName),
            buckets: [
                .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10),
                .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(1000),
            ])
        let timeoutsName = "sidecache_webhook_timeouts_total"
        timeouts = registry.makeCounter(descriptor: help(timeoutsName))
        let reloadsName = "sidecache_webhook_certificate_reloads_total"
        reloads = [
            true: registry.makeCounter(descriptor: help(reloadsName), labels: [("result", "success")]),
            false: registry.makeCounter(descriptor: help(reloadsName), labels: [("result", "failure")]),
        ]
        let expiryName = "sidecache_webhook_certificate_expiry_timestamp_seconds"
        expiry = registry.makeGauge(descriptor: help(expiryName))
    }

    func recordRequest(_ result: AdmissionResult, duration elapsed: Duration?) {
        requests[result]!.increment()
        if let elapsed { duration.record(elapsed) }
    }

    func recordTimeout() { timeouts.increment() }

    func recordReload(success: Bool) { reloads[success]!.increment() }

    func recordExpiry(_ notValidAfter: Int) { expiry.set(Double(notValidAfter)) }

    /// The Prometheus text exposition.
    public func exposition() -> [UInt8] { registry.emitToBuffer() }
}
