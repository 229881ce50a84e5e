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
    /// `SIDECACHE_CACHE_SIZE`, or nil to leave it out (the daemon's default, 16MiB). The budget counts each entry's
    /// heap overhead, so a full 16MiB cache measured 35 MiB RSS: under the 64Mi limit with the shared map's 8 MiB
    /// (docs/kubernetes.md, Sizing). Written out so that the pod says what it runs with.
    public var cacheSize: String? = "16MiB"
    /// `SIDECACHE_NEGATIVE_CACHE_SIZE`, or nil for the daemon's default: a quarter of the cache size.
    public var negativeCacheSize: String?
    /// Add `prometheus.io/scrape`, `/port` and `/path` annotations to the pod template (when it has none).
    public var prometheusAnnotations = false

    public init() {}

    /// `16MiB`, `512KiB` or plain octets, as the daemon reads sizes; nil for anything else.
    public static func octets(_ text: String) -> Int? {
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
