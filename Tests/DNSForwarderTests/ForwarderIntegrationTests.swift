import DNSCache
import DNSForwarder
import DNSWire
import Foundation
import NIOCore
import NIOPosix
import TestSupport
import Testing

/// The forwarder against Knot DNS started on loopback with a zone this test writes.
@Suite(.serialized, .enabled(if: runningAsRoot, "needs root to start knotd as root on loopback (CI runs as root)"))
struct ForwarderIntegrationTests {
    static let zone: String = {
        var text = """
            $ORIGIN fwd.test.
            $TTL 300
            @    IN SOA ns1 hostmaster 1 3600 600 86400 60
            @    IN NS ns1
            ns1  IN A 127.0.0.53
            www  IN A 192.0.2.1
            www  IN A 192.0.2.2
            alias IN CNAME www
            v6   IN AAAA 2001:db8::1

            """
        // About 2 KB of TXT: more than the 1232 octets we advertise over UDP.
        for i in 0..<10 {
            text += "big IN TXT \"\(String(repeating: Character(UnicodeScalar(UInt8(97 + i))), count: 200))\"\n"
        }
        for i in 0..<1000 {
            text += "n\(i) IN A 10.0.\(i / 256).\(i % 256)\n"
        }
        return text
    }()

    static func forwarder(
        _ servers: [KnotServer], group: any EventLoopGroup, configure: (inout ForwarderConfiguration) -> Void = { _ in }
    ) throws -> DNSForwarder {
        var configuration = ForwarderConfiguration(
            upstreams: servers.map { UpstreamAddress(host: $0.address, port: $0.port) })
        configure(&configuration)
        return try DNSForwarder(configuration: configuration, group: group)
    }

    static func message(_ result: UpstreamResult) throws -> DNSMessage {
        guard case .response(let message) = result else {
            throw TestFailure("expected a response, got \(result)")
        }
        return message
    }

    @Test func answersOverUDP() async throws {
        let knot = try await KnotServer.launch(zones: ["fwd.test": Self.zone])
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let forwarder = try Self.forwarder([knot], group: group)
        let message = try Self.message(await forwarder.resolve(CacheKey(name: "WWW.fwd.test", type: .a)))
        #expect(Set(message.answers.map(\.data)) == [.a(IPv4Bytes(192, 0, 2, 1)), .a(IPv4Bytes(192, 0, 2, 2))])
        let chain = try Self.message(await forwarder.resolve(CacheKey(name: "alias.fwd.test", type: .a)))
        #expect(chain.answers.first?.type == .cname)
        let nx = try Self.message(await forwarder.resolve(CacheKey(name: "nope.fwd.test", type: .a)))
        #expect(nx.responseCode == .nameError)
        // A zone Knot does not serve: REFUSED, asked once (the same server would say it again), and the upstream
        // is not marked down for it.
        for _ in 0..<5 {
            let refused = try Self.message(await forwarder.resolve(CacheKey(name: "elsewhere.example", type: .a)))
            #expect(refused.responseCode == .refused)
        }
        #expect(forwarder.downUpstreams().isEmpty)
        #expect(forwarder.statistics.queriesSent.load(ordering: .relaxed) == 8)
        #expect(forwarder.statistics.tcpConnectionsOpened.load(ordering: .relaxed) == 0)
        try await group.shutdownGracefully()
    }

    @Test func truncatedUDPAnswerIsRetriedOverTCP() async throws {
        let knot = try await KnotServer.launch(zones: ["fwd.test": Self.zone])
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let forwarder = try Self.forwarder([knot], group: group)
        let message = try Self.message(await forwarder.resolve(CacheKey(name: "big.fwd.test", type: .txt)))
        #expect(!message.header.isTruncated)
        #expect(message.answers.count == 10)
        #expect(forwarder.statistics.truncatedRetries.load(ordering: .relaxed) == 1)
        #expect(forwarder.statistics.tcpConnectionsOpened.load(ordering: .relaxed) == 1)
        forwarder.shutdown()
        try await group.shutdownGracefully()
    }

    @Test func forceTCPPipelinesAThousandQueriesOnTwoConnections() async throws {
        let knot = try await KnotServer.launch(zones: ["fwd.test": Self.zone])
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        let forwarder = try Self.forwarder([knot], group: group) {
            $0.forceTCP = true
            $0.maximumTCPConnections = 2
        }
        let answered = await withTaskGroup(of: Bool.self) { tasks in
            for i in 0..<1000 {
                tasks.addTask {
                    let key = CacheKey(name: try! DNSName("n\(i).fwd.test"), type: .a)
                    guard case .response(let message) = await forwarder.resolve(key) else { return false }
                    return message.answers.first?.data == .a(IPv4Bytes(10, 0, UInt8(i / 256), UInt8(i % 256)))
                }
            }
            var count = 0
            for await ok in tasks where ok { count += 1 }
            return count
        }
        #expect(answered == 1000)
        #expect(forwarder.statistics.tcpConnectionsOpened.load(ordering: .relaxed) <= 2)
        #expect(forwarder.statistics.queriesSent.load(ordering: .relaxed) == 1000)
        forwarder.shutdown()
        try await group.shutdownGracefully()
    }

    @Test func failsOverWhenTheFirstUpstreamStopsAndComesBack() async throws {
        let first = try await KnotServer.launch(zones: ["fwd.test": Self.zone])
        let second = try await KnotServer.launch(zones: ["fwd.test": Self.zone])
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let forwarder = try Self.forwarder([first, second], group: group) {
            $0.failuresBeforeDown = 1
            $0.downInterval = .milliseconds(300)
        }
        let key = CacheKey(name: "www.fwd.test", type: .a)
        _ = try Self.message(await forwarder.resolve(key))
        first.stop()
        let started = Date()
        // Connection refused (ICMP) on the first: the second answers, well inside the deadline.
        _ = try Self.message(await forwarder.resolve(key))
        #expect(Date().timeIntervalSince(started) < 3.5)
        #expect(forwarder.downUpstreams() == [UpstreamAddress(host: first.address, port: first.port)])
        // While it is down, queries go straight to the second.
        let sentBefore = forwarder.statistics.queriesSent.load(ordering: .relaxed)
        _ = try Self.message(await forwarder.resolve(key))
        #expect(forwarder.statistics.queriesSent.load(ordering: .relaxed) == sentBefore + 1)
        try await first.start()
        try await Task.sleep(nanoseconds: 400_000_000)
        _ = try Self.message(await forwarder.resolve(key))
        #expect(forwarder.downUpstreams().isEmpty)
        try await group.shutdownGracefully()
    }

    @Test func deadUpstreamCostsAtMostTheDeadline() async throws {
        // A UDP socket that never answers (bound, so no ICMP comes back).
        let silent = try SilentUDPServer()
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        var configuration = ForwarderConfiguration(upstreams: [UpstreamAddress(host: silent.address, port: silent.port)])
        // Two tries of 1 s each would take 2 s; the 500 ms deadline cuts the first and leaves no time for a second.
        configuration.attemptTimeout = .seconds(1)
        configuration.deadline = .milliseconds(500)
        let forwarder = try DNSForwarder(configuration: configuration, group: group)
        let started = Date()
        let result = await forwarder.resolve(CacheKey(name: "www.fwd.test", type: .a))
        let elapsed = Date().timeIntervalSince(started)
        guard case .failure(.timeout) = result else {
            Issue.record("expected a timeout, got \(result)")
            return
        }
        #expect(elapsed < 1.5)
        #expect(elapsed >= 0.45)
        #expect(forwarder.statistics.timeouts.load(ordering: .relaxed) == 1)
        #expect(forwarder.statistics.queriesSent.load(ordering: .relaxed) == 1)
        try await group.shutdownGracefully()
    }
}

/// A bound UDP socket that reads and never answers.
final class SilentUDPServer: @unchecked Sendable {
    let address = randomLoopbackAddress()
    let port = 53000
    private let fd: Int32

    init() throws {
        fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        inet_pton(AF_INET, address, &addr.sin_addr)
        let result = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard result == 0 else { throw TestFailure("bind failed: \(errno)") }
    }

    deinit { close(fd) }
}
