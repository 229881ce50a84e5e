import DNSForwarder
import ResolverConfiguration
import Foundation
import SidecacheDaemon
import TestSupport
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

    /// The negative share follows the budget unless given, and always leaves room for positive answers.
    @Test func negativeShareFollowsTheBudget() throws {
        let small = try SidecacheConfiguration.resolve(flags: ["cache-size": ["4MiB"]], environment: [:])
        #expect(small.cache.maximumNegativeBytes == 1 << 20)
        let given = try SidecacheConfiguration.resolve(
            flags: ["cache-size": ["4MiB"], "negative-cache-size": ["512KiB"]], environment: [:])
        #expect(given.cache.maximumNegativeBytes == 512 << 10)
        #expect(throws: ConfigurationError(
            setting: "negative-cache-size", reason: "must be less than --cache-size (positive answers get the rest)")) {
            try SidecacheConfiguration.resolve(
                flags: ["cache-size": ["4MiB"], "negative-cache-size": ["4MiB"]], environment: [:])
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

/// The config file, its precedence below flags and variables, and `sidecache config check`.
struct ConfigFileTests {
    static func file(_ text: String) throws -> String {
        let path = try makeScratchDirectory("config") + "/sidecache.conf"
        try text.write(toFile: path, atomically: false, encoding: .utf8)
        return path
    }

    @Test func fileIsBelowEnvironmentAndFlags() throws {
        let path = try Self.file("""
            # comment
            upstream = 10.96.0.10   # kube-dns
            upstream = 10.96.0.11:5353
            cache-size = "32MiB"
            max-ttl = 600
            log-level = debug

            """)
        let configuration = try SidecacheConfiguration.resolve(
            flags: ["config": [path], "log-level": ["warning"]], environment: ["SIDECACHE_MAX_TTL": "300"])
        #expect(configuration.upstreams.map(\.description) == ["10.96.0.10:53", "10.96.0.11:5353"])
        #expect(configuration.cache.maximumBytes == 32 << 20)
        #expect(configuration.cache.ttl.maximumTTL == 300)
        #expect(configuration.logLevel == .warning)
        #expect(configuration.origins["upstream"] == "\(path):2")
        #expect(configuration.origins["max-ttl"] == "environment")
        #expect(configuration.origins["log-level"] == "flag")
        // The variable names the file as well as the flag does.
        let viaVariable = try SidecacheConfiguration.resolve(flags: [:], environment: ["SIDECACHE_CONFIG": path])
        #expect(viaVariable.cache.ttl.maximumTTL == 600)
    }

    /// Bad files and values: each message names the setting and says why (and where, for the file).
    @Test(arguments: [
        ("cache-size = lots\n", "cache-size", "'lots' is not a size like 16MiB, 512KiB or 1048576 (FILE line 1)"),
        ("\n\nserve-stale = forever\n", "serve-stale", "'forever' is not a whole number in 0...2147483647 (FILE line 3)"),
        ("cachesize = 1\n", "cachesize", "unknown setting in FILE line 1 (names are the flags without --)"),
        ("upstream 10.0.0.1\n", "config", "FILE line 1: expected NAME = VALUE, got 'upstream 10.0.0.1'"),
        ("max-ttl = 60\nmax-ttl = 70\n", "max-ttl", "given twice in FILE (lines 1 and 2); it takes one value"),
        ("upstream = kube-dns.kube-system\n", "upstream",
         "'kube-dns.kube-system' is not ADDRESS or ADDRESS:PORT with a numeric IPv4/IPv6 address (FILE line 1)"),
        ("upstream-timeout = 5s\nupstream-deadline = 1s\n", "upstream-deadline", "must be at least --upstream-timeout"),
        ("min-ttl = 600\nmax-ttl = 60\n", "min-ttl", "must not exceed --max-ttl"),
        ("nscd-socket = relative/socket\n", "nscd-socket", "'relative/socket' is not an absolute path or 'off' (FILE line 1)"),
        ("shuffle = sometimes\n", "shuffle", "'sometimes' is not on/off (true/false, yes/no, 1/0) (FILE line 1)"),
        ("lame-duck = soon\n", "lame-duck", "'soon' is not a duration like 1500ms, 2s or 1m (FILE line 1)"),
        ("config = /etc/other.conf\n", "config", "FILE line 1: a config file cannot name another"),
        ("threads = 1000\n", "threads", "'1000' is not a whole number in 0...256 (FILE line 1)"),
    ])
    func badFilesAreRejectedWithTheSettingAndReason(text: String, setting: String, reason: String) throws {
        let path = try Self.file(text)
        do {
            _ = try SidecacheConfiguration.resolve(flags: ["config": [path]], environment: [:])
            Issue.record("accepted: \(text)")
        } catch let error as ConfigurationError {
            #expect(error.setting == setting)
            #expect(error.reason == reason.replacingOccurrences(of: "FILE", with: path))
        }
    }

    @Test func missingFileIsAnError() {
        #expect(throws: ConfigurationError(setting: "config", reason: "cannot read /nonexistent/sidecache.conf: No such file or directory")) {
            try SidecacheConfiguration.resolve(flags: ["config": ["/nonexistent/sidecache.conf"]], environment: [:])
        }
    }

    /// What `config check` prints is itself a config file that gives the same configuration back.
    @Test func effectiveConfigurationRoundTrips() throws {
        let original = try SidecacheConfiguration.resolve(
            flags: try SidecacheConfiguration.parseFlags([
                "--upstream", "10.96.0.10", "--cache-size", "6656KiB", "--lame-duck", "2500ms", "--shuffle", "off",
                "--force-tcp", "on", "--upstream-policy", "random", "--admin-listen", "off", "--nscd-socket", "off",
                "--stale-answer-timeout", "250ms", "--threads", "2", "--shared-map-size", "3MiB",
                "--shared-map-rotation", "250ms",
            ]), environment: [:])
        let printed = original.effectiveConfiguration()
        let again = try SidecacheConfiguration.resolve(flags: ["config": [try Self.file(printed)]], environment: [:])
        for setting in SidecacheConfiguration.settings where setting.name != "config" {
            #expect(again.effectiveValue(of: setting.name) == original.effectiveValue(of: setting.name), "\(setting.name)")
        }
    }

    /// The command itself: exit 0 and the settings with their origins; exit 2 and the setting at fault.
    @Test func configCheckCommand() async throws {
        let binary = try sidecacheBinary()
        let good = try await ExternalProcess.run(binary, ["config", "check", try Self.file("upstream = 10.96.0.10\n")])
        #expect(good.status == 0)
        #expect(good.output.contains("upstream = 10.96.0.10:53"))
        #expect(good.output.contains("cache-size = 16MiB"))
        let bad = try await ExternalProcess.run(binary, ["config", "check", try Self.file("max-ttl = -5\n")])
        #expect(bad.status == 2)
        #expect(bad.output.contains("invalid setting max-ttl: '-5' is not a whole number"))
    }
}
