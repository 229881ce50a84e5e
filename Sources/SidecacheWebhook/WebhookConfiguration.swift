import NIOCore
import SidecacheInject

/// Every setting of `sidecache webhook`: its own (listener, certificate, limits) and the sidecar options the
/// injector needs, named as `sidecache inject` names them. Each is a flag `--name VALUE` (or `--name=VALUE`) or a
/// variable `SIDECACHE_WEBHOOK_NAME`; a flag wins over a variable. docs/kubernetes.md lists them; a test keeps the
/// list and this table in step.
public struct WebhookConfiguration: Sendable {
    /// Where the HTTPS listener binds: a numeric address and a port.
    public var listenHost = "0.0.0.0"
    public var listenPort = 8443
    public var certificatePath = "/etc/sidecache-webhook/tls/tls.crt"
    public var keyPath = "/etc/sidecache-webhook/tls/tls.key"
    /// How often the certificate files are looked at for a rotation.
    public var reloadInterval: Duration = .seconds(10)
    /// A request must arrive complete (TLS handshake included for the first) within this time of the connection's
    /// start or the previous answer, or the connection is closed: a slow or idle client holds nothing for long.
    public var requestTimeout: Duration = .seconds(10)
    /// Largest request body. The API server never sends more than 3 MiB (its own request limit).
    public var maxRequestSize = 3 << 20
    public var eventLoopThreads = 2
    /// On SIGTERM, keep serving this long while /readyz says 503, so the Service's endpoints drop this replica
    /// before it stops listening.
    public var lameDuck: Duration = .seconds(5)
    public var logLevel = "info"
    /// The sidecar the webhook injects.
    public var sidecar = SidecarOptions()

    public init() {}

    public struct Setting: Sendable {
        public var name: String
        public var help: String
        public var defaultValue: String
        /// A switch may be given as a bare `--name` (on).
        public var isSwitch = false
        let apply: @Sendable (inout WebhookConfiguration, String) throws -> Void

        public var flag: String { "--\(name)" }
        public var environmentVariable: String {
            "SIDECACHE_WEBHOOK_" + name.uppercased().replacing("-", with: "_")
        }
    }

    public static let settings: [Setting] = {
        let defaults = SidecarOptions()
        return [
            Setting(name: "listen", help: "HTTPS listener, ADDRESS:PORT ([ADDRESS]:PORT for IPv6)", defaultValue: "0.0.0.0:8443") {
                ($0.listenHost, $0.listenPort) = try address($1, "listen")
            },
            Setting(name: "tls-cert", help: "PEM certificate chain, leaf first (re-read when it changes)", defaultValue: "/etc/sidecache-webhook/tls/tls.crt") {
                $0.certificatePath = try nonEmpty($1, "tls-cert")
            },
            Setting(name: "tls-key", help: "PEM private key of the certificate (re-read when it changes)", defaultValue: "/etc/sidecache-webhook/tls/tls.key") {
                $0.keyPath = try nonEmpty($1, "tls-key")
            },
            Setting(name: "tls-reload-interval", help: "How often the certificate files are checked for a change", defaultValue: "10s") {
                $0.reloadInterval = try duration($1, "tls-reload-interval", at: .milliseconds(10) ... .seconds(3600))
            },
            Setting(name: "request-timeout", help: "Close a connection whose request is not complete this long after it opened or after the previous answer", defaultValue: "10s") {
                $0.requestTimeout = try duration($1, "request-timeout", at: .milliseconds(100) ... .seconds(600))
            },
            Setting(name: "max-request-size", help: "Largest request body; larger ones get 413", defaultValue: "3MiB") {
                guard let octets = SidecarOptions.octets($1), (1024...(64 << 20)).contains(octets) else {
                    throw invalid("max-request-size", $1, "a size from 1KiB to 64MiB like 3MiB")
                }
                $0.maxRequestSize = octets
            },
            Setting(name: "event-loop-threads", help: "Event-loop threads of the webhook", defaultValue: "2") {
                $0.eventLoopThreads = try integer($1, "event-loop-threads", in: 1...64)
            },
            Setting(name: "lame-duck", help: "On SIGTERM, keep serving this long (reporting not ready) before closing", defaultValue: "5s") {
                $0.lameDuck = try duration($1, "lame-duck", at: .zero ... .seconds(300))
            },
            Setting(name: "log-level", help: "trace, debug, info, notice, warning, error or critical", defaultValue: "info") {
                guard ["trace", "debug", "info", "notice", "warning", "error", "critical"].contains($1) else {
                    throw invalid("log-level", $1, "one of trace, debug, info, notice, warning, error, critical")
                }
                $0.logLevel = $1
            },
            Setting(name: "upstream", help: "The cluster DNS (kube-dns service IP) the sidecar forwards to, ADDRESS[:PORT][,...]. Required", defaultValue: "none") {
                $0.sidecar.upstreams = $1.split(separator: ",").map(String.init)
            },
            Setting(name: "image", help: "The sidecache image", defaultValue: defaults.image) { $0.sidecar.image = try nonEmpty($1, "image") },
            Setting(name: "image-pull-policy", help: "imagePullPolicy of the sidecar", defaultValue: defaults.imagePullPolicy) {
                guard ["Always", "IfNotPresent", "Never"].contains($1) else {
                    throw invalid("image-pull-policy", $1, "Always, IfNotPresent or Never")
                }
                $0.sidecar.imagePullPolicy = $1
            },
            Setting(name: "mode", help: "native (restartable init container, Kubernetes >= 1.29) or classic", defaultValue: defaults.mode.rawValue) {
                guard let mode = SidecarOptions.Mode(rawValue: $1) else { throw invalid("mode", $1, "native or classic") }
                $0.sidecar.mode = mode
            },
            Setting(name: "cluster-domain", help: "The cluster domain of the DNS search list", defaultValue: defaults.clusterDomain) {
                $0.sidecar.clusterDomain = $1
            },
            Setting(name: "ndots", help: "resolv.conf ndots for the pod, unless its dnsConfig sets one", defaultValue: String(defaults.ndots)) {
                $0.sidecar.ndots = try integer($1, "ndots", in: 0...15)
            },
            Setting(name: "requests", help: "Sidecar resource requests, NAME=QUANTITY,... ('none' for no requests)", defaultValue: "cpu=10m,memory=32Mi") {
                guard let values = SidecarOptions.quantities($1) else { throw invalid("requests", $1, "NAME=QUANTITY,... like cpu=10m,memory=32Mi") }
                $0.sidecar.requests = values
            },
            Setting(name: "limits", help: "Sidecar resource limits, NAME=QUANTITY,... ('none' for no limits)", defaultValue: "memory=64Mi") {
                guard let values = SidecarOptions.quantities($1) else { throw invalid("limits", $1, "NAME=QUANTITY,... like memory=64Mi") }
                $0.sidecar.limits = values
            },
            Setting(name: "admin-port", help: "Port of the sidecar's admin listener (metrics, probes)", defaultValue: String(defaults.adminPort)) {
                $0.sidecar.adminPort = try integer($1, "admin-port", in: 1...65535)
            },
            Setting(name: "threads", help: "Event-loop threads of the sidecar (SIDECACHE_THREADS)", defaultValue: String(defaults.threads)) {
                $0.sidecar.threads = try integer($1, "threads", in: 1...64)
            },
            Setting(name: "cache-size", help: "Cache memory budget of the sidecar (SIDECACHE_CACHE_SIZE)", defaultValue: defaults.cacheSize ?? "16MiB") {
                $0.sidecar.cacheSize = $1
            },
            Setting(name: "negative-cache-size", help: "Part of the sidecar's cache for NXDOMAIN/NODATA; default: the daemon's quarter of cache-size", defaultValue: "none") {
                $0.sidecar.negativeCacheSize = $1 == "none" ? nil : $1
            },
            Setting(name: "prometheus-annotations", help: "Add prometheus.io/scrape, /port and /path annotations to pods that have none (on/off)", defaultValue: "off", isSwitch: true) {
                $0.sidecar.prometheusAnnotations = try boolean($1, "prometheus-annotations")
            },
        ]
    }()

    /// Flags first, then the variables of the settings no flag named, then the defaults. Throws an
    /// `invalidSetting` error naming the setting.
    public static func resolve(arguments: [String], environment: [String: String]) throws -> WebhookConfiguration {
        var given: [(Setting, String)] = []
        var index = 0
        while index < arguments.count {
            let argument = arguments[index]
            index += 1
            guard argument.hasPrefix("--") else {
                throw WebhookError(.invalidSetting, "unexpected argument '\(argument)': settings are --name VALUE (sidecache webhook --help)")
            }
            var name = String(argument.dropFirst(2))
            var value: String?
            if let equals = name.firstIndex(of: "=") {
                value = String(name[name.index(after: equals)...])
                name = String(name[..<equals])
            }
            guard let setting = settings.first(where: { $0.name == name }) else {
                throw WebhookError(.invalidSetting, "unknown setting --\(name) (sidecache webhook --help lists them)")
            }
            if value == nil {
                if setting.isSwitch {
                    value = "on"
                } else {
                    guard index < arguments.count else { throw WebhookError(.invalidSetting, "--\(name) needs a value") }
                    value = arguments[index]
                    index += 1
                }
            }
            given.append((setting, value!))
        }
        var configuration = WebhookConfiguration()
        for setting in settings where !given.contains(where: { $0.0.name == setting.name }) {
            if let value = environment[setting.environmentVariable] {
                try setting.apply(&configuration, value)
            }
        }
        for (setting, value) in given { try setting.apply(&configuration, value) }
        return configuration
    }

    static func invalid(_ name: String, _ value: String, _ wanted: String) -> WebhookError {
        WebhookError(.invalidSetting, "invalid setting \(name): '\(value)' is not \(wanted)")
    }

    static func nonEmpty(_ value: String, _ name: String) throws -> String {
        guard !value.isEmpty else { throw WebhookError(.invalidSetting, "invalid setting \(name): empty") }
        return value
    }

    static func integer(_ value: String, _ name: String, in range: ClosedRange<Int>) throws -> Int {
        guard let number = Int(value), range.contains(number) else {
            throw invalid(name, value, "a whole number from \(range.lowerBound) to \(range.upperBound)")
        }
        return number
    }

    static func boolean(_ value: String, _ name: String) throws -> Bool {
        switch value.lowercased() {
        case "on", "true", "yes", "1": return true
        case "off", "false", "no", "0": return false
        default: throw invalid(name, value, "on or off")
        }
    }

    /// `1500ms`, `10s`, `1m` or plain seconds.
    static func duration(_ value: String, _ name: String, at range: ClosedRange<Duration>) throws -> Duration {
        let parsed: Duration?
        if value.hasSuffix("ms") {
            parsed = Int(value.dropLast(2)).map { .milliseconds($0) }
        } else if value.hasSuffix("s") {
            parsed = Int(value.dropLast()).map { .seconds($0) }
        } else if value.hasSuffix("m") {
            parsed = Int(value.dropLast()).map { .seconds($0 * 60) }
        } else {
            parsed = Int(value).map { .seconds($0) }
        }
        guard let parsed, range.contains(parsed) else {
            throw invalid(name, value, "a duration from \(range.lowerBound) to \(range.upperBound) like 10s or 1500ms")
        }
        return parsed
    }

    /// `0.0.0.0:8443`, `127.0.0.1:8443`, `[::]:8443`; numeric addresses only, as everywhere in sidecache.
    static func address(_ value: String, _ name: String) throws -> (String, Int) {
        var host: Substring
        var port: Substring
        if value.hasPrefix("["), let close = value.firstIndex(of: "]"),
            value[value.index(after: close)...].hasPrefix(":")
        {
            host = value[value.index(after: value.startIndex)..<close]
            port = value[value.index(close, offsetBy: 2)...]
        } else if let colon = value.lastIndex(of: ":"), !value[..<colon].contains(":") {
            host = value[..<colon]
            port = value[value.index(after: colon)...]
        } else {
            throw invalid(name, value, "ADDRESS:PORT like 0.0.0.0:8443 or [::]:8443")
        }
        guard let number = Int(port), (1...65535).contains(number), !host.isEmpty else {
            throw invalid(name, value, "ADDRESS:PORT with a port from 1 to 65535")
        }
        guard (try? SocketAddress(ipAddress: String(host), port: number)) != nil else {
            throw invalid(name, value, "ADDRESS:PORT with a numeric IPv4 or IPv6 address")
        }
        return (String(host), number)
    }
}
