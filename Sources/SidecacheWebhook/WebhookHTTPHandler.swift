import Logging
import NIOCore
import NIOHTTP1

/// The routes of the webhook's HTTPS listener, answered by the server.
protocol WebhookRoutes: Sendable {
    func mutate(_ body: [UInt8]) -> AdmissionAnswer
    /// nil when ready; the reason otherwise.
    func notReadyReason() -> String?
    func metricsExposition() -> [UInt8]
    func recordRequest(_ result: AdmissionResult, duration: Duration?)
    func recordTimeout()
}

/// One connection: HTTP/1.1 requests (keep-alive, in order) after the TLS handshake.
///
/// Resources per connection are bounded: a body is refused with 413 as soon as its Content-Length (or, without one,
/// the bytes received) exceed the limit, without reading the rest; and each request must arrive complete within the
/// request timeout of the connection's start (which covers the TLS handshake) or of the previous answer, so a
/// client that sends slowly or not at all is closed. Each connection has its own timer on its own event loop, so a
/// slow client never delays another.
final class WebhookHTTPHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private enum Route { case mutate, healthz, readyz, metrics }

    private let routes: any WebhookRoutes
    private let maxBodySize: Int
    private let requestTimeout: TimeAmount
    private let logger: Logger
    private var head: HTTPRequestHead?
    private var route: Route?
    private var body: ByteBuffer?
    /// A request answered early (404, 405, 413): its remaining parts are ignored until the connection closes.
    private var answeredEarly = false
    private var deadline: Scheduled<Void>?

    init(routes: any WebhookRoutes, maxBodySize: Int, requestTimeout: TimeAmount, logger: Logger) {
        self.routes = routes
        self.maxBodySize = maxBodySize
        self.requestTimeout = requestTimeout
        self.logger = logger
    }

    func handlerAdded(context: ChannelHandlerContext) {
        armDeadline(context: context)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        deadline?.cancel()
        deadline = nil
    }

    private func armDeadline(context: ChannelHandlerContext) {
        deadline?.cancel()
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        deadline = context.eventLoop.scheduleTask(in: requestTimeout) {
            let (handler, context) = loopBound.value
            handler.routes.recordTimeout()
            handler.logger.debug(
                "closing a connection: no complete request in time",
                metadata: ["peer": "\(context.remoteAddress.map { "\($0)" } ?? "?")"])
            context.close(promise: nil)
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let request):
            begin(request, context: context)
        case .body(var chunk):
            guard !answeredEarly, route == .mutate, body != nil else { return }
            if body!.readableBytes + chunk.readableBytes > maxBodySize {
                tooLarge(context: context)
                return
            }
            body!.writeBuffer(&chunk)
        case .end:
            if answeredEarly { return }
            finish(context: context)
        }
    }

    private func begin(_ request: HTTPRequestHead, context: ChannelHandlerContext) {
        if answeredEarly { return }
        head = request
        let path = String(request.uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first ?? "")
        let routesByPath: [String: (Route, HTTPMethod)] = [
            "/mutate": (.mutate, .POST), "/healthz": (.healthz, .GET), "/readyz": (.readyz, .GET),
            "/metrics": (.metrics, .GET),
        ]
        guard let (route, method) = routesByPath[path] else {
            answerEarly(.notFound, "no such path: \(path) (POST /mutate, GET /healthz, /readyz, /metrics)\n", context: context)
            return
        }
        guard request.method == method || (method == .GET && request.method == .HEAD) else {
            answerEarly(.methodNotAllowed, "\(path) takes \(method) only\n", context: context, extra: [("Allow", "\(method)")])
            return
        }
        self.route = route
        guard route == .mutate else { return }
        if let length = request.headers.first(name: "content-length").flatMap({ Int($0) }), length > maxBodySize {
            tooLarge(context: context)
            return
        }
        body = context.channel.allocator.buffer(capacity: 0)
        if request.headers.first(name: "expect")?.lowercased() == "100-continue" {
            let informational = HTTPResponseHead(version: request.version, status: .continue)
            context.writeAndFlush(wrapOutboundOut(.head(informational)), promise: nil)
        }
    }

    private func tooLarge(context: ChannelHandlerContext) {
        routes.recordRequest(.rejected, duration: nil)
        answerEarly(.payloadTooLarge, "the body is larger than \(maxBodySize) octets (--max-request-size)\n", context: context)
    }

    /// Answers before the body has been read, and closes: the rest of the request is never read.
    private func answerEarly(
        _ status: HTTPResponseStatus, _ text: String, context: ChannelHandlerContext, extra: [(String, String)] = []
    ) {
        answeredEarly = true
        body = nil
        write(status, contentType: "text/plain; charset=utf-8", Array(text.utf8), close: true, context: context, extra: extra)
    }

    private func finish(context: ChannelHandlerContext) {
        guard let request = head, let route else { return }
        let started = ContinuousClock.now
        let status: HTTPResponseStatus
        let contentType: String
        let bytes: [UInt8]
        switch route {
        case .mutate:
            let received = body.map { Array($0.readableBytesView) } ?? []
            let answer = routes.mutate(received)
            routes.recordRequest(answer.result, duration: ContinuousClock.now - started)
            logOutcome(answer, context: context)
            status = HTTPResponseStatus(statusCode: answer.status)
            contentType = answer.contentType
            bytes = answer.body
        case .healthz:
            (status, contentType, bytes) = (.ok, "text/plain; charset=utf-8", Array("ok\n".utf8))
        case .readyz:
            if let reason = routes.notReadyReason() {
                (status, contentType, bytes) = (.serviceUnavailable, "text/plain; charset=utf-8", Array("not ready: \(reason)\n".utf8))
            } else {
                (status, contentType, bytes) = (.ok, "text/plain; charset=utf-8", Array("ready\n".utf8))
            }
        case .metrics:
            (status, contentType, bytes) = (.ok, "text/plain; version=0.0.4; charset=utf-8", routes.metricsExposition())
        }
        let keepAlive = request.isKeepAlive
        write(status, contentType: contentType, request.method == .HEAD ? [] : bytes, length: bytes.count,
            close: !keepAlive, context: context)
        head = nil
        self.route = nil
        body = nil
        if keepAlive { armDeadline(context: context) }
    }

    private func logOutcome(_ answer: AdmissionAnswer, context: ChannelHandlerContext) {
        let metadata: Logger.Metadata = ["result": "\(answer.result.rawValue)", "reason": "\(answer.reason)"]
        switch answer.result {
        case .patched, .skipped: logger.debug("admission review answered", metadata: metadata)
        case .error: logger.warning("pod admitted without the sidecar", metadata: metadata)
        case .rejected: logger.notice("admission review refused", metadata: metadata)
        }
    }

    private func write(
        _ status: HTTPResponseStatus, contentType: String, _ bytes: [UInt8], length: Int? = nil, close: Bool,
        context: ChannelHandlerContext, extra: [(String, String)] = []
    ) {
        var headers = HTTPHeaders([("Content-Type", contentType), ("Content-Length", String(length ?? bytes.count))])
        headers.add(contentsOf: extra)
        if close { headers.add(name: "Connection", value: "close") }
        let version = head?.version ?? .http1_1
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: version, status: status, headers: headers))), promise: nil)
        if !bytes.isEmpty {
            context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: bytes)))), promise: nil)
        }
        let done = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        if close {
            deadline?.cancel()
            let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
            done.whenComplete { _ in loopBound.value.close(promise: nil) }
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // TLS handshake failures (a client that does not trust the CA, plain HTTP on the TLS port) and resets.
        logger.debug("connection error", metadata: ["error": "\(error)"])
        context.close(promise: nil)
    }
}
