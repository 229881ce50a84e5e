import DNSCache
import DNSForwarder
import AdminHTTP
import DNSFrontend
import DNSTransport
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
    let group: MultiThreadedEventLoopGroup
    /// One event loop of its own for the nscd door's misses (EventLoopTaskExecutor): their upstream tries run there
    /// too (the forwarder uses the current loop), and their replies and shared-map publishing (which can wait for
    /// the map's lock) never hold up the DNS door's loops.
    let lookupLoop: MultiThreadedEventLoopGroup
    let logger: Logger
    /// The DNS addresses asked for (less [::1] on a host without IPv6 loopback).
    let listen: [UpstreamAddress]
    /// The configuration in force: the startup one with reloads applied.
    private let running: Mutex<SidecacheConfiguration>
    /// Reads the configuration anew for a reload (flags, environment, config file); nil: reload keeps the
    /// settings and re-reads resolv.conf only.
    private let reloadSource: (@Sendable () throws -> SidecacheConfiguration)?
    /// Told a new log level on reload.
    private let onLogLevel: (@Sendable (Logger.Level) -> Void)?

    /// The upstreams in force.
    public var upstreams: [UpstreamAddress] { forwarder.configuration.upstreams }

    /// Builds every part and binds the listeners, so a bad setting or a port that cannot be bound fails here, with
    /// a message naming the setting, before anything runs.
    public init(
        configuration: SidecacheConfiguration, logger: Logger = Logger(label: "sidecache"),
        reloadSource: (@Sendable () throws -> SidecacheConfiguration)? = nil,
        onLogLevel: (@Sendable (Logger.Level) -> Void)? = nil
    ) async throws {
        self.configuration = configuration
        self.logger = logger
        self.reloadSource = reloadSource
        self.onLogLevel = onLogLevel
        running = Mutex(configuration)
        var listen = configuration.dnsListen
        if configuration.dnsListenIsDefault && !Self.hostHasIPv6Loopback() {
            logger.warning("no IPv6 loopback on this host: not listening on [::1]")
            listen.removeAll { $0.host.contains(":") }
        }
        self.listen = listen
        let forwarding = try Self.forwarding(configuration, listen: listen)
        let upstreams = forwarding.upstreams
        let threads = configuration.threads > 0 ? configuration.threads : System.coreCount
        let loops = MultiThreadedEventLoopGroup(numberOfThreads: threads)
        group = loops
        lookupLoop = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let loopGuard = ForwardingLoopGuard()
        let metrics = SidecacheMetrics()
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
                lookupExecutor: EventLoopTaskExecutor(lookupLoop.next()),
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
            try? await lookupLoop.shutdownGracefully()
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

    /// The forwarder's configuration: upstreams and their options, checked against our own listen addresses.
    static func forwarding(_ configuration: SidecacheConfiguration, listen: [UpstreamAddress]) throws -> ForwarderConfiguration {
        let (upstreams, resolv) = try upstreams(configuration, listen: listen)
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
        return forwarding
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

    /// The upstreams a daemon started with this configuration would use (`config check`).
    public static func plannedUpstreams(for configuration: SidecacheConfiguration) throws -> [UpstreamAddress] {
        try upstreams(configuration, listen: configuration.dnsListen).0
    }

    static func hostHasIPv6Loopback() -> Bool {
        (try? SocketAddress(ipAddress: "::1", port: 0)).map { address in
            let fd = socket(AF_INET6, Int32(SOCK_DGRAM.rawValue), 0)
            guard fd >= 0 else { return false }
            defer { close(fd) }
            return address.withSockAddr { pointer, length in bind(fd, pointer, socklen_t(length)) == 0 }
        } ?? false
    }

    /// Settings a reload puts in force; the others need a restart (they size memory or bind sockets).
    public static let reloadableSettings: Set<String> = [
        "config", "upstream", "resolv-conf", "upstream-policy", "force-tcp", "upstream-timeout", "upstream-deadline",
        "upstream-tcp-connections", "log-level", "lame-duck",
    ]

    /// Reads the configuration again (flags, environment, config file, and resolv.conf for the upstreams) and puts
    /// what changed in force: a new upstream set through `DNSForwarder.reconfigure` (the cache is kept; queries
    /// under way finish on the old set), the log level, the lame-duck period. Changed settings that need a restart
    /// are logged and keep their running value. A configuration that does not validate is logged and changes
    /// nothing. Returns true when something was put in force.
    @discardableResult
    public func reload(reason: String) -> Bool {
        let current = running.withLock { $0 }
        let next: SidecacheConfiguration
        do {
            next = try reloadSource?() ?? current
        } catch {
            logger.error("reload failed: keeping the running configuration", metadata: ["reason": "\(reason)", "error": "\(error)"])
            return false
        }
        let forwarding: ForwarderConfiguration
        do {
            forwarding = try Self.forwarding(next, listen: listen)
        } catch {
            logger.error("reload failed: keeping the running configuration", metadata: ["reason": "\(reason)", "error": "\(error)"])
            return false
        }
        var applied: [String] = []
        for setting in SidecacheConfiguration.settings where !Self.reloadableSettings.contains(setting.name) {
            if current.effectiveValue(of: setting.name) != next.effectiveValue(of: setting.name) {
                logger.warning(
                    "setting changed; it takes effect at restart",
                    metadata: [
                        "setting": "\(setting.name)", "running": "\(current.effectiveValue(of: setting.name))",
                        "new": "\(next.effectiveValue(of: setting.name))",
                    ])
            }
        }
        if forwarding != forwarder.configuration {
            do {
                try forwarder.reconfigure(forwarding)
                applied.append("upstreams")
                // The new set may forward to us where the old one did not: probe again.
                Task { [forwarder] in await forwarder.probeForLoop() }
            } catch {
                logger.error("reload failed: keeping the running upstreams", metadata: ["error": "\(error)"])
                return false
            }
        }
        if next.logLevel != current.logLevel {
            onLogLevel?(next.logLevel)
            applied.append("log-level")
        }
        if next.lameDuck != current.lameDuck { applied.append("lame-duck") }
        running.withLock { running in
            // Only the reloadable settings move; the rest keep the values the daemon runs with.
            running.upstreams = next.upstreams
            running.resolvConf = next.resolvConf
            running.upstreamPolicy = next.upstreamPolicy
            running.forceTCP = next.forceTCP
            running.upstreamTimeout = next.upstreamTimeout
            running.upstreamDeadline = next.upstreamDeadline
            running.upstreamTCPConnections = next.upstreamTCPConnections
            running.logLevel = next.logLevel
            running.lameDuck = next.lameDuck
            running.origins = next.origins
        }
        logger.notice(
            "reloaded", metadata: ["reason": "\(reason)", "applied": "\(applied.isEmpty ? "nothing changed" : applied.joined(separator: ","))"])
        return !applied.isEmpty
    }

    /// The configuration in force (the startup one with reloads applied).
    public var runningConfiguration: SidecacheConfiguration { running.withLock { $0 } }

    /// Starts the drain, as SIGTERM does.
    public func drain() { shutdownSink.yield() }

    /// True while draining (after SIGTERM, before the doors close).
    public var isDraining: Bool { state.draining.load(ordering: .acquiring) }

    /// The DNS addresses actually bound.
    public var dnsAddresses: [SocketAddress] { door.boundAddresses }

    /// Runs until SIGTERM or SIGINT (or cancellation), then shuts down: the DNS door first (listeners closed,
    /// misses in flight answered), then the engine.
    public func run(signals: [UnixSignal] = [.sigterm, .sigint, .sighup]) async throws {
        let engine = EngineService(cache: cache)
        let probe = LoopProbeService(forwarder: forwarder)
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [.init(service: engine), .init(service: door)]
        if let nscdDoor { services.append(.init(service: nscdDoor)) }
        if let admin { services.append(.init(service: admin)) }
        services.append(.init(service: probe, successTerminationBehavior: .ignore))
        // SIGTERM (and `nscd -K`) first drain: not ready, still answering for the lame-duck period, then the group
        // shuts down in reverse order (admin, doors, engine). SIGINT shuts down at once.
        let drain = DrainService(
            requests: shutdownRequests, signals: signals.filter { $0 == .sigterm },
            lameDuck: { [self] in self.runningConfiguration.lameDuck }, state: state, logger: logger)
        services.append(.init(service: drain, successTerminationBehavior: .gracefullyShutdownGroup))
        // SIGHUP and a change of the config file or resolv.conf reload (the hosts file and resolv.conf's search
        // list are re-read by the nscd door itself when they change).
        let reload = ReloadService(
            daemon: self, signals: signals.filter { $0 == .sighup }, interval: .seconds(2))
        services.append(.init(service: reload, successTerminationBehavior: .ignore))
        let group = ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: services,
                gracefulShutdownSignals: signals.filter { $0 != .sigterm && $0 != .sighup },
                logger: logger))
        try await group.run()
        forwarder.shutdown()
        try await self.group.shutdownGracefully()
        try await lookupLoop.shutdownGracefully()
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
    let lameDuck: @Sendable () -> TimeAmount
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
        let lameDuck = lameDuck()
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

/// Reloads on SIGHUP, and when the config file or resolv.conf changes (polled: a Kubernetes ConfigMap is updated by a
/// symlink swap that inotify on the file would miss; a stat every couple of seconds is cheap).
struct ReloadService: Service {
    let daemon: Sidecache
    let signals: [UnixSignal]
    let interval: TimeAmount

    func run() async throws {
        await cancelWhenGracefulShutdown {
            await withTaskGroup(of: Void.self) { group in
                if !signals.isEmpty {
                    group.addTask {
                        for await _ in await UnixSignalsSequence(trapping: signals) {
                            daemon.reload(reason: "SIGHUP")
                        }
                    }
                }
                group.addTask {
                    var stamps: [String: FileStamp] = [:]
                    func watched() -> [String] {
                        let running = daemon.runningConfiguration
                        return [running.configFile, running.resolvConf].compactMap { $0 }
                    }
                    for path in watched() { _ = stamps[path, default: FileStamp()].changed(path, force: true) }
                    while !Task.isCancelled {
                        try? await Task.sleep(nanoseconds: UInt64(interval.nanoseconds))
                        if Task.isCancelled { break }
                        var changed: [String] = []
                        for path in watched() {
                            var stamp = stamps[path] ?? FileStamp()
                            let isNew = stamps[path] == nil
                            if stamp.changed(path, force: isNew) && !isNew { changed.append(path) }
                            stamps[path] = stamp
                        }
                        if !changed.isEmpty { daemon.reload(reason: "changed: \(changed.joined(separator: ", "))") }
                    }
                }
                await group.waitForAll()
            }
        }
    }
}
