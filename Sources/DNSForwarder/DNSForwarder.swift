import DNSCache
import DNSWire
import Logging
import NIOCore
import NIOPosix
import Synchronization

/// Sends the cache's misses to the upstream servers: UDP with TCP fallback on truncation (or TCP only), failover
/// between upstreams, per-upstream health, and an overall deadline per question.
public final class DNSForwarder: Upstream, Sendable {
    /// The upstream set in force: its configuration, addresses, TCP pools and health. A reload swaps in a new one;
    /// queries already under way finish on the one they started with.
    final class Generation: Sendable {
        let configuration: ForwarderConfiguration
        let addresses: [SocketAddress]
        let pools: [TCPConnectionPool]
        let selection: Mutex<UpstreamSelection>

        init(configuration: ForwarderConfiguration, group: any EventLoopGroup, statistics: ForwarderStatistics) throws {
            self.configuration = configuration
            let addresses = try configuration.upstreams.map { try $0.socketAddress() }
            self.addresses = addresses
            pools = addresses.map {
                TCPConnectionPool(address: $0, group: group, configuration: configuration, statistics: statistics)
            }
            selection = Mutex(
                UpstreamSelection(
                    count: addresses.count, policy: configuration.policy,
                    failuresBeforeDown: configuration.failuresBeforeDown, downInterval: configuration.downInterval))
        }
    }

    /// Counters over the forwarder's whole life, across reconfigurations.
    public let statistics: ForwarderStatistics
    let group: any EventLoopGroup
    private let current: Mutex<Generation>
    private let loopGuard: ForwardingLoopGuard?
    private let logger: Logger
    private let everAnswered = Atomic<Bool>(false)
    /// Told the latency of every successful try: upstream, nanoseconds (the daemon feeds its histogram).
    private let onLatency: (@Sendable (UpstreamAddress, Int64) -> Void)?

    /// Throws when an upstream is not a numeric address.
    public init(
        configuration: ForwarderConfiguration, group: any EventLoopGroup, loopGuard: ForwardingLoopGuard? = nil,
        logger: Logger = Logger(label: "sidecache.forwarder"),
        onLatency: (@Sendable (UpstreamAddress, Int64) -> Void)? = nil
    ) throws {
        self.onLatency = onLatency
        self.group = group
        self.loopGuard = loopGuard
        self.logger = logger
        let statistics = ForwarderStatistics()
        self.statistics = statistics
        current = Mutex(try Generation(configuration: configuration, group: group, statistics: statistics))
    }

    private var generation: Generation { current.withLock { $0 } }

    /// The configuration in force.
    public var configuration: ForwarderConfiguration { generation.configuration }

    /// Puts a new upstream set (and its options) in force for every query that starts from now on. Queries under
    /// way finish with the old set; its TCP connections close once the old deadline has passed. Health starts
    /// afresh. Throws, changing nothing, when an upstream is not a numeric address.
    public func reconfigure(_ configuration: ForwarderConfiguration) throws {
        let fresh = try Generation(configuration: configuration, group: group, statistics: statistics)
        let old = current.withLock { current in
            defer { current = fresh }
            return current
        }
        group.next().scheduleTask(in: old.configuration.deadline + .seconds(1)) {
            for pool in old.pools { pool.closeAll() }
        }
        logger.notice(
            "upstreams reconfigured",
            metadata: [
                "upstreams": "\(configuration.upstreams.map(\.description))", "policy": "\(configuration.policy.rawValue)",
                "force-tcp": "\(configuration.forceTCP)",
            ])
    }

    /// True once a forwarding loop was detected: nothing is forwarded any more.
    public var loopDetected: Bool { loopGuard?.detected ?? false }

    /// True once any upstream has answered anything (readiness).
    public var hasAnswered: Bool { everAnswered.load(ordering: .relaxed) }

    /// Upstreams currently marked down.
    public func downUpstreams() -> [UpstreamAddress] {
        let now = NIODeadline.now()
        let generation = self.generation
        return generation.selection.withLock { s in
            (0..<generation.addresses.count).filter { s.isDown($0, now: now) }.map { generation.configuration.upstreams[$0] }
        }
    }

    public func resolve(_ key: CacheKey) async -> UpstreamResult {
        if let loopGuard, loopGuard.detected { return .failure(.loop) }
        let generation = self.generation
        let configuration = generation.configuration
        guard !generation.addresses.isEmpty else { return .failure(.unreachable) }
        let start = NIODeadline.now()
        let deadline = start + configuration.deadline
        var generator = SystemRandomNumberGenerator()
        let order = generation.selection.withLock { $0.order(now: start, using: &generator) }
        // With one upstream the retry goes to it again; otherwise to the next in order.
        var tries = (0..<max(1, configuration.attempts)).map { order[$0 % order.count] }
        var lastFailure: UpstreamFailure = .timeout
        var lastServerError: DNSMessage? = nil
        var tried = Set<Int>()
        while !tries.isEmpty {
            let index = tries.removeFirst()
            tried.insert(index)
            let now = NIODeadline.now()
            guard now < deadline else { break }
            // One try, a TCP retry after truncation included, ends by its own deadline.
            let tryDeadline = min(now + configuration.attemptTimeout, deadline)
            let began = NIODeadline.now()
            do {
                let message = try await exchange(key, generation: generation, upstream: index, deadline: tryDeadline)
                let latency = (NIODeadline.now() - began).nanoseconds
                let upstream = configuration.upstreams[index]
                statistics.recordLatency(upstream: upstream.description, nanoseconds: latency)
                onLatency?(upstream, latency)
                statistics.bump(statistics.responses)
                everAnswered.store(true, ordering: .relaxed)
                // Any well-formed answer shows the upstream is alive, SERVFAIL and REFUSED included: those are
                // about the name (a zone it cannot serve, a broken delegation), not about the server, so they
                // never mark it down.
                note(generation, generation.selection.withLock { $0.recordSuccess(index) })
                let rcode = message.responseCode
                if rcode == .serverFailure || rcode == .refused {
                    // Another upstream may do better (as glibc's stub moves on); the same one would say it again.
                    lastServerError = message
                    tries.removeAll { tried.contains($0) }
                    if tries.isEmpty, let next = order.first(where: { !tried.contains($0) }) {
                        tries.append(next)
                    }
                    continue
                }
                return .response(message)
            } catch let error as ExchangeError {
                switch error {
                case .timeout:
                    statistics.bump(statistics.timeouts)
                    lastFailure = .timeout
                case .network, .connectionClosed:
                    statistics.bump(statistics.networkErrors)
                    lastFailure = .unreachable
                }
                note(generation, generation.selection.withLock { $0.recordFailure(index, now: NIODeadline.now()) })
            } catch {
                lastFailure = .unreachable
            }
        }
        if let lastServerError { return .response(lastServerError) }
        return .failure(lastFailure)
    }

    private func exchange(
        _ key: CacheKey, generation: Generation, upstream index: Int, deadline: NIODeadline
    ) async throws -> DNSMessage {
        if generation.configuration.forceTCP {
            return try await generation.pools[index].exchange(key, deadline: deadline)
        }
        let remaining = deadline - NIODeadline.now()
        guard remaining > .zero else { throw ExchangeError.timeout }
        let message = try await exchangeUDP(
            key, upstream: generation.addresses[index], configuration: generation.configuration, timeout: remaining)
        if message.header.isTruncated {
            // RFC 7766 5: retry the whole question over TCP, within what is left of this try.
            statistics.bump(statistics.truncatedRetries)
            return try await generation.pools[index].exchange(key, deadline: deadline)
        }
        return message
    }

    private func note(_ generation: Generation, _ change: UpstreamSelection.HealthChange?) {
        let configuration = generation.configuration
        switch change {
        case .markedDown(let index, _)?:
            logger.warning(
                "upstream marked down",
                metadata: ["upstream": "\(configuration.upstreams[index])", "for": "\(configuration.downInterval)"])
        case .recovered(let index)?:
            logger.notice("upstream recovered", metadata: ["upstream": "\(configuration.upstreams[index])"])
        case nil:
            break
        }
    }

    /// Sends the loop probe once: if it comes back to one of our doors, the guard trips and every later query
    /// fails fast with `.loop` instead of circling.
    public func probeForLoop() async {
        guard let loopGuard else { return }
        let key = CacheKey(name: loopGuard.probeName, type: .a)
        _ = await resolve(key)
        if loopGuard.detected {
            logger.critical(
                "forwarding loop detected: our upstream sent our own probe back to us; not forwarding any query",
                metadata: ["upstreams": "\(configuration.upstreams)"])
        }
    }

    public func shutdown() {
        for pool in generation.pools { pool.closeAll() }
    }
}
