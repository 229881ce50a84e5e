import Foundation
import Logging
import SidecacheWebhook

/// `sidecache webhook`: the mutating admission webhook (docs/kubernetes.md). Settings are parsed by
/// `WebhookConfiguration` (flags and SIDECACHE_WEBHOOK_* variables, one table for both and for --help).
enum WebhookCommand {
    static func run(_ arguments: [String]) async {
        if arguments.contains("--help") || arguments.contains("-h") {
            print(help)
            return
        }
        let configuration: WebhookConfiguration
        do {
            configuration = try WebhookConfiguration.resolve(
                arguments: arguments, environment: ProcessInfo.processInfo.environment)
        } catch {
            fail("\(error)", status: 2)
        }
        let level = Logger.Level(rawValue: configuration.logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let webhook: AdmissionWebhook
        do {
            webhook = try AdmissionWebhook(configuration: configuration)
            try await webhook.bind()
        } catch let error as WebhookError {
            fail(error.message, status: error.code == .cannotListen ? 1 : 2)
        } catch {
            fail("\(error)", status: 1)
        }
        do {
            try await webhook.run()
        } catch {
            fail("\(error)", status: 1)
        }
    }

    static func fail(_ message: String, status: Int32) -> Never {
        FileHandle.standardError.write(Data("sidecache webhook: \(message)\n".utf8))
        exit(status)
    }

    static var help: String {
        """
        USAGE: sidecache webhook [--NAME VALUE]...

        A mutating admission webhook (admission.k8s.io/v1) over HTTPS that adds the sidecache sidecar to pods at \
        CREATE, exactly as `sidecache inject` does. POST /mutate; GET /healthz, /readyz, /metrics on the same port.
        Every setting is a flag --NAME VALUE or a variable SIDECACHE_WEBHOOK_NAME; a flag wins. See \
        docs/kubernetes.md.

        """
            + WebhookConfiguration.settings.map {
                "  \($0.flag)  [\($0.environmentVariable), default \($0.defaultValue)]\n      \($0.help)"
            }.joined(separator: "\n")
    }
}
