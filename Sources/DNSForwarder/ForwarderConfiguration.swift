import DNSWire
import NIOCore

/// One upstream server.
public struct UpstreamAddress: Sendable, Hashable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(host: String, port: Int = 53) {
        self.host = host
        self.port = port
    }

    /// Parses `HOST`, `HOST:PORT`, `[V6]:PORT` or a bare IPv6 address. Hosts must be numeric addresses: sidecache
    /// resolves names for others and never depends on DNS to find its own upstream.
    public init?(parsing text: String, defaultPort: Int = 53) {
        var host = text
        var port = defaultPort
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { return nil }
            host = String(text[text.index(after: text.startIndex)..<close])
            let rest = text[text.index(after: close)...]
            if !rest.isEmpty {
                guard rest.hasPrefix(":"), let value = Int(rest.dropFirst()) else { return nil }
                port = value
            }
        } else if text.filter({ $0 == ":" }).count == 1 {
            let parts = text.split(separator: ":", omittingEmptySubsequences: false)
            host = String(parts[0])
            guard let value = Int(parts[1]) else { return nil }
            port = value
        }
        guard (1...65535).contains(port), (try? SocketAddress(ipAddress: host, port: port)) != nil else { return nil }
        self.host = host
        self.port = port
    }

    public func socketAddress() throws -> SocketAddress { try SocketAddress(ipAddress: host, port: port) }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

/// How the next query picks among several upstreams.
public enum UpstreamPolicy: String, Sendable, Hashable, CaseIterable {
    /// In configured order; the next one only when the first fails (resolv.conf semantics). The default.
    case sequential
    /// A random healthy upstream per query.
    case random
    /// Healthy upstreams in turn.
    case roundRobin = "round-robin"
}

/// Settings of the forwarder. Defaults are documented in docs/configuration.md.
public struct ForwarderConfiguration: Sendable, Hashable {
    public var upstreams: [UpstreamAddress]
    public var policy: UpstreamPolicy
    /// Send every query over TCP, on persistent pipelined connections (like NodeLocal DNSCache's `force_tcp`).
    public var forceTCP: Bool
    /// How long one try waits for an answer.
    public var attemptTimeout: TimeAmount
    /// The most a caller ever waits, all tries together; well under glibc's 5 s client timeout.
    public var deadline: TimeAmount
    /// Tries per question: the first upstream, then the next (or the same one again when there is one).
    public var attempts: Int
    /// EDNS0 UDP payload size we advertise (DNS flag day 2020 value).
    public var ednsUDPSize: UInt16
    /// TCP connections per upstream at most.
    public var maximumTCPConnections: Int
    /// Queries outstanding on one TCP connection before another is opened (up to the maximum).
    public var pipelineDepth: Int
    /// A TCP connection with nothing outstanding for this long is closed.
    public var tcpIdleTimeout: TimeAmount
    /// Consecutive failures that mark an upstream down.
    public var failuresBeforeDown: Int
    /// How long an upstream stays down before one query probes it again.
    public var downInterval: TimeAmount

    public init(
        upstreams: [UpstreamAddress], policy: UpstreamPolicy = .sequential, forceTCP: Bool = false,
        attemptTimeout: TimeAmount = .milliseconds(1500), deadline: TimeAmount = .milliseconds(3500),
        attempts: Int = 2, ednsUDPSize: UInt16 = 1232, maximumTCPConnections: Int = 2, pipelineDepth: Int = 512,
        tcpIdleTimeout: TimeAmount = .seconds(10), failuresBeforeDown: Int = 3, downInterval: TimeAmount = .seconds(5)
    ) {
        self.upstreams = upstreams
        self.policy = policy
        self.forceTCP = forceTCP
        self.attemptTimeout = attemptTimeout
        self.deadline = deadline
        self.attempts = attempts
        self.ednsUDPSize = ednsUDPSize
        self.maximumTCPConnections = maximumTCPConnections
        self.pipelineDepth = pipelineDepth
        self.tcpIdleTimeout = tcpIdleTimeout
        self.failuresBeforeDown = failuresBeforeDown
        self.downInterval = downInterval
    }
}

/// A configuration mistake found before starting.
public struct ForwarderConfigurationError: Error, CustomStringConvertible, Hashable {
    public var setting: String
    public var reason: String
    public var description: String { "\(setting): \(reason)" }
}

extension ForwarderConfiguration {
    /// Refuses an upstream that is one of our own listen addresses: forwarding to ourselves would loop until every
    /// query timed out. A wildcard listener (0.0.0.0 or ::) on a port owns every local address on it, loopback
    /// included.
    ///
    /// Addresses are compared as addresses, not as text: `0:0::1` is `::1`, and `::ffff:127.0.0.1` is `127.0.0.1`.
    public func validate(ownListenAddresses: [UpstreamAddress]) throws(ForwarderConfigurationError) {
        for upstream in upstreams {
            guard let target = Self.octets(upstream.host) else { continue }
            for own in ownListenAddresses where own.port == upstream.port {
                guard let listener = Self.octets(own.host) else { continue }
                let wildcard = listener == Self.octets("::") || listener == Self.octets("0.0.0.0")
                let loopback = target == Self.octets("::1") || (Self.isIPv4Mapped(target) && target[12] == 127)
                if target == listener || (wildcard && loopback) {
                    throw ForwarderConfigurationError(
                        setting: "upstream",
                        reason:
                            "\(upstream) is sidecache's own listen address \(own); forwarding there would loop. "
                            + "Set --upstream to the cluster DNS (e.g. the kube-dns service IP)")
                }
            }
        }
        if attemptTimeout <= .zero { throw ForwarderConfigurationError(setting: "upstream-timeout", reason: "must be > 0") }
        if deadline < attemptTimeout {
            throw ForwarderConfigurationError(setting: "upstream-deadline", reason: "must be at least the upstream timeout")
        }
        if maximumTCPConnections < 1 {
            throw ForwarderConfigurationError(setting: "upstream-tcp-connections", reason: "must be at least 1")
        }
    }
}

extension ForwarderConfiguration {
    /// A numeric address as 16 octets, IPv4 as IPv4-mapped IPv6 (RFC 4291 2.5.5.2), so that every spelling of one
    /// address gives the same octets. A zone index (`%eth0`) is ignored; nil for anything that is not numeric.
    static func octets(_ host: String) -> [UInt8]? {
        let bare = host.split(separator: "%", maxSplits: 1).first.map(String.init) ?? host
        if let v4 = IPv4Bytes(bare) { return [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF] + v4.bytes }
        return IPv6Bytes(bare)?.bytes
    }

    static func isIPv4Mapped(_ octets: [UInt8]) -> Bool {
        octets.count == 16 && octets[0..<10].allSatisfy { $0 == 0 } && octets[10] == 0xFF && octets[11] == 0xFF
    }
}
