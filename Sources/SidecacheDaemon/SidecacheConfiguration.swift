import DNSCache
import DNSForwarder
import DNSFrontend
import Logging
import NIOCore
import ResolverConfiguration
import NSCDSharedMap

/// Every setting of the daemon, with its default. Each one can be given as a flag (`--name value`) or an
/// environment variable (`SIDECACHE_NAME`); a flag wins over the environment. `docs/configuration.md` lists them.
public struct SidecacheConfiguration: Sendable {
    /// Upstream servers; empty means "the nameservers of `resolvConf`, less our own addresses".
    public var upstreams: [UpstreamAddress] = []
    public var dnsListen: [UpstreamAddress] = [UpstreamAddress(host: "127.0.0.1", port: 53), UpstreamAddress(host: "::1", port: 53)]
    /// True when `dnsListen` is the default (then an address family the host lacks is skipped, not fatal).
    public var dnsListenIsDefault = true
    public var resolvConf = "/etc/resolv.conf"
    /// The nscd socket; nil turns the nscd door off.
    public var nscdSocket: String? = "/var/run/nscd/socket"
    public var hostsFile = "/etc/hosts"
    /// The shared-memory hosts map for glibc clients (GETFDHST); nil turns it off.
    public var sharedMap: SharedMapConfiguration? = SharedMapConfiguration()
    /// The admin listener (/metrics, /healthz, /readyz, /stats, /dump); nil turns it off.
    public var adminListen: UpstreamAddress? = UpstreamAddress(host: "127.0.0.1", port: 9253)
    /// On SIGTERM, how long to keep answering (reporting not-ready) before the doors close.
    public var lameDuck: TimeAmount = .seconds(5)
    public var logLevel: Logger.Level = .info
    public var threads = 0
    public var cache = CacheConfiguration()
    /// nil: not set, so resolv.conf's `options rotate` may choose round-robin (else sequential).
    public var upstreamPolicy: UpstreamPolicy? = nil
    /// nil: not set, so resolv.conf's `options use-vc` may choose TCP (else UDP).
    public var forceTCP: Bool? = nil
    public var upstreamTimeout: TimeAmount = .milliseconds(1500)
    public var upstreamDeadline: TimeAmount = .milliseconds(3500)
    public var upstreamTCPConnections = 2
    public var maximumUDPResponseSize = 1232
    public var tcpIdleTimeout: TimeAmount = .seconds(10)
    public var maximumTCPConnections = 4096
    /// The config file the settings were read from, if any (flags and environment win over it).
    public var configFile: String? = nil
    /// Where each setting that is not at its default came from: "flag", "environment" or "FILE:LINE".
    public var origins: [String: String] = [:]

    public init() {}
}

/// An invalid setting: names the setting and says why.
public struct ConfigurationError: Error, CustomStringConvertible, Hashable {
    public var setting: String
    public var reason: String
    public init(setting: String, reason: String) {
        self.setting = setting
        self.reason = reason
    }
    public var description: String { "invalid setting \(setting): \(reason)" }
}

/// One setting: its name, where it comes from, its default and how it applies.
public struct Setting: Sendable {
    public let name: String
    public let repeatable: Bool
    public let defaultValue: String
    public let help: String
    let apply: @Sendable (inout SidecacheConfiguration, [String]) throws -> Void

    public var flag: String { "--\(name)" }
    public var environmentVariable: String {
        "SIDECACHE_" + String(name.uppercased().map { $0 == "-" ? "_" : $0 })
    }
}

extension SidecacheConfiguration {
    static func single(_ name: String, _ values: [String]) throws -> String {
        guard values.count == 1, let value = values.first else {
            throw ConfigurationError(setting: name, reason: "takes one value, got \(values.count)")
        }
        return value
    }

    static func integer(_ name: String, _ values: [String], in range: ClosedRange<Int>) throws -> Int {
        let text = try single(name, values)
        guard let value = Int(text), range.contains(value) else {
            throw ConfigurationError(setting: name, reason: "'\(text)' is not a whole number in \(range.lowerBound)...\(range.upperBound)")
        }
        return value
    }

    static func boolean(_ name: String, _ values: [String]) throws -> Bool {
        switch try single(name, values).lowercased() {
        case "true", "yes", "on", "1": return true
        case "false", "no", "off", "0": return false
        case let other: throw ConfigurationError(setting: name, reason: "'\(other)' is not on/off (true/false, yes/no, 1/0)")
        }
    }

    /// A duration: `1500ms`, `2s`, `1m`, or a plain number of seconds.
    static func duration(_ name: String, _ values: [String], minimum: TimeAmount = .zero) throws -> TimeAmount {
        let text = try single(name, values)
        let units: [(String, Double)] = [("ms", 1e6), ("s", 1e9), ("m", 60e9), ("h", 3600e9)]
        var amount: TimeAmount? = nil
        for (suffix, scale) in units where text.hasSuffix(suffix) {
            if let number = Double(text.dropLast(suffix.count)), number >= 0, number.isFinite {
                amount = .nanoseconds(Int64(number * scale))
            }
            break
        }
        if amount == nil, let number = Double(text), number >= 0, number.isFinite {
            amount = .nanoseconds(Int64(number * 1e9))
        }
        guard let amount, amount >= minimum else {
            throw ConfigurationError(setting: name, reason: "'\(text)' is not a duration like 1500ms, 2s or 1m"
                + (minimum > .zero ? " of at least \(minimum)" : ""))
        }
        return amount
    }

    /// A size in bytes: `16MiB`, `512KiB`, `1048576`.
    static func bytes(_ name: String, _ values: [String]) throws -> Int {
        let text = try single(name, values)
        let units: [(String, Int)] = [("KiB", 1 << 10), ("MiB", 1 << 20), ("GiB", 1 << 30), ("K", 1 << 10), ("M", 1 << 20), ("G", 1 << 30)]
        for (suffix, scale) in units where text.hasSuffix(suffix) {
            if let number = Int(text.dropLast(suffix.count)), number >= 0 { return number * scale }
            break
        }
        if let number = Int(text), number >= 0 { return number }
        throw ConfigurationError(setting: name, reason: "'\(text)' is not a size like 16MiB, 512KiB or 1048576")
    }

    static func seconds(_ name: String, _ values: [String], maximum: Int = Int(Int32.max)) throws -> UInt32 {
        UInt32(try integer(name, values, in: 0...maximum))
    }

    static func addresses(_ name: String, _ values: [String]) throws -> [UpstreamAddress] {
        try values.flatMap { $0.split(separator: ",").map { String($0).trimmingSpaces } }.filter { !$0.isEmpty }.map {
            guard let address = UpstreamAddress(parsing: $0) else {
                throw ConfigurationError(setting: name, reason: "'\($0)' is not ADDRESS or ADDRESS:PORT with a numeric IPv4/IPv6 address")
            }
            return address
        }
    }

    /// The settings, in the order `--help` and docs/configuration.md list them.
    public static let settings: [Setting] = [
        Setting(name: "config", repeatable: false, defaultValue: "none",
            help: "Config file of NAME = VALUE lines (names as the flags, without --); flags and variables win over it") { c, v in
            let path = try single("config", v)
            guard !path.isEmpty else { throw ConfigurationError(setting: "config", reason: "needs a file path") }
            c.configFile = path
        },
        Setting(name: "upstream", repeatable: true, defaultValue: "nameservers of --resolv-conf",
            help: "Upstream DNS server, ADDRESS[:PORT]; repeat (or comma-separate) for several, tried in order") { c, v in
            c.upstreams = try addresses("upstream", v)
        },
        Setting(name: "dns-listen", repeatable: true, defaultValue: "127.0.0.1:53,[::1]:53",
            help: "Address to answer DNS on, UDP and TCP; repeat for several") { c, v in
            c.dnsListen = try addresses("dns-listen", v)
            c.dnsListenIsDefault = false
            if c.dnsListen.isEmpty { throw ConfigurationError(setting: "dns-listen", reason: "needs at least one address") }
        },
        Setting(name: "resolv-conf", repeatable: false, defaultValue: "/etc/resolv.conf",
            help: "resolv.conf to take upstreams from when --upstream is not given") { c, v in
            c.resolvConf = try single("resolv-conf", v)
        },
        Setting(name: "nscd-socket", repeatable: false, defaultValue: "/var/run/nscd/socket",
            help: "Unix socket of the nscd door (glibc looks only at the default path); 'off' turns the door off") { c, v in
            let path = try single("nscd-socket", v)
            guard path == "off" || path.hasPrefix("/") else {
                throw ConfigurationError(setting: "nscd-socket", reason: "'\(path)' is not an absolute path or 'off'")
            }
            guard path.utf8.count < 108 else {
                throw ConfigurationError(setting: "nscd-socket", reason: "longer than 107 octets (the sun_path limit)")
            }
            c.nscdSocket = path == "off" ? nil : path
        },
        Setting(name: "hosts-file", repeatable: false, defaultValue: "/etc/hosts",
            help: "hosts file the nscd door consults before DNS (re-read when it changes)") { c, v in
            c.hostsFile = try single("hosts-file", v)
        },
        Setting(name: "shared-map", repeatable: false, defaultValue: "on",
            help: "Hand glibc clients a read-only shared-memory map of the hosts cache (GETFDHST): cached lookups without a socket round trip") { c, v in
            c.sharedMap = try boolean("shared-map", v) ? (c.sharedMap ?? SharedMapConfiguration()) : nil
        },
        Setting(name: "shared-map-file", repeatable: false, defaultValue: "/run/sidecache/hosts.map",
            help: "The map's file, in a directory private to sidecache (never the emptyDir shared with the application)") { c, v in
            let path = try single("shared-map-file", v)
            guard path.hasPrefix("/"), !path.hasSuffix("/") else {
                throw ConfigurationError(setting: "shared-map-file", reason: "'\(path)' is not an absolute file path")
            }
            c.sharedMap?.path = path
        },
        Setting(name: "shared-map-size", repeatable: false, defaultValue: "8MiB",
            help: "Data area of the map (records, keys, hash entries); the file adds 968 octets of header and buckets") { c, v in
            let size = try bytes("shared-map-size", v)
            guard size >= 64 << 10, size <= 1 << 30 else {
                throw ConfigurationError(setting: "shared-map-size", reason: "must be 64KiB ... 1GiB")
            }
            c.sharedMap?.dataSize = size
        },
        Setting(name: "shared-map-addresses", repeatable: false, defaultValue: "single-address",
            help: "Which names the map holds: 'single-address' (at most one address per family; names with more are answered by the socket, shuffled per call) or 'all' (rotated every --shared-map-rotation)") { c, v in
            let text = try single("shared-map-addresses", v)
            guard let publishing = SharedMapPublishing(rawValue: text) else {
                throw ConfigurationError(setting: "shared-map-addresses", reason: "'\(text)' is not 'single-address' or 'all'")
            }
            c.sharedMap?.publishing = publishing
        },
        Setting(name: "shared-map-rotation", repeatable: false, defaultValue: "100ms",
            help: "With --shared-map-addresses all: republish names with two or more addresses in the next order this often (0: never)") { c, v in
            let period = try duration("shared-map-rotation", v)
            guard period == .zero || period >= .milliseconds(1) else {
                throw ConfigurationError(setting: "shared-map-rotation", reason: "must be 0 or at least 1ms")
            }
            c.sharedMap?.rotationPeriod = UInt64(period.nanoseconds)
        },
        Setting(name: "admin-listen", repeatable: false, defaultValue: "127.0.0.1:9253",
            help: "Address of the admin HTTP listener (/metrics, /healthz, /readyz, /stats, /dump); 'off' turns it off") { c, v in
            let text = try single("admin-listen", v)
            if text == "off" {
                c.adminListen = nil
            } else {
                guard let address = UpstreamAddress(parsing: text, defaultPort: 9253) else {
                    throw ConfigurationError(setting: "admin-listen", reason: "'\(text)' is not ADDRESS[:PORT] with a numeric address, or 'off'")
                }
                c.adminListen = address
            }
        },
        Setting(name: "lame-duck", repeatable: false, defaultValue: "5s",
            help: "On SIGTERM, keep answering this long (reporting not ready) before closing the doors") { c, v in
            c.lameDuck = try duration("lame-duck", v)
        },
        Setting(name: "log-level", repeatable: false, defaultValue: "info",
            help: "trace, debug, info, notice, warning, error or critical") { c, v in
            let text = try single("log-level", v)
            guard let level = Logger.Level(rawValue: text.lowercased()) else {
                throw ConfigurationError(setting: "log-level", reason: "'\(text)' is not one of trace, debug, info, notice, warning, error, critical")
            }
            c.logLevel = level
        },
        Setting(name: "threads", repeatable: false, defaultValue: "0 (one per core)",
            help: "Event-loop threads") { c, v in
            c.threads = try integer("threads", v, in: 0...256)
        },
        Setting(name: "cache-size", repeatable: false, defaultValue: "16MiB",
            help: "Memory budget for cached answers (wire data plus per-record metadata)") { c, v in
            c.cache.maximumBytes = try bytes("cache-size", v)
            if c.cache.maximumBytes < 64 << 10 { throw ConfigurationError(setting: "cache-size", reason: "must be at least 64KiB") }
            // The negative share follows unless given (it is applied after this setting).
            c.cache.maximumNegativeBytes = c.cache.maximumBytes / 4
        },
        Setting(name: "negative-cache-size", repeatable: false, defaultValue: "a quarter of --cache-size (4MiB)",
            help: "Part of the budget set aside for NXDOMAIN/NODATA entries; positive answers get the rest") { c, v in
            c.cache.maximumNegativeBytes = try bytes("negative-cache-size", v)
        },
        Setting(name: "min-ttl", repeatable: false, defaultValue: "0",
            help: "Lowest TTL stored, seconds (0: short TTLs are never inflated)") { c, v in
            c.cache.ttl.minimumTTL = try seconds("min-ttl", v, maximum: 86400)
        },
        Setting(name: "max-ttl", repeatable: false, defaultValue: "86400",
            help: "Highest TTL stored, seconds") { c, v in
            c.cache.ttl.maximumTTL = try seconds("max-ttl", v)
        },
        Setting(name: "max-negative-ttl", repeatable: false, defaultValue: "900",
            help: "Highest negative-caching TTL, seconds (RFC 2308)") { c, v in
            c.cache.ttl.maximumNegativeTTL = try seconds("max-negative-ttl", v)
        },
        Setting(name: "shuffle", repeatable: false, defaultValue: "on",
            help: "Shuffle A/AAAA records in every answer") { c, v in
            c.cache.shuffle = try boolean("shuffle", v)
        },
        Setting(name: "prefetch", repeatable: false, defaultValue: "on",
            help: "Refresh an entry hit in the last 10% of its TTL") { c, v in
            c.cache.prefetchFraction = try boolean("prefetch", v) ? 0.1 : 0
        },
        Setting(name: "serve-stale", repeatable: false, defaultValue: "86400",
            help: "How long past expiry an answer may be served when the upstream fails, seconds (0: off)") { c, v in
            c.cache.maximumStaleAge = try seconds("serve-stale", v)
        },
        Setting(name: "stale-answer-timeout", repeatable: false, defaultValue: "1800ms",
            help: "How long a client waits for the upstream before stale data is served") { c, v in
            c.cache.staleAnswerTimeout = UInt64(try duration("stale-answer-timeout", v, minimum: .milliseconds(1)).nanoseconds)
        },
        Setting(name: "upstream-policy", repeatable: false, defaultValue: "sequential (round-robin with resolv.conf `options rotate`)",
            help: "sequential, random or round-robin") { c, v in
            let text = try single("upstream-policy", v)
            guard let policy = UpstreamPolicy(rawValue: text) else {
                throw ConfigurationError(setting: "upstream-policy", reason: "'\(text)' is not sequential, random or round-robin")
            }
            c.upstreamPolicy = policy
        },
        Setting(name: "force-tcp", repeatable: false, defaultValue: "off (on with resolv.conf `options use-vc`)",
            help: "Send every upstream query over persistent, pipelined TCP") { c, v in
            c.forceTCP = try boolean("force-tcp", v)
        },
        Setting(name: "upstream-timeout", repeatable: false, defaultValue: "1500ms",
            help: "How long one upstream try waits") { c, v in
            c.upstreamTimeout = try duration("upstream-timeout", v, minimum: .milliseconds(1))
        },
        Setting(name: "upstream-deadline", repeatable: false, defaultValue: "3500ms",
            help: "The most a query waits for the upstreams, all tries together") { c, v in
            c.upstreamDeadline = try duration("upstream-deadline", v, minimum: .milliseconds(1))
        },
        Setting(name: "upstream-tcp-connections", repeatable: false, defaultValue: "2",
            help: "TCP connections per upstream at most") { c, v in
            c.upstreamTCPConnections = try integer("upstream-tcp-connections", v, in: 1...64)
        },
        Setting(name: "max-udp-size", repeatable: false, defaultValue: "1232",
            help: "Largest UDP reply sent, whatever a client advertises") { c, v in
            c.maximumUDPResponseSize = try integer("max-udp-size", v, in: 512...65535)
        },
        Setting(name: "tcp-idle-timeout", repeatable: false, defaultValue: "10s",
            help: "Close a client TCP connection idle this long") { c, v in
            c.tcpIdleTimeout = try duration("tcp-idle-timeout", v, minimum: .milliseconds(1))
        },
        Setting(name: "tcp-max-connections", repeatable: false, defaultValue: "4096",
            help: "Client TCP connections open at once at most") { c, v in
            c.maximumTCPConnections = try integer("tcp-max-connections", v, in: 1...1_000_000)
        },
    ]

    /// Builds the configuration from flags (name -> values, in order given), the environment and the config file
    /// (`--config` / `SIDECACHE_CONFIG`), in that precedence: a flag wins over a variable, a variable over the file.
    public static func resolve(flags: [String: [String]], environment: [String: String]) throws -> SidecacheConfiguration {
        let known = Set(settings.map(\.name))
        for name in flags.keys where !known.contains(name) {
            throw ConfigurationError(setting: name, reason: "unknown setting (see `sidecache serve --help`)")
        }
        var configuration = SidecacheConfiguration()
        var fileValues: [String: (values: [String], line: Int)] = [:]
        var filePath: String? = nil
        if let path = flags["config"]?.last ?? environment["SIDECACHE_CONFIG"]?.trimmingSpaces, !path.isEmpty {
            filePath = path
            let text: String
            do {
                text = try TextFile.read(path, limit: 1 << 20)
            } catch {
                throw ConfigurationError(setting: "config", reason: "cannot read \(error)")
            }
            fileValues = try ConfigFile.parse(text, path: path, known: known)
            if fileValues["config"] != nil {
                throw ConfigurationError(setting: "config", reason: "\(path) line \(fileValues["config"]!.line): a config file cannot name another")
            }
        }
        for setting in settings {
            if let values = flags[setting.name] {
                if !setting.repeatable && values.count > 1 {
                    throw ConfigurationError(setting: setting.name, reason: "given \(values.count) times; it takes one value")
                }
                try setting.apply(&configuration, values)
                configuration.origins[setting.name] = "flag"
            } else if let value = environment[setting.environmentVariable] {
                try setting.apply(&configuration, setting.repeatable ? [value] : [value.trimmingSpaces])
                configuration.origins[setting.name] = "environment"
            } else if let (values, line) = fileValues[setting.name], let filePath {
                do {
                    try setting.apply(&configuration, values)
                } catch let error as ConfigurationError {
                    throw ConfigurationError(setting: error.setting, reason: "\(error.reason) (\(filePath) line \(line))")
                }
                configuration.origins[setting.name] = "\(filePath):\(line)"
            }
        }
        if configuration.upstreamDeadline < configuration.upstreamTimeout {
            throw ConfigurationError(setting: "upstream-deadline", reason: "must be at least --upstream-timeout")
        }
        if configuration.cache.maximumNegativeBytes >= configuration.cache.maximumBytes {
            throw ConfigurationError(
                setting: "negative-cache-size", reason: "must be less than --cache-size (positive answers get the rest)")
        }
        if configuration.cache.ttl.minimumTTL > configuration.cache.ttl.maximumTTL {
            throw ConfigurationError(setting: "min-ttl", reason: "must not exceed --max-ttl")
        }
        return configuration
    }

    /// Splits `--name value` / `--name=value` arguments into a flag table.
    public static func parseFlags(_ arguments: [String]) throws -> [String: [String]] {
        var flags: [String: [String]] = [:]
        var index = 0
        while index < arguments.count {
            let argument = arguments[index]
            guard argument.hasPrefix("--"), argument.count > 2 else {
                throw ConfigurationError(setting: argument, reason: "expected --setting VALUE")
            }
            let body = argument.dropFirst(2)
            if let equals = body.firstIndex(of: "=") {
                flags[String(body[..<equals]), default: []].append(String(body[body.index(after: equals)...]))
                index += 1
            } else {
                guard index + 1 < arguments.count else {
                    throw ConfigurationError(setting: String(body), reason: "needs a value")
                }
                flags[String(body), default: []].append(arguments[index + 1])
                index += 2
            }
        }
        return flags
    }
}

extension String {
    var trimmingSpaces: String {
        String(drop { $0 == " " || $0 == "\t" }.reversed().drop { $0 == " " || $0 == "\t" }.reversed())
    }
}
