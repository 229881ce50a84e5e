import DNSCache
import DNSFrontend
import DNSWire
import TestSupport
import Testing

struct RequestHandlingTests {
    static func parse(_ bytes: [UInt8]) -> QueryDisposition {
        bytes.withUnsafeBytes { DNSRequestParser.parse($0) }
    }

    static func reply(_ disposition: QueryDisposition) throws -> DNSMessage {
        guard case .reply(let bytes) = disposition else { throw TestFailure("expected a reply, got \(disposition)") }
        return try DNSMessage(decoding: bytes)
    }

    static func request(_ disposition: QueryDisposition) throws -> DNSRequest {
        guard case .lookup(let request) = disposition else { throw TestFailure("expected a lookup, got \(disposition)") }
        return request
    }

    @Test func plainQueryBecomesALookupWithItsKey() throws {
        let query = try DNSMessage.query(id: 0x1234, name: "WwW.Example.Test", type: .aaaa).encode()
        let request = try Self.request(Self.parse(query))
        #expect(request.id == 0x1234)
        #expect(request.recursionDesired)
        #expect(request.key == CacheKey(name: "www.example.test", type: .aaaa))
        #expect(Array(query[request.nameRange]) == (try DNSName("WwW.Example.Test")).wire)
        #expect(request.edns == nil)
        #expect(request.udpLimit(1232) == 512)
    }

    @Test func ednsSizeAndDOBitAreRead() throws {
        var edns = EDNS(udpPayloadSize: 4096)
        edns.dnssecOK = true
        let query = try DNSMessage.query(id: 1, name: "example.test", type: .a, edns: edns).encode()
        let request = try Self.request(Self.parse(query))
        #expect(request.edns?.udpPayloadSize == 4096)
        #expect(request.edns?.dnssecOK == true)
        #expect(request.key.dnssecOK)
        #expect(request.udpLimit(1232) == 1232)
        let small = try DNSMessage.query(id: 1, name: "example.test", type: .a, edns: EDNS(udpPayloadSize: 100)).encode()
        #expect(try Self.request(Self.parse(small)).udpLimit(1232) == 512)
    }

    @Test func responsesAndRuntsAreDropped() throws {
        var response = DNSMessage.query(id: 1, name: "example.test", type: .a)
        response.header.isResponse = true
        guard case .drop = Self.parse(try response.encode()) else { Issue.record("response answered"); return }
        guard case .drop = Self.parse([1, 2, 3]) else { Issue.record("runt answered"); return }
    }

    @Test func otherOpcodesGetNOTIMP() throws {
        var message = DNSMessage.query(id: 9, name: "example.test", type: .soa)
        message.header.opcode = .notify
        let reply = try Self.reply(Self.parse(try message.encode()))
        #expect(reply.responseCode == .notImplemented)
        #expect(reply.header.id == 9)
        #expect(reply.header.opcode == .notify)
        #expect(reply.questions == message.questions)
    }

    @Test(arguments: [
        ("two questions", "abcd 0100 0002 0000 0000 0000 01 61 00 0001 0001 01 62 00 0001 0001"),
        ("no question", "abcd 0100 0000 0000 0000 0000"),
        ("an answer in a query", "abcd 0100 0001 0001 0000 0000 01 61 00 0001 0001 c00c 0001 0001 00000001 0004 01020304"),
        ("truncated question", "abcd 0100 0001 0000 0000 0000 05 6162"),
        ("OPT owned by a name", "abcd 0100 0001 0000 0000 0001 01 61 00 0001 0001 01 61 00 0029 1000 00000000 0000"),
        ("two OPT records", "abcd 0100 0001 0000 0000 0002 01 61 00 0001 0001 00 0029 1000 00000000 0000 00 0029 1000 00000000 0000"),
        ("OPT option overrun", "abcd 0100 0001 0000 0000 0001 01 61 00 0001 0001 00 0029 1000 00000000 0004 000a 0010"),
        ("trailing garbage", "abcd 0100 0001 0000 0000 0000 01 61 00 0001 0001 ff"),
    ])
    func malformedQueriesGetFORMERR(name: String, hex: String) throws {
        let reply = try Self.reply(Self.parse([UInt8](hex: hex)))
        #expect(reply.responseCode == .formatError, "\(name)")
        #expect(reply.header.id == 0xABCD)
        #expect(reply.header.isResponse)
    }

    @Test func unknownEDNSVersionGetsBADVERS() throws {
        var edns = EDNS(udpPayloadSize: 1232)
        edns.version = 1
        let query = try DNSMessage.query(id: 3, name: "example.test", type: .a, edns: edns).encode()
        let reply = try Self.reply(Self.parse(query))
        #expect(reply.responseCode == .badVersion)
        #expect(reply.edns?.version == 0)
    }

    @Test func nonINClassAndZoneTransfersAreRefused() throws {
        let chaos = try DNSMessage.query(id: 3, name: "version.bind", type: .txt, class: .chaos).encode()
        #expect(try Self.reply(Self.parse(chaos)).responseCode == .refused)
        let axfr = try DNSMessage.query(id: 3, name: "example.test", type: .axfr).encode()
        #expect(try Self.reply(Self.parse(axfr)).responseCode == .notImplemented)
    }

    @Test func responderEchoesCaseAndEDNSAndTruncatesCleanly() throws {
        let records = (1...60).map { DNSResourceRecord.a("big.test", IPv4Bytes(10, 0, 0, UInt8($0)), ttl: 60) }
        var header = DNSHeader(id: 5)
        header.isResponse = true
        header.recursionAvailable = true
        let stored = try DNSMessage(header: header, questions: [DNSQuestion(name: "big.test", type: .a)], answers: records).encode()
        let query = try DNSMessage.query(id: 5, name: "BiG.TeSt", type: .a, edns: EDNS(udpPayloadSize: 4096)).encode()
        let request = try Self.request(Self.parse(query))
        // Over TCP: everything, the client's case, our OPT.
        let full = try DNSMessage(decoding: DNSResponder.finish(stored, for: request, clientName: Array(query[request.nameRange]), limit: nil))
        #expect(full.answers.count == 60)
        #expect(full.questions[0].name.description == "BiG.TeSt.")
        #expect(full.edns?.udpPayloadSize == 1232)
        #expect(!full.header.isTruncated)
        // Over UDP with a 512-octet limit: TC, header and question only, OPT still there, well-formed.
        let plainQuery = try DNSMessage.query(id: 5, name: "BiG.TeSt", type: .a).encode()
        let plain = try Self.request(Self.parse(plainQuery))
        let cutBytes = DNSResponder.finish(stored, for: plain, clientName: Array(plainQuery[plain.nameRange]), limit: plain.udpLimit(1232))
        #expect(cutBytes.count <= 512)
        let cut = try DNSMessage(decoding: cutBytes)
        #expect(cut.header.isTruncated)
        #expect(cut.answers.isEmpty)
        #expect(cut.questions[0].name.description == "BiG.TeSt.")
        // A reply that fits is untouched but for the OPT.
        let fits = try DNSMessage(decoding: DNSResponder.finish(stored, for: request, clientName: Array(query[request.nameRange]), limit: request.udpLimit(1232)))
        #expect(!fits.header.isTruncated)
        #expect(fits.answers.count == 60)
    }
}
