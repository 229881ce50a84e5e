import Foundation
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import Synchronization
import UnixSignals

/// The composition root of `sidecache webhook`: checks every setting and the certificate up front (so a bad one
/// stops startup with a message naming it), then runs the HTTPS listener and the certificate reloader in one
/// service group that SIGTERM drains.
public final class AdmissionWebhook: Sendable {
    public let configuration: WebhookConfiguration
    public let metrics: WebhookMetrics
    public let certificates: CertificateStore
    let reviewer: AdmissionReviewer
    let group: MultiThreadedEventLoopGroup
    let server: WebhookServer
    let reloader: CertificateReloader
    let logger: Logger

    public init(configuration: WebhookConfiguration, logger: Logger = Logger(label: "sidecache.webhook")) throws {
        self.configuration = configuration
        self.logger = logger
        let reviewer = try AdmissionReviewer(options: configuration.sidecar)
        self.reviewer = reviewer
        let certificates = try CertificateStore(
            certificatePath: configuration.certificatePath, keyPath: configuration.keyPath)
        self.certificates = certificates
        let metrics = WebhookMetrics()
        self.metrics = metrics
        metrics.recordExpiry(certificates.current.notValidAfter)
        group = MultiThreadedEventLoopGroup(numberOfThreads: configuration.eventLoopThreads)
        let routes = Routes(reviewer: reviewer, certificates: certificates, metrics: metrics)
        let server = WebhookServer(
            configuration: configuration, certificates: certificates, routes: routes, group: group, logger: logger)
        routes.server.withLock { $0 = server }
        self.server = server
        reloader = CertificateReloader(
            store: certificates, metrics: metrics, interval: configuration.reloadInterval, logger: logger)
    }

    /// Binds the listener (tests ask for port 0 and read `boundAddress`).
    public func bind() async throws { try await server.bind() }

    public var boundAddress: SocketAddress? { server.boundAddress }

    /// Runs until one of `signals` (after the lame duck), or until the task is cancelled. Tests pass no signals,
    /// so the test process keeps its own handling of SIGTERM and SIGINT.
    public func run(signals: [UnixSignal] = [.sigterm, .sigint]) async throws {
        if boundAddress == nil { try await bind() }
        logger.info(
            "webhook ready",
            metadata: [
                "tls-cert": "\(configuration.certificatePath)",
                "not-after": "\(CertificateStore.timestamp(certificates.current.notValidAfter))",
                "upstream": "\(configuration.sidecar.upstreams.joined(separator: ","))",
                "image": "\(configuration.sidecar.image)", "mode": "\(configuration.sidecar.mode.rawValue)",
            ])
        let serviceGroup = ServiceGroup(
            configuration: .init(
                services: [.init(service: server), .init(service: reloader)],
                gracefulShutdownSignals: signals, logger: logger))
        do {
            try await serviceGroup.run()
        } catch {
            await server.close()
            try? await group.shutdownGracefully()
            throw error
        }
        await server.close()
        try? await group.shutdownGracefully()
    }

    /// Checks the certificate files once now (the reloader does this every --tls-reload-interval).
    public func pollCertificates() { reloader.poll() }
}

/// What the HTTP handler asks of the webhook.
final class Routes: WebhookRoutes {
    let reviewer: AdmissionReviewer
    let certificates: CertificateStore
    let metrics: WebhookMetrics
    let server = Mutex<WebhookServer?>(nil)

    init(reviewer: AdmissionReviewer, certificates: CertificateStore, metrics: WebhookMetrics) {
        self.reviewer = reviewer
        self.certificates = certificates
        self.metrics = metrics
    }

    func mutate(_ body: [UInt8]) -> AdmissionAnswer { reviewer.review(body) }

    func notReadyReason() -> String? {
        if server.withLock({ $0?.draining.load(ordering: .relaxed) }) == true { return "shutting down" }
        let notAfter = certificates.current.notValidAfter
        if Int(time(nil)) >= notAfter {
            return "the serving certificate expired at \(CertificateStore.timestamp(notAfter)) and no valid one replaced it"
        }
        return nil
    }

    func metricsExposition() -> [UInt8] { metrics.exposition() }

    func recordRequest(_ result: AdmissionResult, duration: Duration?) { metrics.recordRequest(result, duration: duration) }

    func recordTimeout() { metrics.recordTimeout() }
}
