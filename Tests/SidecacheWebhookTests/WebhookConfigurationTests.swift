import Foundation
import Testing

@testable import SidecacheWebhook

/// Flags and SIDECACHE_WEBHOOK_* variables, their precedence, messages naming the setting, and the settings table
/// in docs/kubernetes.md.
struct WebhookConfigurationTests {
    @Test func flagsWinOverVariables() throws {
        let configuration = try WebhookConfiguration.resolve(
            arguments: ["--listen", "127.0.0.1:9443", "--tls-cert=/c.pem", "--prometheus-annotations", "--upstream", "10.0.0.10,10.0.0.11:53"],
            environment: [
                "SIDECACHE_WEBHOOK_LISTEN": "0.0.0.0:1", "SIDECACHE_WEBHOOK_TLS_KEY": "/k.pem",
                "SIDECACHE_WEBHOOK_REQUEST_TIMEOUT": "1500ms", "SIDECACHE_WEBHOOK_MODE": "classic",
                "SIDECACHE_WEBHOOK_MAX_REQUEST_SIZE": "1MiB", "SIDECACHE_WEBHOOK_LIMITS": "none",
            ])
        #expect(configuration.listenHost == "127.0.0.1" && configuration.listenPort == 9443)
        #expect(configuration.certificatePath == "/c.pem")
        #expect(configuration.keyPath == "/k.pem")
        #expect(configuration.requestTimeout == .milliseconds(1500))
        #expect(configuration.maxRequestSize == 1 << 20)
        #expect(configuration.sidecar.mode == .classic)
        #expect(configuration.sidecar.limits == [:])
        #expect(configuration.sidecar.prometheusAnnotations)
        #expect(configuration.sidecar.upstreams == ["10.0.0.10", "10.0.0.11:53"])
    }

    @Test func ipv6Listen() throws {
        let configuration = try WebhookConfiguration.resolve(arguments: ["--listen", "[::]:8443"], environment: [:])
        #expect(configuration.listenHost == "::" && configuration.listenPort == 8443)
    }

    @Test(arguments: [
        (["--listen", "localhost:8443"], "invalid setting listen: 'localhost:8443'"),
        (["--listen", "0.0.0.0"], "invalid setting listen: '0.0.0.0'"),
        (["--listen", "0.0.0.0:0"], "invalid setting listen"),
        (["--request-timeout", "soon"], "invalid setting request-timeout: 'soon'"),
        (["--max-request-size", "10GiB"], "invalid setting max-request-size"),
        (["--mode", "sidecar"], "invalid setting mode: 'sidecar' is not native or classic"),
        (["--requests", "cpu"], "invalid setting requests"),
        (["--ndots", "20"], "invalid setting ndots"),
        (["--log-level", "loud"], "invalid setting log-level"),
        (["--prometheus-annotations=maybe"], "invalid setting prometheus-annotations"),
        (["--tls-cert"], "--tls-cert needs a value"),
        (["--colour", "blue"], "unknown setting --colour"),
        (["deploy.yaml"], "unexpected argument 'deploy.yaml'"),
    ])
    func invalidSettingsNameTheField(arguments: [String], message: String) {
        let error = #expect(throws: WebhookError.self) {
            try WebhookConfiguration.resolve(arguments: arguments, environment: [:])
        }
        #expect(error?.code == .invalidSetting)
        #expect(error?.message.hasPrefix(message) == true, "\(error?.message ?? "")")
    }

    @Test func invalidVariableNamesTheSetting() {
        let error = #expect(throws: WebhookError.self) {
            try WebhookConfiguration.resolve(arguments: [], environment: ["SIDECACHE_WEBHOOK_EVENT_LOOP_THREADS": "0"])
        }
        #expect(error?.message.hasPrefix("invalid setting event-loop-threads") == true)
    }

    /// docs/kubernetes.md's webhook settings table lists every setting with its flag, variable and default.
    @Test func documentListsEverySetting() throws {
        let root = fixtureDirectory.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let document = try String(contentsOf: root.appendingPathComponent("docs/kubernetes.md"), encoding: .utf8)
        let rows = document.split(separator: "\n").filter { $0.hasPrefix("| `--") && $0.contains("SIDECACHE_WEBHOOK_") }
        let documented = rows.compactMap { $0.split(separator: "`").dropFirst().first.map { String($0.dropFirst(2)) } }
        #expect(Set(documented) == Set(WebhookConfiguration.settings.map(\.name)))
        for setting in WebhookConfiguration.settings {
            let row = rows.first { $0.hasPrefix("| `\(setting.flag)`") } ?? ""
            #expect(row.contains("`\(setting.environmentVariable)`"), "\(setting.name): variable")
            #expect(row.contains(setting.defaultValue), "\(setting.name): default \(setting.defaultValue)")
        }
    }
}
