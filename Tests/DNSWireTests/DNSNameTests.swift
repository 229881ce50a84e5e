import DNSWire
import Testing

struct DNSNameTests {
    @Test func comparesIgnoringCaseAndPreservesIt() throws {
        let upper = try DNSName("WWW.Example.COM")
        let lower = try DNSName("www.example.com.")
        #expect(upper == lower)
        #expect(upper.hashValue == lower.hashValue)
        #expect(upper.description == "WWW.Example.COM.")
        #expect(upper.lowercased().description == "www.example.com.")
        #expect(try DNSName("wwx.example.com") != lower)
    }

    @Test func caseFoldingIsASCIIOnly() throws {
        // 0xC1 and 0xE1 differ by 0x20 but are not letters.
        let a = try DNSName(wire: [1, 0xC1, 0])
        let b = try DNSName(wire: [1, 0xE1, 0])
        #expect(a != b)
        // '@' (0x40) and '`' (0x60) likewise.
        #expect(try DNSName(wire: [1, 0x40, 0]) != DNSName(wire: [1, 0x60, 0]))
    }

    @Test func escapesRoundTrip() throws {
        let name = try DNSName(#"a\.b.c\032d.\255."#)
        #expect(name.labels.map(Array.init) == [[97, 46, 98], [99, 32, 100], [255]])
        #expect(try DNSName(name.description) == name)
        #expect(name.description == #"a\.b.c\032d.\255."#)
    }

    @Test func rootAndLabels() throws {
        #expect(DNSName.root.isRoot)
        #expect(try DNSName(".") == .root)
        #expect(try DNSName("a.b.c").labelCount == 3)
        #expect(try DNSName("www.svc.cluster.local").isSubdomain(of: DNSName("Cluster.Local")))
        #expect(!(try DNSName("cluster.local").isSubdomain(of: DNSName("svc.cluster.local"))))
        #expect(try DNSName("my-svc").appending(DNSName("ns.svc.cluster.local")) == DNSName("my-svc.ns.svc.cluster.local"))
    }

    @Test func addressText() {
        #expect(IPv6Bytes("2001:db8::1")?.description == "2001:db8::1")
        #expect(IPv6Bytes("::")?.description == "::")
        #expect(IPv6Bytes("::ffff:192.0.2.1")?.description == "::ffff:c000:201")
        #expect(IPv6Bytes("1:2:3:4:5:6:7:8")?.description == "1:2:3:4:5:6:7:8")
        #expect(IPv6Bytes("1::2::3") == nil)
        #expect(IPv6Bytes("12345::") == nil)
        #expect(IPv4Bytes("192.0.2.1")?.description == "192.0.2.1")
        #expect(IPv4Bytes("192.0.2") == nil)
        #expect(IPv4Bytes("256.0.2.1") == nil)
    }
}
