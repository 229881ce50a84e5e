/// Everything `sidecache inject` can vary about the sidecar it adds. The defaults are the ones docs/kubernetes.md
/// explains (and sidecar-yaml/ shows); only the upstream has none, because the kube-dns service IP differs between
/// clusters and guessing it wrong would send every lookup nowhere.
public struct SidecarOptions: Sendable, Equatable {
    /// How the sidecar runs next to the application.
    public enum Mode: String, Sendable, CaseIterable {
        /// A restartable init container (`restartPolicy: Always`, Kubernetes >= 1.29): started and ready before the
        /// application containers, stopped after them.
        case native
        /// A regular container, for clusters older than 1.29: starts alongside the application (a postStart hook
        /// holds the next container back until the doors answer) and gets SIGTERM at the same moment.
        case classic
    }

    /// The sidecache image.
    public var image = "sidecache:latest"
    public var imagePullPolicy = "IfNotPresent"
    /// The cluster DNS (the kube-dns service IP), ADDRESS[:PORT], one or more. Never 127.0.0.0/8 or ::1: in the pod
    /// those addresses are sidecache itself.
    public var upstreams: [String] = []
    /// The cluster domain of the search list: `<namespace>.svc.<domain> svc.<domain> <domain>`.
    public var clusterDomain = "cluster.local"
    /// The namespace for the search list of documents whose metadata names none.
    public var namespace: String?
    /// resolv.conf `ndots`, Kubernetes' own default for ClusterFirst pods.
    public var ndots = 5
    public var mode: Mode = .native
    /// Container resources, e.g. `["cpu": "10m", "memory": "32Mi"]`; an empty map leaves the field out.
    public var requests: [String: String] = ["cpu": "10m", "memory": "32Mi"]
    public var limits: [String: String] = ["memory": "64Mi"]
    /// The admin listener's port on 0.0.0.0 (metrics and the readiness and liveness probes).
    public var adminPort = 9253
    /// `SIDECACHE_THREADS`: event-loop threads. One is plenty for one pod, and the daemon's default (one per core)
    /// would count the node's cores, not the pod's CPU limit.
    public var threads = 1
    /// `SIDECACHE_CACHE_SIZE`, or nil for the daemon's default (16MiB). 8MiB holds some 80 000 answers, far more
    /// names than one pod resolves, and keeps the full cache's RSS (51 MiB measured) under the 64Mi limit; the
    /// daemon's 16MiB would need about 90Mi (docs/kubernetes.md, Sizing).
    public var cacheSize: String? = "8MiB"
    /// `SIDECACHE_NEGATIVE_CACHE_SIZE`. The daemon sets this share aside for negative answers out of the cache size
    /// (positive answers get the rest), so when only `cacheSize` is given, a quarter of it is used here: the
    /// daemon's default of 4MiB would leave nothing for positive answers in a 4MiB cache.
    public var negativeCacheSize: String?
    /// Add `prometheus.io/scrape`, `/port` and `/path` annotations to the pod template (when it has none).
    public var prometheusAnnotations = false

    public init() {}

    /// The negative share written to the pod: the one given, or a quarter of the cache size, or nil (no cache
    /// size given either: the daemon's defaults). nil also when the cache size is not a size this can divide.
    var effectiveNegativeCacheSize: String? {
        if let negativeCacheSize { return negativeCacheSize }
        guard let cacheSize, let bytes = Self.octets(cacheSize) else { return nil }
        let quarter = bytes / 4
        if quarter % (1 << 20) == 0 { return "\(quarter >> 20)MiB" }
        if quarter % (1 << 10) == 0 { return "\(quarter >> 10)KiB" }
        return String(quarter)
    }

    /// `16MiB`, `512KiB` or plain octets, as the daemon reads sizes.
    static func octets(_ text: String) -> Int? {
        for (suffix, scale) in [("MiB", 1 << 20), ("KiB", 1 << 10)] where text.hasSuffix(suffix) {
            return Int(text.dropLast(suffix.count)).map { $0 * scale }
        }
        return Int(text)
    }

    /// How long the daemon keeps answering after SIGTERM. A native sidecar is stopped only after every application
    /// container has exited, so nobody is left to answer; a classic one is stopped together with the application,
    /// which may still resolve names while it shuts down.
    public var lameDuck: String { mode == .native ? "0s" : "5s" }
}
