import DNSCache
import DNSForwarder
import DNSFrontend
import NSCDFrontend
import Logging
import NIOCore
import NIOPosix

#if canImport(Glibc)
import Glibc
#endif
import ResolverConfiguration
import ServiceLifecycle
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
        group = MultiThreadedEventLoopGroup(numberOfThreads: threads)
        let loopGuard = ForwardingLoopGuard()
        forwarder = try DNSForwarder(
            configuration: forwarding, group: group, loopGuard: loopGuard,
            logger: Logger(label: "sidecache.forwarder"))
        cache = ResponseCache(configuration: configuration.cache, upstream: forwarder)
        let doorConfiguration = DNSFrontendConfiguration(
            listen: try listen.map { try $0.socketAddress() },
            maximumUDPResponseSize: configuration.maximumUDPResponseSize,
            tcpIdleTimeout: configuration.tcpIdleTimeout, maximumTCPConnections: configuration.maximumTCPConnections)
        door = DNSDoor(
            configuration: doorConfiguration, cache: cache, group: group, loopGuard: loopGuard,
            logger: Logger(label: "sidecache.dns"))
        (shutdownRequests, shutdownSink) = AsyncStream.makeStream()
        if let socketPath = configuration.nscdSocket {
            let resolver = HostResolver(
                cache: cache, hostsPath: configuration.hostsFile, resolvConfPath: configuration.resolvConf)
            let sink = shutdownSink
            nscdDoor = NSCDDoor(
                configuration: NSCDFrontendConfiguration(socketPath: socketPath), resolver: resolver, cache: cache,
                logger: Logger(label: "sidecache.nscd"), onShutdownRequest: { sink.yield() })
        } else {
            nscdDoor = nil
        }
        do {
            try await door.bind()
            try nscdDoor?.bind()
        } catch {
            await door.close()
            try? await group.shutdownGracefully()
            throw error
        }
        logger.info(
            "sidecache started",
            metadata: [
                "upstreams": "\(upstreams.map(\.description))", "dns": "\(door.boundAddresses.map { "\($0)" })",
                "nscd": "\(configuration.nscdSocket ?? "off")", "hosts-file": "\(configuration.hostsFile)",
                "cache-size": "\(configuration.cache.maximumBytes)", "threads": "\(threads)",
                "force-tcp": "\(forwarding.forceTCP)", "upstream-policy": "\(forwarding.policy.rawValue)", "serve-stale": "\(configuration.cache.maximumStaleAge)",
            ])
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

    /// The DNS addresses actually bound.
    public var dnsAddresses: [SocketAddress] { door.boundAddresses }

    /// Runs until SIGTERM or SIGINT (or cancellation), then shuts down: the DNS door first (listeners closed,
    /// misses in flight answered), then the engine.
    public func run(signals: [UnixSignal] = [.sigterm, .sigint]) async throws {
        let engine = EngineService(cache: cache)
        let probe = LoopProbeService(forwarder: forwarder)
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [.init(service: engine), .init(service: door)]
        if let nscdDoor { services.append(.init(service: nscdDoor)) }
        services.append(.init(service: probe, successTerminationBehavior: .ignore))
        // `nscd -K` (SHUTDOWN from root over the socket) ends the group like SIGTERM.
        services.append(
            .init(service: ShutdownRequestService(requests: shutdownRequests), successTerminationBehavior: .gracefullyShutdownGroup))
        let group = ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: services,
                gracefulShutdownSignals: signals,
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

/// Returns when a shutdown is requested over the nscd socket, which shuts the group down gracefully.
struct ShutdownRequestService: Service {
    let requests: AsyncStream<Void>
    func run() async throws {
        await cancelWhenGracefulShutdown {
            for await _ in requests { return }
        }
    }
}

/// Sends the forwarding-loop probe once the doors are up.
struct LoopProbeService: Service {
    let forwarder: DNSForwarder
    func run() async throws {
        await forwarder.probeForLoop()
    }
}
