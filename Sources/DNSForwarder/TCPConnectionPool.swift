import DNSCache
import DNSTransport
import DNSWire
import NIOCore
import NIOPosix
import Synchronization

/// A query handed to a TCP connection: the handler picks its ID, so many can be outstanding at once.
struct PipelinedQuery {
    var key: CacheKey
    var promise: EventLoopPromise<DNSMessage>
}

/// Many outstanding queries on one connection, matched to replies by ID (RFC 7766 6.2.1.1).
final class DNSTCPClientHandler: ChannelDuplexHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = PipelinedQuery
    typealias OutboundOut = ByteBuffer

    private var pending: [UInt16: PipelinedQuery] = [:]
    private let statistics: ForwarderStatistics
    private let ednsUDPSize: UInt16
    let outstanding = Atomic<Int>(0)
    let closed = Atomic<Bool>(false)

    init(statistics: ForwarderStatistics, ednsUDPSize: UInt16) {
        self.statistics = statistics
        self.ednsUDPSize = ednsUDPSize
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let query = unwrapOutboundIn(data)
        var id = UInt16.random(in: .min ... .max)
        while pending[id] != nil { id = UInt16.random(in: .min ... .max) }
        pending[id] = query
        outstanding.store(pending.count, ordering: .relaxed)
        let bytes = upstreamQuery(for: query.key, id: id, ednsUDPSize: ednsUDPSize)
        var buffer = context.channel.allocator.buffer(capacity: bytes.count + 2)
        buffer.writeLengthPrefixedDNSMessage(bytes)
        statistics.bump(statistics.queriesSent)
        context.write(wrapOutboundOut(buffer), promise: promise)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        let bytes = Array(frame.readableBytesView)
        guard bytes.count >= 2 else {
            statistics.bump(statistics.droppedMalformed)
            return
        }
        let id = UInt16(bytes[0]) << 8 | UInt16(bytes[1])
        guard let query = pending[id] else {
            statistics.bump(statistics.droppedWrongID)
            return
        }
        switch validateReply(bytes, id: id, key: query.key) {
        case .success(let message):
            pending[id] = nil
            outstanding.store(pending.count, ordering: .relaxed)
            query.promise.succeed(message)
        case .failure(let rejection):
            statistics.count(rejection)
        }
    }

    /// A query whose caller gave up (timeout) is forgotten, so a late reply counts as unknown.
    func forget(_ promise: EventLoopPromise<DNSMessage>) {
        if let id = pending.first(where: { $0.value.promise.futureResult === promise.futureResult })?.key {
            pending[id] = nil
            outstanding.store(pending.count, ordering: .relaxed)
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent, pending.isEmpty {
            context.close(promise: nil)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        closed.store(true, ordering: .releasing)
        let failed = pending.values
        pending = [:]
        outstanding.store(0, ordering: .relaxed)
        for query in failed { query.promise.fail(ExchangeError.connectionClosed) }
        context.fireChannelInactive()
    }
}

/// Persistent TCP connections to one upstream: at most `maximumConnections`, a new one opened only when every open
/// one has `pipelineDepth` queries outstanding; closed ones are dropped and reopened on demand.
final class TCPConnectionPool: Sendable {
    struct Connection: Sendable {
        let channel: Channel
        let handler: DNSTCPClientHandler
    }

    private let address: SocketAddress
    private let group: any EventLoopGroup
    private let configuration: ForwarderConfiguration
    private let statistics: ForwarderStatistics
    /// A connection being opened or open. `ready` is set once the connect succeeds.
    private final class Slot: @unchecked Sendable {
        // Guarded by the pool's lock.
        let future: EventLoopFuture<Connection>
        var ready: Connection?
        var failed = false
        init(future: EventLoopFuture<Connection>) { self.future = future }
    }
    private let slots = Mutex<[Slot]>([])

    init(address: SocketAddress, group: any EventLoopGroup, configuration: ForwarderConfiguration,
        statistics: ForwarderStatistics)
    {
        self.address = address
        self.group = group
        self.configuration = configuration
        self.statistics = statistics
    }

    private func connect() -> EventLoopFuture<Connection> {
        let statistics = self.statistics
        let configuration = self.configuration
        statistics.bump(statistics.tcpConnectionsOpened)
        return ClientBootstrap(group: group)
            .connectTimeout(configuration.attemptTimeout)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let handler = DNSTCPClientHandler(statistics: statistics, ednsUDPSize: configuration.ednsUDPSize)
                    try channel.pipeline.syncOperations.addHandlers([
                        IdleStateHandler(allTimeout: configuration.tcpIdleTimeout),
                        ByteToMessageHandler(DNSLengthPrefixDecoder()),
                        handler,
                    ])
                }
            }
            .connect(to: address)
            .flatMap { channel in
                channel.pipeline.handler(type: DNSTCPClientHandler.self).map { Connection(channel: channel, handler: $0) }
            }
    }

    /// Picks (or opens) a connection for one more query.
    private func checkout() -> EventLoopFuture<Connection> {
        let (future, opened): (EventLoopFuture<Connection>, Slot?) = slots.withLock { list in
            // Forget connections that closed or failed to open.
            list.removeAll { $0.failed || ($0.ready?.handler.closed.load(ordering: .acquiring) ?? false) }
            let loads = list.map { ($0, $0.ready?.handler.outstanding.load(ordering: .relaxed) ?? 0) }
            if let best = loads.min(by: { $0.1 < $1.1 }),
                best.1 < configuration.pipelineDepth || list.count >= configuration.maximumTCPConnections
            {
                return (best.0.future, nil)
            }
            let slot = Slot(future: connect())
            list.append(slot)
            return (slot.future, slot)
        }
        if let opened {
            opened.future.whenComplete { result in
                self.slots.withLock { _ in
                    switch result {
                    case .success(let connection): opened.ready = connection
                    case .failure: opened.failed = true
                    }
                }
            }
        }
        return future
    }

    /// One question on a pooled connection. Everything, connecting included, ends by `deadline`.
    func exchange(_ key: CacheKey, deadline: NIODeadline) async throws -> DNSMessage {
        let waiting = group.next().makePromise(of: Connection.self)
        checkout().cascade(to: waiting)
        let connectTimer = waiting.futureResult.eventLoop.scheduleTask(deadline: deadline) {
            waiting.fail(ExchangeError.timeout)
        }
        let connection: Connection
        do {
            connection = try await waiting.futureResult.get()
            connectTimer.cancel()
        } catch let error as ExchangeError {
            throw error
        } catch {
            throw ExchangeError.network(error)
        }
        let loop = connection.channel.eventLoop
        let promise = loop.makePromise(of: DNSMessage.self)
        let handler = connection.handler
        let timer = loop.scheduleTask(deadline: deadline) {
            handler.forget(promise)
            promise.fail(ExchangeError.timeout)
        }
        promise.futureResult.whenComplete { _ in timer.cancel() }
        connection.channel.writeAndFlush(PipelinedQuery(key: key, promise: promise)).whenFailure { error in
            promise.fail(ExchangeError.network(error))
        }
        return try await promise.futureResult.get()
    }

    func closeAll() {
        let list = slots.withLock { list in
            defer { list = [] }
            return list
        }
        for slot in list { slot.future.whenSuccess { $0.channel.close(promise: nil) } }
    }
}
