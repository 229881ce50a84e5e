import DNSForwarder
import ResolverConfiguration
import SidecacheDaemon
import Testing

struct ConfigurationTests {
    @Test func defaultsNeedNoFlags() throws {
        let configuration = try SidecacheConfiguration.resolve(flags: [:], environment: [:])
        #expect(configuration.upstreams.isEmpty)
        #expect(configuration.dnsListen.map(\.description) == ["127.0.0.1:53", "[::1]:53"])
        #expect(configuration.resolvConf == "/etc/resolv.conf")
        #expect(configuration.cache.maximumBytes == 16 << 20)
        #expect(configuration.cache.ttl.minimumTTL == 0)
        // Unset, so resolv.conf's rotate/use-vc may decide.
        #expect(configuration.upstreamPolicy == nil)
        #expect(configuration.forceTCP == nil)
    }

    @Test func flagsBeatEnvironment() throws {
        let flags = try SidecacheConfiguration.parseFlags(["--upstream", "10.96.0.10", "--upstream=10.96.0.11:5353", "--cache-size", "32MiB"])
        let configuration = try SidecacheConfiguration.resolve(
            flags: flags, environment: ["SIDECACHE_UPSTREAM": "192.0.2.1", "SIDECACHE_MAX_TTL": "300", "SIDECACHE_DNS_LISTEN": "127.0.0.1:5353,[::1]:5353"])
        #expect(configuration.upstreams.map(\.description) == ["10.96.0.10:53", "10.96.0.11:5353"])
        #expect(configuration.cache.maximumBytes == 32 << 20)
        #expect(configuration.cache.ttl.maximumTTL == 300)
        #expect(configuration.dnsListen.map(\.description) == ["127.0.0.1:5353", "[::1]:5353"])
    }

    @Test(arguments: [
        (["--upstream", "kube-dns"], "upstream"),
        (["--dns-listen", "127.0.0.1:99999"], "dns-listen"),
        (["--cache-size", "lots"], "cache-size"),
        (["--cache-size", "1K"], "cache-size"),
        (["--max-ttl", "-1"], "max-ttl"),
        (["--shuffle", "maybe"], "shuffle"),
        (["--upstream-timeout", "fast"], "upstream-timeout"),
        (["--upstream-timeout", "5s", "--upstream-deadline", "1s"], "upstream-deadline"),
        (["--log-level", "loud"], "log-level"),
        (["--upstream-policy", "fastest"], "upstream-policy"),
        (["--threads", "1000"], "threads"),
        (["--bogus", "1"], "bogus"),
        (["--min-ttl", "600", "--max-ttl", "60"], "min-ttl"),
        (["--negative-cache-size", "64MiB"], "negative-cache-size"),
        (["--resolv-conf", "a", "--resolv-conf", "b"], "resolv-conf"),
    ])
    func invalidValuesNameTheSetting(arguments: [String], setting: String) {
        do {
            _ = try SidecacheConfiguration.resolve(flags: try SidecacheConfiguration.parseFlags(arguments), environment: [:])
            Issue.record("\(arguments) accepted")
        } catch let error as ConfigurationError {
            #expect(error.setting == setting, "\(error)")
            #expect(!error.reason.isEmpty)
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    @Test func invalidEnvironmentValueNamesTheSetting() {
        #expect(throws: ConfigurationError.self) {
            try SidecacheConfiguration.resolve(flags: [:], environment: ["SIDECACHE_SERVE_STALE": "forever"])
        }
    }

    @Test func everySettingHasFlagAndVariable() {
        for setting in SidecacheConfiguration.settings {
            #expect(setting.flag == "--" + setting.name)
            #expect(setting.environmentVariable.hasPrefix("SIDECACHE_"))
            #expect(!setting.environmentVariable.contains("-"))
        }
        #expect(SidecacheConfiguration.settings.first { $0.name == "dns-listen" }?.environmentVariable == "SIDECACHE_DNS_LISTEN")
    }
}

/// docs/configuration.md lists every setting with its flag and variable, and nothing that is not one.
struct ConfigurationDocumentTests {
    @Test func documentAndCodeAgree() throws {
        let document = try TextFile.read("\(repositoryRoot)/docs/configuration.md")
        for setting in SidecacheConfiguration.settings {
            #expect(document.contains("| `\(setting.flag)`"), "docs/configuration.md lacks \(setting.flag)")
            #expect(document.contains("`\(setting.environmentVariable)`"), "docs/configuration.md lacks \(setting.environmentVariable)")
        }
        let documented = document.split(separator: "\n").filter { $0.hasPrefix("| `--") }.compactMap { line in
            line.split(separator: "`").dropFirst().first.map { String($0.dropFirst(2)) }
        }
        #expect(Set(documented) == Set(SidecacheConfiguration.settings.map(\.name)))
    }
}
