import NIOCore

/// Settings of the DNS door. Defaults are documented in docs/configuration.md.
public struct DNSFrontendConfiguration: Sendable {
    /// Addresses to answer on, UDP and TCP each.
    public var listen: [SocketAddress]
    /// The largest UDP reply we send, whatever a client advertises.
    public var maximumUDPResponseSize: Int
    /// A TCP connection with no complete query for this long is closed (RFC 7766 6.2.3).
    public var tcpIdleTimeout: TimeAmount
    /// TCP connections open at once, all listeners together; past it new ones are closed at once.
    public var maximumTCPConnections: Int
    /// Datagrams read per system call (recvmmsg).
    public var vectorReadCount: Int
    /// Queries waiting on the upstream at once, past which new misses get SERVFAIL (memory bound under a flood).
    public var maximumPendingMisses: Int
    /// Of those, what one client (one address and port) may hold; past it its new misses get SERVFAIL at once, so a
    /// flood of new names from one socket cannot queue ahead of everyone else's.
    public var maximumPendingMissesPerClient: Int

    public init(
        listen: [SocketAddress], maximumUDPResponseSize: Int = 1232, tcpIdleTimeout: TimeAmount = .seconds(10),
        maximumTCPConnections: Int = 4096, vectorReadCount: Int = 32, maximumPendingMisses: Int = 20_000,
        maximumPendingMissesPerClient: Int = 128
    ) {
        self.listen = listen
        self.maximumUDPResponseSize = maximumUDPResponseSize
        self.tcpIdleTimeout = tcpIdleTimeout
        self.maximumTCPConnections = maximumTCPConnections
        self.vectorReadCount = vectorReadCount
        self.maximumPendingMisses = maximumPendingMisses
        self.maximumPendingMissesPerClient = maximumPendingMissesPerClient
    }
}
