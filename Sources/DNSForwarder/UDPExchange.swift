import DNSCache
import DNSWire
import NIOCore
import NIOPosix

/// Errors of one try.
enum ExchangeError: Error {
    case timeout
    case network(any Error)
    case connectionClosed
}

/// Receives on a connected UDP socket until a reply passes validation; everything else is dropped and counted.
final class UDPExchangeHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>

    let id: UInt16
    let key: CacheKey
    let remote: SocketAddress
    let promise: EventLoopPromise<DNSMessage>
    let statistics: ForwarderStatistics

    init(id: UInt16, key: CacheKey, remote: SocketAddress, promise: EventLoopPromise<DNSMessage>,
        statistics: ForwarderStatistics)
    {
        self.id = id
        self.key = key
        self.remote = remote
        self.promise = promise
        self.statistics = statistics
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let envelope = unwrapInboundIn(data)
        guard envelope.remoteAddress == remote else {
            statistics.bump(statistics.droppedWrongSource)
            return
        }
        switch validateReply(Array(envelope.data.readableBytesView), id: id, key: key) {
        case .success(let message):
            promise.succeed(message)
            context.close(promise: nil)
        case .failure(let rejection):
            statistics.count(rejection)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // ECONNREFUSED from an ICMP port unreachable: the upstream is not listening.
        promise.fail(ExchangeError.network(error))
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        promise.fail(ExchangeError.connectionClosed)
    }
}

extension DNSForwarder {
    /// One try over UDP: a new socket on a fresh ephemeral port, connected to the upstream so the kernel drops
    /// datagrams from anyone else (RFC 5452 9.2), and a fresh random ID.
    ///
    /// Bind, connect, send, the timer and the wait for the reply are one chain of futures on the channel's event
    /// loop, so the calling task hands over once and is resumed once: every hop between the task pool and the loop
    /// costs a thread wake-up, and a cold nscd lookup walks its search candidates one try after the other.
    func exchangeUDP(
        _ key: CacheKey, upstream: SocketAddress, configuration: ForwarderConfiguration, timeout: TimeAmount
    ) async throws -> DNSMessage {
        // The current loop when the caller runs on one (EventLoopTaskExecutor; the nscd door's lookup loop is not in
        // `group`): the reply then resumes the caller without a change of thread.
        let loop = MultiThreadedEventLoopGroup.currentEventLoop ?? group.next()
        let promise = loop.makePromise(of: DNSMessage.self)
        let id = UInt16.random(in: .min ... .max)  // SystemRandomNumberGenerator: the kernel CSPRNG
        let statistics = self.statistics
        let bind: SocketAddress
        do {
            bind = upstream.protocol == .inet6 ? try SocketAddress(ipAddress: "::", port: 0)
                : try SocketAddress(ipAddress: "0.0.0.0", port: 0)
        } catch {
            promise.fail(error)
            throw ExchangeError.network(error)
        }
        let query = upstreamQuery(for: key, id: id, ednsUDPSize: configuration.ednsUDPSize)
        DatagramBootstrap(group: loop)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        UDPExchangeHandler(id: id, key: key, remote: upstream, promise: promise, statistics: statistics))
                }
            }
            .bind(to: bind)
            .flatMap { channel in
                channel.connect(to: upstream).map { channel }.flatMapErrorThrowing { error in
                    // Bound but not connected (no route, say): the socket must not outlive the try.
                    channel.close(promise: nil)
                    throw error
                }
            }
            .whenComplete { result in
                switch result {
                case .failure(let error):
                    promise.fail(ExchangeError.network(error))
                case .success(let channel):
                    let timer = loop.scheduleTask(in: timeout) { promise.fail(ExchangeError.timeout) }
                    promise.futureResult.whenComplete { _ in
                        timer.cancel()
                        channel.close(promise: nil)
                    }
                    channel.writeAndFlush(
                        AddressedEnvelope(remoteAddress: upstream, data: channel.allocator.buffer(bytes: query))
                    ).whenFailure { error in promise.fail(ExchangeError.network(error)) }
                    statistics.bump(statistics.queriesSent)
                }
            }
        return try await promise.futureResult.get()
    }
}
