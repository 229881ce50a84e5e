import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import ServiceLifecycle
import Synchronization

/// A response of the admin listener.
public struct AdminResponse: Sendable {
    public var status: HTTPResponseStatus
    public var contentType: String
    public var body: [UInt8]

    public init(status: HTTPResponseStatus = .ok, contentType: String = "text/plain; charset=utf-8", body: [UInt8]) {
        self.status = status
        self.contentType = contentType
        self.body = body
    }

    public init(status: HTTPResponseStatus = .ok, text: String) {
        self.init(status: status, body: Array(text.utf8))
    }
}

/// Answers one request: method, path (without the query), query string. Runs on an event loop: keep it short.
public typealias AdminRoute = @Sendable (_ method: HTTPMethod, _ path: String, _ query: String) -> AdminResponse

/// The admin listener (default 127.0.0.1:9253): plain HTTP/1.1, one route function, keep-alive, small requests only.
public final class AdminServer: Service, Sendable {
    public let address: SocketAddress
    let group: any EventLoopGroup
    let route: AdminRoute
    let logger: Logger
    private let channel: LockedChannel

    final class LockedChannel: Sendable {
        private let value = Mutex<Channel?>(nil)
        func set(_ channel: Channel?) { value.withLock { $0 = channel } }
        func get() -> Channel? { value.withLock { $0 } }
    }

    public init(address: SocketAddress, group: any EventLoopGroup, logger: Logger = Logger(label: "sidecache.admin"),
        route: @escaping AdminRoute)
    {
        self.address = address
        self.group = group
        self.route = route
        self.logger = logger
        self.channel = LockedChannel()
    }

    /// The bound address (with the real port when 0 was asked for).
    public var boundAddress: SocketAddress? { channel.get()?.localAddress }

    /// Binds the listener. Throws an error naming `admin-listen`.
    public func bind() async throws {
        let route = self.route
        do {
            let bound = try await ServerBootstrap(group: group)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelInitializer { channel in
                    channel.pipeline.configureHTTPServerPipeline(withErrorHandling: true).flatMap {
                        channel.pipeline.addHandler(AdminHandler(route: route))
                    }
                }
                .childChannelOption(.maxMessagesPerRead, value: 1)
                .bind(to: address)
                .get()
            channel.set(bound)
            logger.info("admin listener up", metadata: ["address": "\(bound.localAddress.map { "\($0)" } ?? "?")"])
        } catch {
            throw AdminServerError(address: address, underlying: error)
        }
    }

    public func run() async throws {
        if channel.get() == nil { try await bind() }
        // Ends on graceful shutdown and on cancellation alike: either closes the listener.
        await withTaskCancellationHandler {
            await withGracefulShutdownHandler {
                try? await channel.get()?.closeFuture.get()
            } onGracefulShutdown: {
                self.channel.get()?.close(promise: nil)
            }
        } onCancel: {
            self.channel.get()?.close(promise: nil)
        }
    }

    public func close() async {
        try? await channel.get()?.close()
    }
}

public struct AdminServerError: Error, CustomStringConvertible {
    public var address: SocketAddress
    public var underlying: any Error
    public var description: String { "admin-listen: cannot bind \(address): \(underlying)" }
}

final class AdminHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let route: AdminRoute
    private var head: HTTPRequestHead?

    init(route: @escaping AdminRoute) { self.route = route }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let request):
            head = request
        case .body:
            break  // requests carry no body we use
        case .end:
            guard let request = head else { return }
            head = nil
            let parts = request.uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
            let path = String(parts.first ?? "/")
            let query = parts.count > 1 ? String(parts[1]) : ""
            let response = route(request.method, path, query)
            var headers = HTTPHeaders()
            headers.add(name: "Content-Type", value: response.contentType)
            headers.add(name: "Content-Length", value: "\(response.body.count)")
            let keepAlive = request.isKeepAlive
            if !keepAlive { headers.add(name: "Connection", value: "close") }
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: request.version, status: response.status, headers: headers))), promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: response.body)))), promise: nil)
            let done = context.writeAndFlush(wrapOutboundOut(.end(nil)))
            if !keepAlive {
                let channel = context.channel
                done.whenComplete { _ in channel.close(promise: nil) }
            }
        }
    }
}
