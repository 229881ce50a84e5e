import DNSForwarder
import DNSWire
import Foundation
import NIOCore
import NIOPosix
import SidecacheDaemon
import TestSupport
import Testing

/// The whole daemon, in-process, in front of Knot DNS, asked by `dig`.
@Suite(.serialized, .enabled(if: runningAsRoot, "needs root to run knotd and dig against loopback (CI runs as root)"))
struct DaemonEndToEndTests {
    static let zone: String = {
        var text = """
            $ORIGIN e2e.test.
            $TTL 300
            @     IN SOA ns1 hostmaster 1 3600 600 86400 60
            @     IN NS ns1
            ns1   IN A 127.0.0.53
            www   IN A 192.0.2.1
            www   IN A 192.0.2.2
            www   IN A 192.0.2.3
            www   IN A 192.0.2.4
            alias IN CNAME alias2
            alias2 IN CNAME www
            v4only IN A 192.0.2.9
            short 2 IN A 192.0.2.10

            """
        for i in 0..<12 {
            text += "big IN TXT \"\(String(repeating: Character(UnicodeScalar(UInt8(97 + i))), count: 200))\"\n"
        }
        return text
    }()

    /// Starts knot and the daemon; runs `body`; stops both.
    static func withDaemon(
        extra: [String] = [], _ body: @Sendable (_ address: String, _ port: Int, _ daemon: Sidecache, _ knot: KnotServer) async throws -> Void
    ) async throws {
        let knot = try await KnotServer.launch(zones: ["e2e.test": zone])
        let address = randomLoopbackAddress()
        // Never the host's real /var/run/nscd: the nscd door gets a socket in a scratch directory.
        let scratch = try makeScratchDirectory("e2e")
        let flags = try SidecacheConfiguration.parseFlags(
            ["--upstream", "\(knot.address):\(knot.port)", "--dns-listen", "\(address):5353", "--tcp-idle-timeout", "1s",
             "--nscd-socket", "\(scratch)/nscd/socket", "--hosts-file", "\(scratch)/hosts",
             "--admin-listen", "\(address):9253", "--shared-map-file", "\(scratch)/private/hosts.map"] + extra)
        let configuration = try SidecacheConfiguration.resolve(flags: flags, environment: [:])
        let daemon = try await Sidecache(configuration: configuration)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await daemon.run(signals: []) }
            defer { group.cancelAll() }
            try await body(address, 5353, daemon, knot)
        }
    }

    static func dig(_ address: String, _ port: Int, _ arguments: [String]) async throws -> String {
        let result = try await ExternalProcess.run("dig", ["@\(address)", "-p", "\(port)", "+time=2", "+tries=1"] + arguments)
        return result.output
    }

    static func answers(_ output: String) -> [String] {
        output.split(separator: "\n").filter { !$0.hasPrefix(";") && !$0.isEmpty }.map { String($0) }
    }

    @Test func digOverUDPAndTCP() async throws {
        try await Self.withDaemon { address, port, _, knot in
            let udp = try await Self.dig(address, port, ["+short", "www.e2e.test", "A"])
            #expect(Set(udp.split(separator: "\n")) == ["192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.4"])
            let tcp = try await Self.dig(address, port, ["+tcp", "+short", "WWW.e2e.TEST", "A"])
            #expect(Set(tcp.split(separator: "\n")) == ["192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.4"])
            let full = try await Self.dig(address, port, ["www.e2e.test", "A"])
            #expect(full.contains("status: NOERROR"))
            #expect(full.contains("flags: qr rd ra;"))
        }
    }

    @Test func smallBufferGetsTCThenTheFullAnswerOverTCP() async throws {
        try await Self.withDaemon { address, port, _, _ in
            let output = try await Self.dig(address, port, ["+bufsize=512", "big.e2e.test", "TXT"])
            #expect(output.contains("Truncated, retrying in TCP mode"))
            #expect(Self.answers(output).count == 12)
            let ignored = try await Self.dig(address, port, ["+bufsize=512", "+ignore", "big.e2e.test", "TXT"])
            #expect(ignored.contains(" tc "))
            #expect(Self.answers(ignored).isEmpty)
            let noEDNS = try await Self.dig(address, port, ["+noedns", "+ignore", "big.e2e.test", "TXT"])
            #expect(noEDNS.contains(" tc "))
        }
    }

    @Test func nxdomainAndNodataCarryTheSOA() async throws {
        try await Self.withDaemon { address, port, _, _ in
            let nx = try await Self.dig(address, port, ["nope.e2e.test", "A"])
            #expect(nx.contains("status: NXDOMAIN"))
            #expect(nx.contains("AUTHORITY: 1"))
            #expect(nx.range(of: #"e2e\.test\.\s+\d+\s+IN\s+SOA"#, options: .regularExpression) != nil)
            let nodata = try await Self.dig(address, port, ["v4only.e2e.test", "AAAA"])
            #expect(nodata.contains("status: NOERROR"))
            #expect(nodata.contains("ANSWER: 0"))
            #expect(nodata.contains("AUTHORITY: 1"))
        }
    }

    @Test func cnameChainIsFollowedInOrder() async throws {
        try await Self.withDaemon { address, port, _, _ in
            let output = try await Self.dig(address, port, ["+noall", "+answer", "alias.e2e.test", "A"])
            let lines = Self.answers(output)
            #expect(lines.count == 6)
            #expect(lines[0].contains("CNAME") && lines[0].contains("alias2.e2e.test."))
            #expect(lines[1].contains("CNAME") && lines[1].contains("www.e2e.test."))
            #expect(lines.dropFirst(2).allSatisfy { $0.contains("\tA\t") })
        }
    }

    @Test func ttlCountsDownBetweenQueries() async throws {
        try await Self.withDaemon { address, port, _, _ in
            func ttl() async throws -> Int {
                let line = Self.answers(try await Self.dig(address, port, ["+noall", "+answer", "v4only.e2e.test", "A"])).first ?? ""
                return Int(line.split(whereSeparator: { $0 == "\t" || $0 == " " })[1]) ?? -1
            }
            let first = try await ttl()
            try await Task.sleep(nanoseconds: 1_100_000_000)
            let second = try await ttl()
            #expect(first >= 299 && first <= 300)
            #expect(second == first - 1 || second == first - 2)
        }
    }

    @Test func shortTTLExpiresOnTimeAndTheNewValueIsServed() async throws {
        try await Self.withDaemon { address, port, daemon, knot in
            #expect(try await Self.dig(address, port, ["+short", "short.e2e.test"]).contains("192.0.2.10"))
            try await knot.updateZone("e2e.test", Self.zone.replacingOccurrences(of: "192.0.2.10", with: "192.0.2.11"))
            #expect(try await Self.dig(address, port, ["+short", "short.e2e.test"]).contains("192.0.2.10"))
            try await Task.sleep(nanoseconds: 2_050_000_000)
            #expect(try await Self.dig(address, port, ["+short", "short.e2e.test"]).contains("192.0.2.11"))
            #expect(daemon.forwarder.statistics.responses.load(ordering: .relaxed) >= 2)
        }
    }

    /// 1,000 TCP clients that connect and send nothing or half a message do not hold up a good client, and are
    /// dropped after the idle timeout.
    @Test func idleTCPClientsAreDroppedAndHoldNobodyUp() async throws {
        try await Self.withDaemon { address, port, daemon, _ in
            var sockets: [Int32] = []
            defer { for fd in sockets { close(fd) } }
            for i in 0..<1000 {
                let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
                var addr = sockaddr_in()
                addr.sin_family = sa_family_t(AF_INET)
                addr.sin_port = in_port_t(UInt16(port).bigEndian)
                inet_pton(AF_INET, address, &addr.sin_addr)
                let ok = withUnsafePointer(to: &addr) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
                }
                #expect(ok == 0)
                if i % 2 == 0 {
                    // A length prefix promising 100 octets, then nothing.
                    var prefix: [UInt8] = [0, 100, 0x12]
                    _ = send(fd, &prefix, 3, 0)
                }
                sockets.append(fd)
            }
            let started = Date()
            let udp = try await Self.dig(address, port, ["+short", "www.e2e.test"])
            let tcp = try await Self.dig(address, port, ["+tcp", "+short", "www.e2e.test"])
            #expect(Date().timeIntervalSince(started) < 2)
            #expect(!udp.isEmpty && !tcp.isEmpty)
            try await Task.sleep(nanoseconds: 2_500_000_000)
            #expect(daemon.door.statistics.tcpIdleClosed.load(ordering: .relaxed) >= 1000)
            // The server closed them: a read now sees end of file.
            var byte: UInt8 = 0
            #expect(recv(sockets[1], &byte, 1, Int32(MSG_DONTWAIT)) == 0)
        }
    }

    /// Random and mutated datagrams for a bounded time: the daemon stays up, still answers correctly, and its
    /// memory settles.
    @Test func fuzzedDatagramsLeaveTheDoorWorking() async throws {
        try await Self.withDaemon { address, port, daemon, _ in
            let seed = try DNSMessage.query(id: 1, name: "www.e2e.test", type: .a, edns: EDNS()).encode()
            let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
            defer { close(fd) }
            var addr = sockaddr_in()
            addr.sin_family = sa_family_t(AF_INET)
            addr.sin_port = in_port_t(UInt16(port).bigEndian)
            inet_pton(AF_INET, address, &addr.sin_addr)
            var rng = SystemRandomNumberGenerator()
            func blast(_ count: Int) async {
                for i in 0..<count {
                    var packet: [UInt8]
                    if i % 3 == 0 {
                        packet = (0..<Int.random(in: 0...600, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
                    } else {
                        packet = seed
                        for _ in 0..<Int.random(in: 1...6, using: &rng) {
                            packet[Int.random(in: 0..<packet.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
                        }
                        if i % 5 == 0 { packet = Array(packet.prefix(Int.random(in: 0...packet.count, using: &rng))) }
                    }
                    _ = withUnsafePointer(to: &addr) {
                        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                            sendto(fd, packet, packet.count, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                        }
                    }
                    if i % 200 == 0 { try? await Task.sleep(nanoseconds: 1_000_000) }
                }
            }
            await blast(20_000)
            try await Task.sleep(nanoseconds: 4_000_000_000)  // let misses for random names time out
            let before = residentBytes()
            await blast(20_000)
            try await Task.sleep(nanoseconds: 4_000_000_000)
            let after = residentBytes()
            let answer = try await Self.dig(address, port, ["+short", "www.e2e.test"])
            #expect(Set(answer.split(separator: "\n")) == ["192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.4"])
            #expect(daemon.door.statistics.udpQueries.load(ordering: .relaxed) >= 30_000)
            // The second round reuses what the first allocated: well under 32 MiB of growth (the cache budget
            // is 16 MiB).
            #expect(after - before < 32 << 20, "RSS grew from \(before) to \(after)")
        }
    }
}

/// Resident set size of this process, from /proc/self/statm.
func residentBytes() -> Int {
    guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
    let fields = text.split(separator: " ")
    return (Int(fields.count > 1 ? fields[1] : "0") ?? 0) * Int(sysconf(Int32(_SC_PAGESIZE)))
}
