import Foundation
import Logging
import NIOCore
import SidecacheWebhook
import TestSupport
import Testing

/// One webhook on 127.0.0.1 (a port of its own) with a throwaway certificate, and curl as its client, verifying the
/// certificate against the test CA as the API server would with the caBundle.
final class WebhookHarness: Sendable {
    let pki: TestCertificates
    let webhook: AdmissionWebhook
    let port: Int
    let scratch: String
    private let task: Task<Void, any Error>

    /// `certificatePath`/`keyPath` default to a fresh valid pair; `configure` adjusts the rest.
    init(
        pki: TestCertificates? = nil, certificatePath: String? = nil, keyPath: String? = nil,
        _ configure: (inout WebhookConfiguration) -> Void = { _ in }
    ) async throws {
        let pki = if let pki { pki } else { try await TestCertificates() }
        self.pki = pki
        var configuration = WebhookConfiguration()
        configuration.listenHost = "127.0.0.1"
        configuration.listenPort = 0
        configuration.sidecar = testOptions
        configuration.lameDuck = .zero
        if let certificatePath, let keyPath {
            configuration.certificatePath = certificatePath
            configuration.keyPath = keyPath
        } else {
            let pair = try await pki.issue("webhook")
            (configuration.certificatePath, configuration.keyPath) = pair
        }
        configure(&configuration)
        var logger = Logger(label: "sidecache.webhook.test")
        logger.logLevel = .critical
        let webhook = try AdmissionWebhook(configuration: configuration, logger: logger)
        try await webhook.bind()
        self.webhook = webhook
        port = try #require(webhook.boundAddress?.port)
        scratch = try makeScratchDirectory("webhook-client")
        task = Task { try await webhook.run(signals: []) }
    }

    func stop() async {
        task.cancel()
        _ = try? await task.value
    }

    struct Reply {
        var status: Int
        var body: [UInt8]
        var text: String { String(decoding: body, as: UTF8.self) }
    }

    /// One request with curl over TLS; `body` is sent from a file (so binary and large bodies pass unchanged).
    func request(_ method: String = "GET", _ path: String, body: [UInt8]? = nil, extra: [String] = []) async throws -> Reply {
        let name = UUID().uuidString
        let output = "\(scratch)/\(name).out"
        var arguments = [
            "-sS", "--max-time", "20", "--cacert", pki.caCertificate, "-X", method, "-o", output, "-w", "%{http_code}",
            "-H", "Content-Type: application/json",
        ]
        if let body {
            let input = "\(scratch)/\(name).in"
            try Data(body).write(to: URL(fileURLWithPath: input))
            arguments += ["--data-binary", "@\(input)"]
        }
        arguments += extra + ["https://127.0.0.1:\(port)\(path)"]
        let result = try await ExternalProcess.run("curl", arguments)
        let status = Int(result.output.suffix(3)) ?? 0
        let received = (try? Data(contentsOf: URL(fileURLWithPath: output))).map(Array.init) ?? []
        return Reply(status: status, body: received)
    }

    /// The value of one sample line of /metrics, e.g. `sidecache_webhook_requests_total{result="patched"}`.
    func metric(_ sample: String) async throws -> Double? {
        let reply = try await request("GET", "/metrics")
        let line = reply.text.split(separator: "\n").first { $0.hasPrefix(sample + " ") }
        return line.flatMap { Double($0.split(separator: " ").last!) }
    }
}
