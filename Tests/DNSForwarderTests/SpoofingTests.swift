import DNSCache
import DNSForwarder
import DNSWire
import Foundation
import NIOCore
import NIOPosix
import TestSupport
import Testing

/// A hostile upstream (a python3 script) that, for each query, first sends a reply from another port, then one
/// with a wrong ID, one with a wrong question, garbage, a compression loop, and only then the right reply.
@Suite(.enabled(if: runningAsRoot, "needs root like the other integration tests (CI runs as root)"))
struct SpoofingTests {
    static let script = #"""
        import socket, struct, sys
        addr, port = sys.argv[1], int(sys.argv[2])
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind((addr, port))
        other = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); other.bind((addr, 0))
        print("ready", flush=True)
        while True:
            q, client = s.recvfrom(4096)
            qid = struct.unpack(">H", q[:2])[0]
            end = 12
            while q[end] != 0: end += q[end] + 1
            question = q[12:end + 5]
            def reply(rid, qsection, answer_ip):
                h = struct.pack(">HHHHHH", rid, 0x8180, 1, 1, 0, 0)
                rr = b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 60, 4) + bytes(answer_ip)
                return h + qsection + rr
            other.sendto(reply(qid, question, [6, 6, 6, 1]), client)                 # wrong source port
            s.sendto(reply(qid ^ 0xFFFF, question, [6, 6, 6, 2]), client)            # wrong ID
            wrong_q = b"\x05other" + question[question[0] + 1:]
            s.sendto(reply(qid, wrong_q, [6, 6, 6, 3]), client)                      # wrong question
            s.sendto(q[:2] + b"\x81\x80\x00\x01\x00\x01", client)                    # truncated garbage
            s.sendto(struct.pack(">HHHHHH", qid, 0x8180, 1, 1, 0, 0) + question + b"\xc0\x2e\xc0\x2c" + b"\x00" * 10, client)  # pointer loop
            s.sendto(reply(qid, question, [192, 0, 2, 77]), client)                  # the real one
        """#

    @Test func onlyTheMatchingReplyIsAccepted() async throws {
        let address = randomLoopbackAddress()
        let server = try ExternalProcess("python3", ["-c", Self.script, address, "53001"])
        defer { server.stop() }
        // Wait until the script has bound its socket.
        try await Task.sleep(nanoseconds: 300_000_000)
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let forwarder = try DNSForwarder(
            configuration: ForwarderConfiguration(upstreams: [UpstreamAddress(host: address, port: 53001)]), group: group)
        // Until the script has bound its port the kernel refuses (ICMP), which reaches no counter; then one try.
        var result = await forwarder.resolve(CacheKey(name: "victim.test", type: .a))
        for _ in 0..<20 {
            guard case .failure(.unreachable) = result else { break }
            try await Task.sleep(nanoseconds: 250_000_000)
            result = await forwarder.resolve(CacheKey(name: "victim.test", type: .a))
        }
        guard case .response(let message) = result else {
            Issue.record("no response: \(result)")
            return
        }
        #expect(message.answers.map(\.data) == [.a(IPv4Bytes(192, 0, 2, 77))])
        let statistics = forwarder.statistics
        #expect(statistics.droppedWrongID.load(ordering: .relaxed) == 1)
        #expect(statistics.droppedWrongQuestion.load(ordering: .relaxed) == 1)
        #expect(statistics.droppedMalformed.load(ordering: .relaxed) == 2)
        // The reply from the other port never reached us: the connected socket has the kernel drop it.
        #expect(statistics.droppedWrongSource.load(ordering: .relaxed) == 0)
        try await group.shutdownGracefully()
    }
}
