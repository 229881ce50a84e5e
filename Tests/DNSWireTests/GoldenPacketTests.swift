import DNSWire
import TestSupport
import Testing

/// Responses captured from Knot DNS 3.2 serving a test zone on loopback (`Tests/Fuzz/corpus` holds more), and
/// queries as dig and the RFCs lay them out.
struct GoldenPacketTests {
    /// www.example.test A, three answers, every owner name a pointer to the question (offset 12).
    static let threeA = [UInt8](
        hex: """
            1234 8500 0001 0003 0000 0000
            03777777 076578616d706c65 0474657374 00 0001 0001
            c00c 0001 0001 0000012c 0004 c0000201
            c00c 0001 0001 0000012c 0004 c0000202
            c00c 0001 0001 0000012c 0004 c0000203
            """)

    /// alias.example.test A: a CNAME whose target shares the zone suffix (pointer c012), then the A RRset whose
    /// owners point at the CNAME target (c030).
    static let cnameChain = [UInt8](
        hex: """
            1234 8500 0001 0004 0000 0000
            05616c696173 076578616d706c65 0474657374 00 0001 0001
            c00c 0005 0001 0000012c 0006 03777777 c012
            c030 0001 0001 0000012c 0004 c0000201
            c030 0001 0001 0000012c 0004 c0000202
            c030 0001 0001 0000012c 0004 c0000203
            """)

    /// nope.example.test A: NXDOMAIN with the zone's SOA in the authority section (RFC 2308 2.1).
    static let nxdomain = [UInt8](
        hex: """
            1234 8503 0001 0000 0001 0000
            046e6f7065 076578616d706c65 0474657374 00 0001 0001
            c011 0006 0001 0000003c 0027 036e7331 c011 0a686f73746d6173746572 c011
                 78c404c9 00000e10 00000258 00015180 0000003c
            """)

    static let mx = [UInt8](
        hex:
            "123485000001000100000001046d61696c076578616d706c65047465737400000f0001c00c000f00010000012c0008000a036d7831c011c031000100010000012c0004c0000219"
    )
    static let txt = [UInt8](
        hex:
            "12348500000100010000000003747874076578616d706c6504746573740000100001c00c001000010000012c00130b68656c6c6f20776f726c64067365636f6e64"
    )
    /// SRV: the target is written in full, never compressed (RFC 2782).
    static let srv = [UInt8](
        hex:
            "123485000001000100000001045f736970045f746370076578616d706c6504746573740000210001c00c002100010000012c0018000a003c13c403736970076578616d706c65047465737400c03a000100010000012c0004c0000232"
    )
    static let aaaa = [UInt8](
        hex:
            "123485000001000100000000027636076578616d706c65047465737400001c0001c00c001c00010000012c001020010db8000000000000000000000001"
    )
    /// The same three-A answer to a query with EDNS0 (OPT: payload 1232, no flags).
    static let threeAWithOPT = [UInt8](
        hex:
            "12348500000100030000000103777777076578616d706c6504746573740000010001c00c000100010000012c0004c0000201c00c000100010000012c0004c0000202c00c000100010000012c0004c000020300002904d0000000000000"
    )

    @Test func decodesThreeAddressAnswer() throws {
        let message = try DNSMessage(decoding: Self.threeA)
        #expect(message.header.id == 0x1234)
        #expect(message.header.isResponse)
        #expect(message.header.isAuthoritative)
        #expect(message.header.recursionDesired)
        #expect(!message.header.recursionAvailable)
        #expect(message.responseCode == .noError)
        #expect(message.questions == [DNSQuestion(name: "www.example.test", type: .a)])
        #expect(
            message.answers == [
                .a("www.example.test", IPv4Bytes(192, 0, 2, 1), ttl: 300),
                .a("www.example.test", IPv4Bytes(192, 0, 2, 2), ttl: 300),
                .a("www.example.test", IPv4Bytes(192, 0, 2, 3), ttl: 300),
            ])
        #expect(message.edns == nil)
    }

    @Test func decodesCNAMEChain() throws {
        let message = try DNSMessage(decoding: Self.cnameChain)
        #expect(message.answers.first == .cname("alias.example.test", "www.example.test", ttl: 300))
        #expect(message.answers.dropFirst().allSatisfy { $0.name == "www.example.test" && $0.type == .a })
    }

    @Test func decodesNXDOMAINWithSOA() throws {
        let message = try DNSMessage(decoding: Self.nxdomain)
        #expect(message.responseCode == .nameError)
        #expect(message.answers.isEmpty)
        let soa = DNSRecordData.SOA(
            mname: "ns1.example.test", rname: "hostmaster.example.test", serial: 2_026_112_201, refresh: 3600,
            retry: 600, expire: 86400, minimum: 60)
        #expect(message.authorities == [.soa("example.test", soa, ttl: 60)])
    }

    @Test func decodesTypedRDATA() throws {
        #expect(
            try DNSMessage(decoding: Self.mx).answers.first?.data == .mx(preference: 10, exchange: "mx1.example.test"))
        #expect(
            try DNSMessage(decoding: Self.txt).answers.first?.data
                == .txt([Array("hello world".utf8), Array("second".utf8)]))
        #expect(
            try DNSMessage(decoding: Self.srv).answers.first?.data
                == .srv(priority: 10, weight: 60, port: 5060, target: "sip.example.test"))
        #expect(
            try DNSMessage(decoding: Self.aaaa).answers.first?.data == .aaaa(IPv6Bytes("2001:db8::1")!))
    }

    @Test func decodesEDNS() throws {
        let message = try DNSMessage(decoding: Self.threeAWithOPT)
        #expect(message.edns == EDNS(udpPayloadSize: 1232))
        #expect(message.additionals.isEmpty)
    }

    /// Our encoder compresses exactly as Knot does for these messages, so decode then encode gives the bytes back.
    @Test(arguments: [threeA, cnameChain, nxdomain, mx, txt, srv, aaaa, threeAWithOPT])
    func roundTripsByteForByte(packet: [UInt8]) throws {
        let message = try DNSMessage(decoding: packet)
        #expect(try message.encode().hexString == packet.hexString)
    }

    /// RFC 1035 4.1.4's example: F.ISI.ARPA, FOO.F.ISI.ARPA and ARPA share suffixes.
    @Test func compressesSharedSuffixes() throws {
        var writer = DNSWireWriter()
        writer.writeBytes([UInt8](repeating: 0, count: 20))
        writer.writeName("F.ISI.ARPA")
        writer.writeName("FOO.F.ISI.ARPA")
        writer.writeName("ARPA")
        writer.writeName(.root)
        let expected = [UInt8](
            hex: """
                01 46 03 49 53 49 04 41 52 50 41 00
                03 46 4f 4f c0 14
                c0 1a
                00
                """)
        #expect(Array(writer.bytes[20...]) == expected)
    }

    @Test func compressesIgnoringCaseButKeepsFirstSpelling() throws {
        let message = DNSMessage(
            header: DNSHeader(id: 1, flags: 0x8180), questions: [DNSQuestion(name: "WWW.Example.TEST", type: .a)],
            answers: [.a("www.example.test", IPv4Bytes(10, 0, 0, 1), ttl: 5)])
        let bytes = try message.encode()
        // The answer's owner is a pointer to the question.
        #expect(bytes[34] == 0xC0 && bytes[35] == 0x0C)
        let decoded = try DNSMessage(decoding: bytes)
        #expect(decoded.questions[0].name.description == "WWW.Example.TEST.")
        #expect(decoded.answers[0].name.description == "WWW.Example.TEST.")
    }

    @Test func opaqueRDATARoundTripsUnknownTypes() throws {
        let record = DNSResourceRecord(
            name: "x.example", type: DNSType(65280), class: .internet, ttl: 7, data: .opaque([0xC0, 0x0C, 1, 2, 3]))
        let message = DNSMessage(header: DNSHeader(id: 9, flags: 0x8400), answers: [record])
        let decoded = try DNSMessage(decoding: try message.encode())
        // Bytes that look like a pointer stay bytes: unknown RDATA is never decompressed (RFC 3597 4).
        #expect(decoded.answers == [record])
    }

    @Test func extendedRCodeCombinesHeaderAndOPT() throws {
        var message = DNSMessage(header: DNSHeader(id: 2, flags: 0x8000))
        message.responseCode = .badVersion
        #expect(message.header.rcodeLow == 0)
        #expect(message.edns?.extendedRCode == 1)
        let decoded = try DNSMessage(decoding: try message.encode())
        #expect(decoded.responseCode == .badVersion)
    }

    @Test func ednsOptionsAndDOBitSurvive() throws {
        var edns = EDNS(udpPayloadSize: 4096, flags: 0)
        edns.dnssecOK = true
        edns.options = [EDNSOption(code: 10, data: [1, 2, 3, 4, 5, 6, 7, 8])]
        let query = DNSMessage.query(id: 77, name: "example.test", type: .aaaa, edns: edns)
        let decoded = try DNSMessage(decoding: try query.encode())
        #expect(decoded.edns == edns)
        #expect(decoded.edns?.dnssecOK == true)
    }
}
