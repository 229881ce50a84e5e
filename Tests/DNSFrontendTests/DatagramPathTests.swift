import DNSCache
import DNSFrontend
import DNSWire
import NIOCore
import NIOPosix
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The DNS door's UDP path (recvmmsg/sendmmsg threads) over real sockets on 127.0.0.1, in front of a scripted
/// upstream: what a client sends back and forth, byte for byte.
@Suite(.serialized)
struct DatagramPathTests {
    /// A UDP client socket with a receive timeout.
    final class Client {
        let fd: Int32
        let port: Int

        init(port: Int) throws {
            self.port = port
            fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
            guard fd >= 0 else { throw TestFailure("socket: \(errno)") }
            var timeout = timeval(tv_sec: 2, tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        }

        deinit { close(fd) }

        func send(_ bytes: [UInt8]) {
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = UInt16(port).bigEndian
            address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
            _ = bytes.withUnsafeBytes { raw in
                withUnsafePointer(to: &address) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                        sendto(fd, raw.baseAddress, raw.count, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                    }
                }
            }
        }

        /// The next datagram, or nil after `milliseconds` without one.
        func receive(milliseconds: Int = 2000) -> [UInt8]? {
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&poller, 1, Int32(milliseconds)) == 1 else { return nil }
            var buffer = [UInt8](repeating: 0, count: 65536)
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            return count < 0 ? nil : Array(buffer[0..<count])
        }
    }

    /// A door on 127.0.0.1 (a port the kernel picks) in front of `upstream`; runs `body` with its port.
    static func withDoor(
        upstream: ScriptedUpstream, configure: (inout DNSFrontendConfiguration) -> Void = { _ in },
        _ body: @Sendable (_ port: Int, _ door: DNSDoor) async throws -> Void
    ) async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        let cache = ResponseCache(upstream: upstream)
        var configuration = DNSFrontendConfiguration(listen: [try SocketAddress(ipAddress: "127.0.0.1", port: 0)])
        configure(&configuration)
        let door = DNSDoor(configuration: configuration, cache: cache, group: group)
        try await door.bind()
        let port = try #require(door.boundAddresses.first?.port)
        do {
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { await cache.run() }
                tasks.addTask { try await door.run() }
                defer { tasks.cancelAll() }
                try await body(port, door)
            }
        } catch {
            try? await group.shutdownGracefully()
            throw error
        }
        try await group.shutdownGracefully()
    }

    static let addresses = [IPv4Bytes(192, 0, 2, 1), IPv4Bytes(192, 0, 2, 2), IPv4Bytes(192, 0, 2, 3)]

    static func upstream() -> ScriptedUpstream {
        let upstream = ScriptedUpstream()
        upstream.answer("www.udp.test", .a, addresses.map { .a("www.udp.test", $0, ttl: 300) })
        return upstream
    }

    /// A query in the client's spelling, with an OPT record (payload size, DO) unless `edns` is nil.
    static func query(id: UInt16, name: String, type: DNSType = .a, edns: EDNS? = nil) throws -> [UInt8] {
        try DNSMessage.query(id: id, name: DNSName(name), type: type, edns: edns).encode()
    }

    @Test func idCaseAndEDNSAreEchoedOnTheMissAndOnTheHit() async throws {
        try await Self.withDoor(upstream: Self.upstream()) { port, _ in
            let client = try Client(port: port)
            for (id, source) in [(UInt16(0xBEEF), "miss"), (0x0102, "hit")] {
                var edns = EDNS(udpPayloadSize: 4096)
                edns.dnssecOK = true
                let query = try Self.query(id: id, name: "WwW.uDp.TeSt", edns: edns)
                client.send(query)
                let reply = try #require(client.receive(), "no reply to the \(source)")
                #expect(Array(reply[0..<2]) == [UInt8(id >> 8), UInt8(id & 0xFF)], "\(source): ID")
                // The question section comes back in the client's spelling (12 octets of header, then the name).
                let name = try DNSName("WwW.uDp.TeSt").wire
                #expect(Array(reply[12..<(12 + name.count)]) == name, "\(source): question case")
                let message = try DNSMessage(decoding: reply)
                #expect(message.header.isResponse && message.header.recursionDesired && !message.header.isTruncated)
                #expect(message.responseCode == .noError)
                #expect(message.answers.count == 3)
                #expect(message.edns?.dnssecOK == true, "\(source): DO echoed in our OPT")
                #expect(message.edns?.udpPayloadSize == DNSResponder.advertisedUDPSize)
            }
        }
    }

    @Test func aBurstFromOneSocketIsAnsweredQueryByQuery() async throws {
        try await Self.withDoor(upstream: Self.upstream()) { port, _ in
            let client = try Client(port: port)
            client.send(try Self.query(id: 1, name: "www.udp.test"))
            _ = try #require(client.receive())
            // 200 back to back: the door reads them in batches of up to 32 and must answer every one, each with its
            // own ID. A UDP socket buffer holds far more than 200 small replies, so none should be lost here.
            let ids = Set((1000..<1200).map { UInt16($0) })
            for id in ids.sorted() { client.send(try Self.query(id: id, name: "www.udp.test")) }
            var seen: Set<UInt16> = []
            while seen.count < ids.count, let reply = client.receive() {
                seen.insert(UInt16(reply[0]) << 8 | UInt16(reply[1]))
                #expect(reply[3] & 0x0F == 0)
            }
            #expect(seen == ids)
        }
    }

    @Test func garbageIsDroppedOrGetsFORMERRAndTheDoorGoesOn() async throws {
        try await Self.withDoor(upstream: Self.upstream()) { port, door in
            let client = try Client(port: port)
            // A runt, a response (QR set), a datagram longer than any query we accept: no reply at all.
            client.send([0x12, 0x34, 0x01])
            var response = try Self.query(id: 7, name: "www.udp.test")
            response[2] |= 0x80
            client.send(response)
            client.send(try Self.query(id: 8, name: "www.udp.test") + [UInt8](repeating: 0, count: 5000))
            #expect(client.receive(milliseconds: 300) == nil)
            // A header that promises a question it does not carry: FORMERR, with the client's ID.
            client.send([0xAB, 0xCD, 0x01, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0])
            let formerr = try #require(client.receive())
            #expect(Array(formerr[0..<2]) == [0xAB, 0xCD])
            #expect(formerr[3] & 0x0F == 1)
            // Still answering.
            client.send(try Self.query(id: 9, name: "www.udp.test"))
            let reply = try #require(client.receive())
            #expect(reply[3] & 0x0F == 0)
            #expect(door.statistics.dropped.load(ordering: .relaxed) == 3)
        }
    }

    @Test func tooLargeForTheClientIsCutToTheQuestionWithTC() async throws {
        let upstream = ScriptedUpstream()
        let records = (1...60).map { DNSResourceRecord.a("many.udp.test", IPv4Bytes(198, 51, 100, UInt8($0)), ttl: 300) }
        upstream.answer("many.udp.test", .a, records)
        try await Self.withDoor(upstream: upstream) { port, _ in
            let client = try Client(port: port)
            for id in [UInt16(1), 2] {  // the miss, then the hit
                client.send(try Self.query(id: id, name: "many.udp.test"))
                let reply = try #require(client.receive())
                let message = try DNSMessage(decoding: reply)
                #expect(message.header.isTruncated, "without EDNS the limit is 512 octets")
                #expect(message.answers.isEmpty && message.questions.count == 1)
                #expect(reply.count <= 512)
            }
            client.send(try Self.query(id: 3, name: "many.udp.test", edns: EDNS(udpPayloadSize: 1232)))
            let full = try DNSMessage(decoding: try #require(client.receive()))
            #expect(!full.header.isTruncated && full.answers.count == 60)
        }
    }

    @Test func oneClientCannotQueueMoreThanItsShareOfMisses() async throws {
        let upstream = Self.upstream()
        // Names under slow.test take 3 s upstream: misses for them stay pending.
        upstream.setFallback(.delay(nanoseconds: 3_000_000_000, then: .init(.fail(.timeout))))
        try await Self.withDoor(upstream: upstream, configure: { $0.maximumPendingMissesPerClient = 8 }) { port, door in
            let flooder = try Client(port: port)
            for id in 0..<20 { flooder.send(try Self.query(id: UInt16(id), name: "n\(id).slow.test")) }
            // Past its 8 pending misses, the flooder's misses get SERVFAIL at once.
            var immediate = 0
            while let reply = flooder.receive(milliseconds: 1000) {
                #expect(reply[3] & 0x0F == 2)
                immediate += 1
            }
            #expect(immediate == 12)
            #expect(door.statistics.clientMissesRefused.load(ordering: .relaxed) == 12)
            // Another client's miss is taken and answered meanwhile.
            let other = try Client(port: port)
            other.send(try Self.query(id: 77, name: "www.udp.test"))
            let reply = try #require(other.receive())
            #expect(reply[3] & 0x0F == 0)
            #expect(Array(reply[0..<2]) == [0, 77])
        }
    }
}
