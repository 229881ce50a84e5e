import DNSCache
import DNSForwarder
import NIOCore
import NSCDSharedMap

/// The config file: one `NAME = VALUE` per line, NAME as the flag without its dashes; `#` starts a comment (at the
/// start of a line or after a space); blank lines are skipped; a value may be put in double quotes. A repeatable
/// setting (upstream, dns-listen) may be given on several lines, or comma-separated.
///
///     # /etc/sidecache/sidecache.conf
///     upstream = 10.96.0.10
///     cache-size = 32MiB
///     serve-stale = 3600
enum ConfigFile {
    /// Setting name -> its values and the line of its first mention. Unknown names, malformed lines and a
    /// single-valued setting given twice are errors naming the setting (or the line) and the file.
    static func parse(_ text: String, path: String, known: Set<String>) throws -> [String: (values: [String], line: Int)] {
        var result: [String: (values: [String], line: Int)] = [:]
        let repeatable = Set(SidecacheConfiguration.settings.filter(\.repeatable).map(\.name))
        for (index, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let number = index + 1
            var line = Substring(rawLine)
            if line.last == "\r" { line = line.dropLast() }
            line = stripComment(line)
            let trimmed = String(line).trimmingSpaces
            if trimmed.isEmpty { continue }
            guard let equals = trimmed.firstIndex(of: "=") else {
                throw ConfigurationError(
                    setting: "config", reason: "\(path) line \(number): expected NAME = VALUE, got '\(trimmed)'")
            }
            let name = String(trimmed[..<equals]).trimmingSpaces
            var value = String(trimmed[trimmed.index(after: equals)...]).trimmingSpaces
            if value.count >= 2, value.first == "\"", value.last == "\"" { value = String(value.dropFirst().dropLast()) }
            guard known.contains(name) else {
                throw ConfigurationError(
                    setting: name.isEmpty ? "config" : name,
                    reason: "unknown setting in \(path) line \(number) (names are the flags without --)")
            }
            if let earlier = result[name] {
                guard repeatable.contains(name) else {
                    throw ConfigurationError(
                        setting: name, reason: "given twice in \(path) (lines \(earlier.line) and \(number)); it takes one value")
                }
                result[name] = (earlier.values + [value], earlier.line)
            } else {
                result[name] = ([value], number)
            }
        }
        return result
    }

    /// The line without its comment: `#` at the start or after a space or tab.
    static func stripComment(_ line: Substring) -> Substring {
        var previous: Character = " "
        for index in line.indices {
            let character = line[index]
            if character == "#" && (previous == " " || previous == "\t") { return line[..<index] }
            previous = character
        }
        return line
    }
}

extension SidecacheConfiguration {
    /// The effective value of a setting, in the form its flag takes (so `config check` output can be fed back).
    public func effectiveValue(of name: String) -> String {
        func duration(_ amount: TimeAmount) -> String {
            let nanoseconds = amount.nanoseconds
            if nanoseconds % 1_000_000_000 == 0 { return "\(nanoseconds / 1_000_000_000)s" }
            if nanoseconds % 1_000_000 == 0 { return "\(nanoseconds / 1_000_000)ms" }
            return "\(Double(nanoseconds) / 1e9)"
        }
        func size(_ bytes: Int) -> String {
            if bytes % (1 << 20) == 0 { return "\(bytes >> 20)MiB" }
            if bytes % (1 << 10) == 0 { return "\(bytes >> 10)KiB" }
            return "\(bytes)"
        }
        func onOff(_ value: Bool) -> String { value ? "on" : "off" }
        switch name {
        case "config": return configFile ?? "none"
        case "upstream": return upstreams.isEmpty ? "(nameservers of \(resolvConf))" : upstreams.map(\.description).joined(separator: ",")
        case "dns-listen": return dnsListen.map(\.description).joined(separator: ",")
        case "resolv-conf": return resolvConf
        case "nscd-socket": return nscdSocket ?? "off"
        case "hosts-file": return hostsFile
        case "admin-listen": return adminListen?.description ?? "off"
        case "lame-duck": return duration(lameDuck)
        case "log-level": return logLevel.rawValue
        case "threads": return "\(threads)"
        case "cache-size": return size(cache.maximumBytes)
        case "negative-cache-size": return size(cache.maximumNegativeBytes)
        case "min-ttl": return "\(cache.ttl.minimumTTL)"
        case "max-ttl": return "\(cache.ttl.maximumTTL)"
        case "max-negative-ttl": return "\(cache.ttl.maximumNegativeTTL)"
        case "shuffle": return onOff(cache.shuffle)
        case "prefetch": return onOff(cache.prefetchFraction > 0)
        case "serve-stale": return "\(cache.maximumStaleAge)"
        case "stale-answer-timeout": return duration(.nanoseconds(Int64(cache.staleAnswerTimeout)))
        case "upstream-policy": return upstreamPolicy?.rawValue ?? "(from resolv.conf: sequential, or round-robin with rotate)"
        case "force-tcp": return forceTCP.map(onOff) ?? "(from resolv.conf: off, or on with use-vc)"
        case "upstream-timeout": return duration(upstreamTimeout)
        case "upstream-deadline": return duration(upstreamDeadline)
        case "upstream-tcp-connections": return "\(upstreamTCPConnections)"
        case "max-udp-size": return "\(maximumUDPResponseSize)"
        case "tcp-idle-timeout": return duration(tcpIdleTimeout)
        case "tcp-max-connections": return "\(maximumTCPConnections)"
        case "shared-map": return onOff(sharedMap != nil)
        case "shared-map-file": return (sharedMap ?? SharedMapConfiguration()).path
        case "shared-map-size": return size((sharedMap ?? SharedMapConfiguration()).dataSize)
        case "shared-map-addresses": return (sharedMap ?? SharedMapConfiguration()).publishing.rawValue
        case "shared-map-rotation":
            return duration(.nanoseconds(Int64((sharedMap ?? SharedMapConfiguration()).rotationPeriod)))
        default: return "?"
        }
    }

    /// `NAME = VALUE  # origin` for every setting: a valid config file of the effective configuration. Settings
    /// decided at startup from resolv.conf, and `config` itself (a file cannot name another), are comment lines.
    public func effectiveConfiguration() -> String {
        Self.settings.map { setting in
            let value = effectiveValue(of: setting.name)
            let origin = origins[setting.name] ?? "default"
            let commented = setting.name == "config" || value.hasPrefix("(")
            let line = (commented ? "# " : "") + "\(setting.name) = \(value)"
            return line.padding(to: 48) + "# \(origin)"
        }.joined(separator: "\n") + "\n"
    }
}

extension String {
    func padding(to width: Int) -> String {
        count >= width ? self + " " : self + String(repeating: " ", count: width - count)
    }
}
