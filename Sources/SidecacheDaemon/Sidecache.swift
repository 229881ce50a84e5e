import DNSCache
import DNSForwarder
import AdminHTTP
import DNSFrontend
import NSCDFrontend
import NSCDSharedMap
import Logging
import NIOCore
import NIOPosix

#if canImport(Glibc)
import Glibc
#endif
import ResolverConfiguration
import ServiceLifecycle
import Synchronization
import UnixSignals

/// The whole daemon: engine, forwarder and DNS door, composed as swift-service-lifecycle services.
/// A library type, so tests can run the daemon in-process.
public final class Sidecache: Sendable {
    public let configuration: SidecacheConfiguration
    public let cache: ResponseCache
    public let forwarder: DNSForwarder
    public let door: DNSDoor
    /// The nscd door, unless `--nscd-socket off`.
    public let nscdDoor: NSCDDoor?
    private let shutdownRequests: AsyncStream<Void>
    private let shutdownSink: AsyncStream<Void>.Continuation
    public let metrics: SidecacheMetrics
    /// The admin listener, unless `--admin-listen off`.
    public let admin: AdminServer?
    let state: DaemonState
    public let upstreams: [UpstreamAddress]
    let group: MultiThreadedEventLoopGroup
    let logger: Logger

    /// Builds every part and binds the listeners, so a bad setting or a port that cannot be bound fails here, with
    /// a message naming the setting, before anything runs.
    public init(configuration: SidecacheConfiguration, logger: Logger = Logger(label: "sidecache")) async throws {
        self.configuration = configuration
        self.logger = logger
        var listen = configuration.dnsListen
        if configuration.dnsListenIsDefault && !Self.hostHasIPv6Loopback() {
            logger.warning("no IPv6 loopback on this host: not listening on [::1]")
            listen.removeAll { $0.host.contains(":") }
        }
        let (upstreams, resolv) = try Self.upstreams(configuration, listen: listen)
        self.upstreams = upstreams
        var forwarding = ForwarderConfiguration(upstreams: upstreams)
        // Upstreams taken from resolv.conf come with its options: `rotate` spreads queries round-robin and
        // `use-vc` asks for TCP, as glibc's stub would. Explicit settings win. (resolv.conf's `timeout` and
        // `attempts` are not taken: glibc's 5 s default would outlast the client's own patience.)
        forwarding.policy = configuration.upstreamPolicy ?? (resolv?.rotate == true ? .roundRobin : .sequential)
        forwarding.forceTCP = configuration.forceTCP ?? (resolv?.useVC ?? false)
        forwarding.attemptTimeout = configuration.upstreamTimeout
        forwarding.deadline = configuration.upstreamDeadline
        forwarding.maximumTCPConnections = configuration.upstreamTCPConnections
        do {
            try forwarding.validate(ownListenAddresses: listen)
        } catch {
            throw ConfigurationError(setting: error.setting, reason: error.reason)
        }
        let threads = configuration.threads > 0 ? configuration.threads : System.coreCount
        let loops = MultiThreadedEventLoopGroup(numberOfThreads: threads)
        group = loops
        let loopGuard = ForwardingLoopGuard()
        let metrics = SidecacheMetrics(upstreams: upstreams)
        self.metrics = metrics
        let forwarder = try DNSForwarder(
            configuration: forwarding, group: group, loopGuard: loopGuard,
            logger: Logger(label: "sidecache.forwarder"),
            onLatency: { metrics.recordLatency(upstream: $0, nanoseconds: $1) })
        self.forwarder = forwarder
        let cache = ResponseCache(configuration: configuration.cache, upstream: forwarder)
        self.cache = cache
        let doorConfiguration = DNSFrontendConfiguration(
            listen: try listen.map { try $0.socketAddress() },
            maximumUDPResponseSize: configuration.maximumUDPResponseSize,
            tcpIdleTimeout: configuration.tcpIdleTimeout, maximumTCPConnections: configuration.maximumTCPConnections)
        let door = DNSDoor(
            configuration: doorConfiguration, cache: cache, group: group, loopGuard: loopGuard,
            logger: Logger(label: "sidecache.dns"))
        self.door = door
        (shutdownRequests, shutdownSink) = AsyncStream.makeStream()
        if let socketPath = configuration.nscdSocket {
            let resolver = HostResolver(
                cache: cache, hostsPath: configuration.hostsFile, resolvConfPath: configuration.resolvConf)
            let sink = shutdownSink
            nscdDoor = NSCDDoor(
                configuration: NSCDFrontendConfiguration(socketPath: socketPath), resolver: resolver, cache: cache,
                sharedMap: Self.makeSharedMap(configuration.sharedMap, logger: logger),
                logger: Logger(label: "sidecache.nscd"), onShutdownRequest: { sink.yield() })
        } else {
            nscdDoor = nil
        }
        let state = DaemonState()
        self.state = state
        let routes = AdminRoutes(
            cache: cache, forwarder: forwarder, door: door, nscd: nscdDoor, metrics: metrics, state: state)
        admin = try configuration.adminListen.map { address in
            AdminServer(
                address: try address.socketAddress(), group: loops, logger: Logger(label: "sidecache.admin"),
                route: routes.respond)
        }
        do {
            try await door.bind()
            try nscdDoor?.bind()
            try await admin?.bind()
        } catch {
            await door.close()
            try? await group.shutdownGracefully()
            throw error
        }
        logger.info(
            "sidecache started",
            metadata: [
                "upstreams": "\(upstreams.map(\.description))", "dns": "\(door.boundAddresses.map { "\($0)" })",
                "nscd": "\(configuration.nscdSocket ?? "off")",
                "shared-map": "\(nscdDoor?.sharedMap?.configuration.path ?? "off")", "hosts-file": "\(configuration.hostsFile)",
                "cache-size": "\(configuration.cache.maximumBytes)", "threads": "\(threads)",
                "force-tcp": "\(forwarding.forceTCP)", "upstream-policy": "\(forwarding.policy.rawValue)", "serve-stale": "\(configuration.cache.maximumStaleAge)",
            ])
    }

    /// The shared map, or nil (off, or its file cannot be made: then the socket alone answers, and the log says why).
    static func makeSharedMap(_ configuration: SharedMapConfiguration?, logger: Logger) -> SharedHostsMap? {
        guard let configuration else { return nil }
        do {
            return try SharedHostsMap(configuration: configuration, wall: Int64(time(nil)))
        } catch {
            logger.error("shared map off; glibc clients use the nscd socket", metadata: ["reason": "\(error)"])
            return nil
        }
    }

    /// Upstreams from the configuration, or else resolv.conf's nameservers less our own listen addresses (with the
    /// parsed file, whose options then apply).
    static func upstreams(_ configuration: SidecacheConfiguration, listen: [UpstreamAddress]) throws -> (
        [UpstreamAddress], ResolvConf?
    ) {
        if !configuration.upstreams.isEmpty { return (configuration.upstreams, nil) }
        let resolv: ResolvConf
        do {
            resolv = try ResolvConf(contentsOf: configuration.resolvConf)
        } catch {
            throw ConfigurationError(setting: "resolv-conf", reason: "cannot read \(error); set --upstream instead")
        }
        let candidates = resolv.nameservers.compactMap { UpstreamAddress(parsing: $0.description) }
        let own = { (upstream: UpstreamAddress) -> Bool in
            (try? ForwarderConfiguration(upstreams: [upstream]).validate(ownListenAddresses: listen)) == nil
        }
        let usable = candidates.filter { !own($0) }
        guard !usable.isEmpty else {
            throw ConfigurationError(
                setting: "upstream",
                reason: "\(configuration.resolvConf) names no nameserver other than sidecache itself "
                    + "(\(candidates.map(\.description))); set --upstream to the cluster DNS")
        }
        return (usable, resolv)
    }

    static func hostHasIPv6Loopback() -> Bool {
        (try? SocketAddress(ipAddress: "::1", port: 0)).map { address in
            let fd = socket(AF_INET6, Int32(SOCK_DGRAM.rawValue), 0)
            guard fd >= 0 else { return false }
            defer { close(fd) }
            return address.withSockAddr { pointer, length in bind(fd, pointer, socklen_t(length)) == 0 }
        } ?? false
    }

    /// Starts the drain, as SIGTERM does.
    public func drain() { shutdownSink.yield() }

    /// True while draining (after SIGTERM, before the doors close).
    public var isDraining: Bool { state.draining.load(ordering: .acquiring) }

    /// The DNS addresses actually bound.
    public var dnsAddresses: [SocketAddress] { door.boundAddresses }

    /// Runs until SIGTERM or SIGINT (or cancellation), then shuts down: the DNS door first (listeners closed,
    /// misses in flight answered), then the engine.
    public func run(signals: [UnixSignal] = [.sigterm, .sigint]) async throws {
        let engine = EngineService(cache: cache)
        let probe = LoopProbeService(forwarder: forwarder)
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [.init(service: engine), .init(service: door)]
        if let nscdDoor { services.append(.init(service: nscdDoor)) }
        if let admin { services.append(.init(service: admin)) }
        services.append(.init(service: probe, successTerminationBehavior: .ignore))
        // SIGTERM (and `nscd -K`) first drain: not ready, still answering for the lame-duck period, then the group
        // shuts down in reverse order (admin, doors, engine). SIGINT shuts down at once.
        let drain = DrainService(
            requests: shutdownRequests, signals: signals.filter { $0 == .sigterm }, lameDuck: configuration.lameDuck,
            state: state, logger: logger)
        services.append(.init(service: drain, successTerminationBehavior: .gracefullyShutdownGroup))
        let group = ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: services,
                gracefulShutdownSignals: signals.filter { $0 != .sigterm },
                logger: logger))
        try await group.run()
        forwarder.shutdown()
        try await self.group.shutdownGracefully()
        logger.info("sidecache stopped")
    }
}

/// The engine's job loop (upstream queries, prefetches, purge) as a service.
struct EngineService: Service {
    let cache: ResponseCache
    func run() async throws {
        await cancelWhenGracefulShutdown { await cache.run() }
    }
}

/// Shared run-time state the admin routes read.
final class DaemonState: Sendable {
    let draining = Atomic<Bool>(false)
}

/// Waits for SIGTERM or a shutdown request (`nscd -K`, `Sidecache.drain()`), then reports not-ready and keeps the
/// doors answering for the lame-duck period — the application may still be resolving while it shuts down — and
/// returns, which shuts the group down gracefully.
struct DrainService: Service {
    let requests: AsyncStream<Void>
    let signals: [UnixSignal]
    let lameDuck: TimeAmount
    let state: DaemonState
    let logger: Logger

    func run() async throws {
        let triggered: Bool = await cancelWhenGracefulShutdown {
            await withTaskGroup(of: Bool.self) { group in
                group.addTask {
                    for await _ in requests { return true }
                    return false
                }
                if !signals.isEmpty {
                    group.addTask {
                        for await _ in await UnixSignalsSequence(trapping: signals) { return true }
                        return false
                    }
                }
                let first = await group.next() ?? false
                group.cancelAll()
                return first
            }
        } ?? false
        guard triggered else { return }
        state.draining.store(true, ordering: .releasing)
        logger.notice("draining: not ready, still answering", metadata: ["lame-duck": "\(lameDuck)"])
        try? await Task.sleep(nanoseconds: UInt64(max(0, lameDuck.nanoseconds)))
        logger.notice("lame-duck period over: closing the doors")
    }
}

/// Sends the forwarding-loop probe once the doors are up.
struct LoopProbeService: Service {
    let forwarder: DNSForwarder
    func run() async throws {
        await forwarder.probeForLoop()
    }
}
