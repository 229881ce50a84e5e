import DNSCache
import DNSTransport
import DNSWire
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The DNS door on 127.0.0.1:53 and [::1]:53: UDP and TCP listeners that answer from the cache engine.
///
/// UDP: one socket per event loop and address, bound with SO_REUSEPORT so the kernel spreads datagrams over the
/// loops; up to `vectorReadCount` datagrams per recvmmsg; replies are written as they are made and flushed once
/// per read burst. A hit is answered inline on the event loop; a miss is handed to the door's task group and
/// answered when the engine has it.
public final class DNSDoor: Service, Sendable {
    public let configuration: DNSFrontendConfiguration
    public let statistics = DNSFrontendStatistics()
    let cache: ResponseCache
    let loopGuard: ForwardingLoopGuard?
    let group: any EventLoopGroup
    let logger: Logger
    /// One miss queue per event loop, each served by a task that runs on its loop (EventLoopTaskExecutor): a miss
    /// is queued, answered, forwarded upstream and written back on the loop it arrived on, with no thread hand-over.
    /// Misses from elsewhere (no loop of the group) use the last queue, served on the cooperative pool.
    private struct MissQueue: Sendable {
        let loop: (any EventLoop)?
        let stream: AsyncStream<Miss>
        let sink: AsyncStream<Miss>.Continuation
    }
    private let queues: [MissQueue]
    private let pendingMisses = Atomic<Int>(0)
    private let state = Mutex<State>(State())

    struct State {
        var channels: [Channel] = []
        /// The TCP listeners among `channels`: closed first on graceful shutdown, while the UDP sockets stay open
        /// until the misses already taken have been answered through them.
        var tcpListeners: [ObjectIdentifier] = []
        var bound: [SocketAddress] = []
        var draining = false
    }

    /// A query the cache could not answer from memory, and where its reply goes.
    struct Miss: Sendable {
        var request: DNSRequest
        /// The client's spelling of the question name (the packet itself is gone by then).
        var clientName: [UInt8]
        var reply: @Sendable ([UInt8]) -> Void
        var limit: Int?
    }

    public init(
        configuration: DNSFrontendConfiguration, cache: ResponseCache, group: any EventLoopGroup,
        loopGuard: ForwardingLoopGuard? = nil, logger: Logger = Logger(label: "sidecache.dns")
    ) {
        self.configuration = configuration
        self.cache = cache
        self.group = group
        self.loopGuard = loopGuard
        self.logger = logger
        let loops: [(any EventLoop)?] = group.makeIterator().map { $0 } + [nil]
        queues = loops.map { loop in
            let (stream, sink) = AsyncStream.makeStream(of: Miss.self, bufferingPolicy: .unbounded)
            return MissQueue(loop: loop, stream: stream, sink: sink)
        }
    }

    private func queue(for loop: (any EventLoop)?) -> MissQueue {
        if let loop, let found = queues.first(where: { $0.loop === loop }) { return found }
        return queues[queues.count - 1]
    }

    /// The addresses actually bound (with the real port when 0 was asked for).
    public var boundAddresses: [SocketAddress] { state.withLock { $0.bound } }

    /// Binds every listener. Throws `DNSDoorError` naming the address that could not be bound.
    public func bind() async throws {
        var channels: [Channel] = []
        var tcpListeners: [ObjectIdentifier] = []
        var bound: [SocketAddress] = []
        do {
            for address in configuration.listen {
                var udpAddress = address
                // One UDP socket per event loop on the same address and port (SO_REUSEPORT).
                for loop in group.makeIterator() {
                    let channel = try await bindUDP(udpAddress, on: loop)
                    if udpAddress.port == 0, let local = channel.localAddress {
                        udpAddress = local  // later loops join the port the kernel picked
                    }
                    channels.append(channel)
                }
                let tcp = try await bindTCP(udpAddress)
                channels.append(tcp)
                tcpListeners.append(ObjectIdentifier(tcp))
                bound.append(udpAddress)
            }
        } catch {
            for channel in channels { try? await channel.close() }
            throw error
        }
        state.withLock {
            $0.channels = channels
            $0.tcpListeners = tcpListeners
            $0.bound = bound
        }
        logger.info("DNS door listening", metadata: ["addresses": "\(bound.map { "\($0)" })"])
    }

    private func bindUDP(_ address: SocketAddress, on loop: any EventLoop) async throws -> Channel {
        let handler = UDPDoorHandler(door: self)
        let slots = configuration.vectorReadCount
        do {
            return try await DatagramBootstrap(group: loop)
                .channelOption(.socketOption(.so_reuseaddr), value: 1)
                .channelOption(ChannelOptions.Types.SocketOption(level: .socket, name: NIOBSDSocket.Option(rawValue: SO_REUSEPORT)), value: 1)
                .channelOption(.datagramVectorReadMessageCount, value: slots)
                // One recvmmsg per read cycle, then channelReadComplete flushes: replies never wait behind further
                // reads (NIO's default of several reads per cycle raised p99 latency under load).
                .channelOption(.maxMessagesPerRead, value: 1)
                // NIO splits the buffer evenly between the slots: give each room for a 4 KiB query.
                .channelOption(.recvAllocator, value: FixedSizeRecvByteBufferAllocator(capacity: 4096 * slots))
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(handler) }
                }
                .bind(to: address)
                .get()
        } catch {
            throw DNSDoorError(address: address, transport: "UDP", underlying: error)
        }
    }

    private func bindTCP(_ address: SocketAddress) async throws -> Channel {
        let configuration = self.configuration
        do {
            return try await ServerBootstrap(group: group)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .serverChannelOption(.backlog, value: 1024)
                .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
                .childChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandlers([
                            IdleStateHandler(readTimeout: configuration.tcpIdleTimeout),
                            ByteToMessageHandler(DNSLengthPrefixDecoder()),
                            TCPDoorHandler(door: self),
                        ])
                    }
                }
                .bind(to: address)
                .get()
        } catch {
            throw DNSDoorError(address: address, transport: "TCP", underlying: error)
        }
    }

    /// Serves misses until cancelled or until graceful shutdown. On graceful shutdown the listeners close first,
    /// then the misses already taken are answered, then `run` returns.
    public func run() async throws {
        if boundAddresses.isEmpty { try await bind() }
        await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { group in
                for queue in self.queues {
                    group.addTask(executorPreference: queue.loop.map(EventLoopTaskExecutor.init)) {
                        await withDiscardingTaskGroup { misses in
                            for await miss in queue.stream {
                                misses.addTask { await self.answer(miss) }
                            }
                        }
                    }
                }
            }
        } onGracefulShutdown: {
            self.closeListeners().whenComplete { _ in for queue in self.queues { queue.sink.finish() } }
        }
        await close()
    }

    /// Answers one miss in its own child task, so a slow name never delays another.
    private func answer(_ miss: Miss) async {
        let answer = await cache.answer(
            for: miss.request.key, id: miss.request.id, recursionDesired: miss.request.recursionDesired)
        let reply = DNSResponder.finish(answer.wire, for: miss.request, clientName: miss.clientName, limit: miss.limit)
        statistics.replies.record(udp: miss.limit != nil, type: miss.request.key.type, rcode: reply.count > 3 ? reply[3] & 0x0F : 2)
        logger.debug(
            "query answered",
            metadata: [
                "question": "\(miss.request.key)", "transport": "\(miss.limit != nil ? "udp" : "tcp")",
                "source": "\(answer.source)", "rcode": "\(reply.count > 3 ? reply[3] & 0x0F : 2)",
            ])
        miss.reply(reply)
        pendingMisses.wrappingSubtract(1, ordering: .relaxed)
    }

    /// Closes the TCP listeners (TCP connections already open stay until their replies are written); the UDP
    /// sockets stay open for the replies to misses already taken, and `close` shuts them after the queues drained.
    /// A query that arrives meanwhile is answered from the cache or with SERVFAIL (see `handle`).
    private func closeListeners() -> EventLoopFuture<Void> {
        let channels = state.withLock { state in
            let listeners = state.channels.filter { state.tcpListeners.contains(ObjectIdentifier($0)) }
            state.channels.removeAll { state.tcpListeners.contains(ObjectIdentifier($0)) }
            state.tcpListeners = []
            return listeners
        }
        let futures = channels.map { $0.close() }
        return EventLoopFuture.andAllComplete(futures, on: group.next())
    }

    /// Closes every listener.
    public func close() async {
        let channels = state.withLock { state in
            defer { state.channels = [] }
            return state.channels
        }
        for channel in channels { try? await channel.close() }
    }

    // MARK: - Shared request path

    /// What to do with one query message.
    enum Outcome {
        /// Send this now.
        case reply(ByteBuffer)
        /// A miss: the reply comes later through the `later` callback.
        case pending
        /// Nothing to send.
        case none
    }

    /// Handles one query message. A hit is rendered straight into a send buffer; a miss is queued for the door's
    /// task and answered through `later`. Over UDP the reply is cut to what the client accepts; over TCP it is
    /// length-prefixed.
    func handle(
        _ bytes: UnsafeRawBufferPointer, overUDP: Bool, allocator: ByteBufferAllocator, eventLoop: (any EventLoop)? = nil,
        later: @escaping @Sendable ([UInt8]) -> Void
    ) -> Outcome {
        func send(_ reply: [UInt8]) -> Outcome {
            var buffer = allocator.buffer(capacity: reply.count + 2)
            if overUDP { buffer.writeBytes(reply) } else { buffer.writeLengthPrefixedDNSMessage(reply) }
            return .reply(buffer)
        }
        switch DNSRequestParser.parse(bytes) {
        case .drop:
            statistics.bump(statistics.dropped)
            return .none
        case .reply(let reply):
            statistics.bump(statistics.rejected)
            let type = (try? DNSQueryView(bytes))?.type ?? DNSType(0)
            statistics.replies.record(udp: overUDP, type: type, rcode: reply.count > 3 ? reply[3] & 0x0F : 1)
            logger.debug(
                "query refused", metadata: ["transport": "\(overUDP ? "udp" : "tcp")", "rcode": "\(reply.count > 3 ? reply[3] & 0x0F : 1)"])
            return send(reply)
        case .lookup(let request):
            let limit = overUDP ? request.udpLimit(configuration.maximumUDPResponseSize) : nil
            if let hit = cache.freshHit(for: request.key) {
                statistics.replies.record(
                    udp: overUDP, type: request.key.type, rcode: UInt8(hit.entry.responseCode.rawValue & 0x0F))
                logger.debug(
                    "query answered",
                    metadata: [
                        "question": "\(request.key)", "transport": "\(overUDP ? "udp" : "tcp")", "source": "cache",
                        "rcode": "\(hit.entry.responseCode)",
                    ])
                return .reply(
                    DNSResponder.write(
                        hit, for: request, packet: bytes, limit: limit, lengthPrefixed: !overUDP, allocator: allocator))
            }
            let clientName = Array(bytes[request.nameRange])
            // SERVFAIL now: the door will not (or can no longer) take the miss.
            func serverFailure() -> Outcome {
                send(
                    DNSResponder.finish(
                        CacheAnswer.serverFailure(
                            for: request.key, id: request.id, recursionDesired: request.recursionDesired,
                            source: .overloaded
                        ).wire, for: request, clientName: clientName, limit: limit))
            }
            if let loopGuard, loopGuard.isProbe(request.key) {
                // Our own loop probe came back to us: the upstream forwards to us. Never forward it again.
                loopGuard.markDetected()
                logger.critical("forwarding loop: our probe query came back to the DNS door")
                return serverFailure()
            }
            guard pendingMisses.wrappingAdd(1, ordering: .relaxed).newValue <= configuration.maximumPendingMisses
            else {
                pendingMisses.wrappingSubtract(1, ordering: .relaxed)
                return serverFailure()
            }
            let queued = queue(for: eventLoop).sink.yield(
                Miss(request: request, clientName: clientName, reply: later, limit: limit))
            if case .terminated = queued {
                // Draining: the miss queues are closed. SERVFAIL now rather than no answer at all.
                pendingMisses.wrappingSubtract(1, ordering: .relaxed)
                return serverFailure()
            }
            return .pending
        }
    }
}

/// A listener that could not be bound: the message names the setting and the address.
public struct DNSDoorError: Error, CustomStringConvertible {
    public var address: SocketAddress
    public var transport: String
    public var underlying: any Error
    public var description: String {
        "dns-listen: cannot bind \(transport) \(address): \(underlying)"
            + (address.port ?? 0 < 1024 ? " (ports below 1024 need root or CAP_NET_BIND_SERVICE; try --dns-listen 127.0.0.1:5353)" : "")
    }
}
