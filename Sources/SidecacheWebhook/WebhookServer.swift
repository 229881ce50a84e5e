import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import ServiceLifecycle
import Synchronization

/// The HTTPS listener: TLS with the certificate store's current context (taken per connection, so a rotation
/// applies to the next connection), then HTTP/1.1 to `WebhookHTTPHandler`.
public final class WebhookServer: Service, Sendable {
    let configuration: WebhookConfiguration
    let certificates: CertificateStore
    let routes: any WebhookRoutes
    let group: any EventLoopGroup
    let logger: Logger
    private let channel = Mutex<(any Channel)?>(nil)
    /// Set on SIGTERM: /readyz answers 503 from then on.
    let draining = Atomic(false)

    init(
        configuration: WebhookConfiguration, certificates: CertificateStore, routes: any WebhookRoutes,
        group: any EventLoopGroup, logger: Logger
    ) {
        self.configuration = configuration
        self.certificates = certificates
        self.routes = routes
        self.group = group
        self.logger = logger
    }

    /// The bound address (with the real port when 0 was asked for).
    public var boundAddress: SocketAddress? { channel.withLock { $0?.localAddress } }

    /// Binds the listener; an error names `listen`.
    public func bind() async throws {
        let address: SocketAddress
        do {
            address = try SocketAddress(ipAddress: configuration.listenHost, port: configuration.listenPort)
        } catch {
            throw WebhookError(.invalidSetting, "listen: \(configuration.listenHost) is not a numeric address")
        }
        let certificates = self.certificates
        let routes = self.routes
        let maxBody = configuration.maxRequestSize
        let timeout = TimeAmount(configuration.requestTimeout)
        let logger = self.logger
        do {
            let bound = try await ServerBootstrap(group: group)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .serverChannelOption(.backlog, value: 256)
                .childChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        let operations = channel.pipeline.syncOperations
                        try operations.addHandler(NIOSSLServerHandler(context: certificates.current.context))
                        try operations.configureHTTPServerPipeline(withErrorHandling: true)
                        try operations.addHandler(
                            WebhookHTTPHandler(routes: routes, maxBodySize: maxBody, requestTimeout: timeout, logger: logger))
                    }
                }
                .childChannelOption(.maxMessagesPerRead, value: 4)
                .bind(to: address)
                .get()
            channel.withLock { $0 = bound }
            logger.info("webhook listening", metadata: ["address": "\(bound.localAddress.map { "\($0)" } ?? "?")"])
        } catch {
            throw WebhookError(.cannotListen, "listen: cannot bind \(address): \(error)")
        }
    }

    public func run() async throws {
        if boundAddress == nil { try await bind() }
        let lameDuck = configuration.lameDuck
        await withTaskCancellationHandler {
            await withGracefulShutdownHandler {
                try? await channel.withLock { $0 }?.closeFuture.get()
            } onGracefulShutdown: {
                // Not ready at once, so the endpoints drop this replica; close the listener after the lame duck.
                self.draining.store(true, ordering: .relaxed)
                self.logger.info("draining", metadata: ["lame-duck": "\(lameDuck)"])
                guard let listener = self.channel.withLock({ $0 }) else { return }
                listener.eventLoop.scheduleTask(in: TimeAmount(lameDuck)) { listener.close(promise: nil) }
            }
        } onCancel: {
            self.channel.withLock { $0 }?.close(promise: nil)
        }
    }

    public func close() async {
        try? await channel.withLock { $0 }?.close()
    }
}
