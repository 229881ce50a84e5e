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
/// UDP: per address, one socket per event loop bound with SO_REUSEPORT (the kernel spreads clients over them by
/// their address and port), each served by a thread of its own outside NIO (`DatagramListener`): one `recvmmsg` takes
/// up to `vectorReadCount` datagrams, hits are rendered straight into the batch's send slots, one `sendmmsg` sends
/// them. A miss is handed to the miss queue of the listener's event loop and its reply sent from there when the
/// engine has it. TCP: NIO, connections spread over the event loops.
public final class DNSDoor: Service, Sendable {
    public let configuration: DNSFrontendConfiguration
    public let statistics = DNSFrontendStatistics()
    let cache: ResponseCache
    let loopGuard: ForwardingLoopGuard?
    let group: any EventLoopGroup
    let logger: Logger
    /// One miss queue per event loop, each served by a task that runs on its loop (EventLoopTaskExecutor): a miss
    /// is queued, answered, forwarded upstream and written back on one loop, with no further thread hand-over.
    /// Misses from elsewhere (no loop of the group) use the last queue, served on the cooperative pool.
    private struct MissQueue: Sendable {
        let loop: (any EventLoop)?
        let stream: AsyncStream<Miss>
        let sink: AsyncStream<Miss>.Continuation
    }
    private let queues: [MissQueue]
    private let pendingMisses = Atomic<Int>(0)
    private let pendingByClient = PendingMissesByClient()
    private let state = Mutex<State>(State())

    struct State {
        /// The TCP listeners: closed first on graceful shutdown.
        var tcpListeners: [Channel] = []
        /// The UDP sockets and their threads: closed after the misses already taken have been answered through them.
        var udpListeners: [DatagramListener] = []
        var bound: [SocketAddress] = []
    }

    /// A query the cache could not answer from memory, and where its reply goes.
    struct Miss: Sendable {
        var request: DNSRequest
        /// The client's spelling of the question name (the packet itself is gone by then).
        var clientName: [UInt8]
        var reply: @Sendable ([UInt8]) -> Void
        var limit: Int?
        /// Who asked, for the per-client limit (nil: not limited).
        var client: ClientAddress?
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

    /// Binds every listener and starts the UDP threads. Throws `DNSDoorError` naming the address that could not be
    /// bound.
    public func bind() async throws {
        var tcpListeners: [Channel] = []
        var udpListeners: [DatagramListener] = []
        var bound: [SocketAddress] = []
        do {
            for address in configuration.listen {
                var udpAddress = address
                // One UDP socket per event loop on the same address and port (SO_REUSEPORT). Measured against two
                // threads on one socket (no SO_REUSEPORT): more queries per second, while one shared socket gave the
                // lower latency; the difference was within this machine's drift (docs/benchmarks.md).
                for loop in group.makeIterator() {
                    let listener = try DatagramListener(binding: udpAddress, missLoops: [loop])
                    udpAddress = listener.address  // later sockets join the port the kernel picked for port 0
                    udpListeners.append(listener)
                }
                tcpListeners.append(try await bindTCP(udpAddress))
                bound.append(udpAddress)
            }
            for listener in udpListeners { try listener.start(door: self) }
        } catch {
            for channel in tcpListeners { try? await channel.close() }
            for listener in udpListeners { await listener.close() }
            throw error
        }
        state.withLock {
            $0.tcpListeners = tcpListeners
            $0.udpListeners = udpListeners
            $0.bound = bound
        }
        logger.info("DNS door listening", metadata: ["addresses": "\(bound.map { "\($0)" })"])
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

    /// Serves misses until cancelled or until graceful shutdown. On graceful shutdown the TCP listeners close first,
    /// then the misses already taken are answered (UDP still open), then `run` closes the UDP sockets and returns.
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
            self.closeTCPListeners().whenComplete { _ in for queue in self.queues { queue.sink.finish() } }
        }
        await close()
    }

    /// Answers one miss in its own child task, so a slow name never delays another.
    private func answer(_ miss: Miss) async {
        let answer = await cache.answer(
            for: miss.request.key, id: miss.request.id, recursionDesired: miss.request.recursionDesired)
        let reply = DNSResponder.finish(answer.wire, for: miss.request, clientName: miss.clientName, limit: miss.limit)
        statistics.replies.record(udp: miss.limit != nil, type: miss.request.key.type, rcode: Self.responseCode(of: reply))
        logger.debug(
            "query answered",
            metadata: [
                "question": "\(miss.request.key)", "transport": "\(miss.limit != nil ? "udp" : "tcp")",
                "source": "\(answer.source)", "rcode": "\(Self.responseCode(of: reply))",
            ])
        miss.reply(reply)
        pendingMisses.wrappingSubtract(1, ordering: .relaxed)
        if let client = miss.client { pendingByClient.release(client) }
    }

    /// Closes the TCP listeners (TCP connections already open stay until their replies are written); the UDP
    /// sockets stay open for the replies to misses already taken, and `close` shuts them after the queues drained.
    /// A query that arrives meanwhile is answered from the cache or with SERVFAIL (see `enqueue`).
    private func closeTCPListeners() -> EventLoopFuture<Void> {
        let channels = state.withLock { state in
            defer { state.tcpListeners = [] }
            return state.tcpListeners
        }
        return EventLoopFuture.andAllComplete(channels.map { $0.close() }, on: group.next())
    }

    /// Closes every listener: the UDP threads are stopped and joined before their sockets are closed.
    public func close() async {
        let (channels, listeners) = state.withLock { state in
            defer {
                state.tcpListeners = []
                state.udpListeners = []
            }
            return (state.tcpListeners, state.udpListeners)
        }
        for channel in channels { try? await channel.close() }
        for listener in listeners { await listener.close() }
    }

    // MARK: - Shared request path

    /// What the door does with one query message, decided before any reply is written.
    enum Disposition<Rendered> {
        /// Not a query we answer (a response, a runt): silence.
        case drop
        /// A reply the door made itself (FORMERR, NOTIMP, REFUSED, BADVERS, or SERVFAIL when it cannot take a miss).
        case reply([UInt8])
        /// A fresh cache entry, made into `Rendered` by the caller's `hit` closure, with its question type and RCODE.
        case hit(Rendered, type: DNSType, rcode: UInt8)
        /// Not cached: the caller queues it with `enqueue`, which says where its reply goes.
        case miss(DNSRequest, limit: Int?)
    }

    /// Parses one query and looks it up. Counts drops and refusals; the caller counts replies (the UDP threads add
    /// theirs once per batch). Over UDP `limit` is the size the client accepts.
    ///
    /// `debug` is whether the logger logs at debug level: the UDP threads read it once per batch rather than once
    /// per query (reading a logger's level goes through its handler's existential).
    ///
    /// `hit` runs under the shard lock with the fresh entry as the table holds it (`ResponseCache.withFreshEntry`):
    /// the UDP threads render into their send slot there, so the entry is never retained; TCP takes the entry out
    /// and renders into a new buffer after the lock.
    func dispose<Rendered>(
        _ bytes: UnsafeRawBufferPointer, overUDP: Bool, debug: Bool,
        hit render: (_ entry: CacheEntry, _ now: Nanoseconds, _ seed: UInt64, _ request: DNSRequest, _ limit: Int?)
            -> Rendered
    ) -> Disposition<Rendered> {
        switch DNSRequestParser.parse(bytes) {
        case .drop:
            statistics.bump(statistics.dropped)
            return .drop
        case .reply(let reply):
            statistics.bump(statistics.rejected)
            if debug {
                logger.debug(
                    "query refused",
                    metadata: ["transport": "\(overUDP ? "udp" : "tcp")", "rcode": "\(Self.responseCode(of: reply))"])
            }
            return .reply(reply)
        case .lookup(let request):
            let limit = overUDP ? request.udpLimit(configuration.maximumUDPResponseSize) : nil
            guard
                let (rendered, responseCode) = cache.withFreshEntry(for: request.key, { entry, now, seed in
                    (render(entry, now, seed, request, limit), entry.responseCode)
                })
            else { return .miss(request, limit: limit) }
            if debug {
                logger.debug(
                    "query answered",
                    metadata: [
                        "question": "\(request.key)", "transport": "\(overUDP ? "udp" : "tcp")", "source": "cache",
                        "rcode": "\(responseCode)",
                    ])
            }
            return .hit(rendered, type: request.key.type, rcode: UInt8(responseCode.rawValue & 0x0F))
        }
    }

    /// Takes a miss: queued on the miss queue of `eventLoop` (nil: the last queue), answered through `later`.
    /// Returns nil when queued, or the SERVFAIL to send at once when the door will not (or can no longer) take it:
    /// our own loop probe came back, too many misses are pending (from this client, or in all), or the door is
    /// draining.
    func enqueue(
        _ request: DNSRequest, limit: Int?, packet: UnsafeRawBufferPointer, client: ClientAddress?,
        eventLoop: (any EventLoop)?, later: @escaping @Sendable ([UInt8]) -> Void
    ) -> [UInt8]? {
        let clientName = Array(packet[request.nameRange])
        func serverFailure() -> [UInt8] {
            DNSResponder.finish(
                CacheAnswer.serverFailure(
                    for: request.key, id: request.id, recursionDesired: request.recursionDesired, source: .overloaded
                ).wire, for: request, clientName: clientName, limit: limit)
        }
        if let loopGuard, loopGuard.isProbe(request.key) {
            // Our own loop probe came back to us: the upstream forwards to us. Never forward it again.
            loopGuard.markDetected()
            logger.critical("forwarding loop: our probe query came back to the DNS door")
            return serverFailure()
        }
        guard pendingMisses.wrappingAdd(1, ordering: .relaxed).newValue <= configuration.maximumPendingMisses else {
            pendingMisses.wrappingSubtract(1, ordering: .relaxed)
            return serverFailure()
        }
        // One client (address and port: one socket) may hold only so many misses: a flood of new names from one
        // source then gets SERVFAIL at once instead of queueing ahead of everyone else's misses.
        if let client, !pendingByClient.admit(client, limit: configuration.maximumPendingMissesPerClient) {
            pendingMisses.wrappingSubtract(1, ordering: .relaxed)
            statistics.bump(statistics.clientMissesRefused)
            return serverFailure()
        }
        let queued = queue(for: eventLoop).sink.yield(
            Miss(request: request, clientName: clientName, reply: later, limit: limit, client: client))
        if case .terminated = queued {
            // Draining: the miss queues are closed. SERVFAIL now rather than no answer at all.
            pendingMisses.wrappingSubtract(1, ordering: .relaxed)
            if let client { pendingByClient.release(client) }
            return serverFailure()
        }
        return nil
    }

    /// The RCODE of a reply the door made (its low four bits; SERVFAIL if the reply is shorter than a header).
    static func responseCode(of reply: [UInt8]) -> UInt8 { reply.count > 3 ? reply[3] & 0x0F : 2 }

    /// The query type of a message, for the reply counters (0 when the question cannot be read).
    static func questionType(of bytes: UnsafeRawBufferPointer) -> DNSType { (try? DNSQueryView(bytes))?.type ?? DNSType(0) }
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

