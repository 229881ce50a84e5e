import NSCDWire
import TestSupport
import Testing

/// Byte-exact layouts against the tables and worked examples of shared/docs/nscd-protocol.md (glibc 2.36).
struct NSCDWireTests {
    @Test func parsesTheGETAIRequestOfTheWorkedExample() throws {
        let bytes = [UInt8](hex: "02000000 0e000000 0c000000 6578616d706c652e636f6d00")
        let request = try bytes.withUnsafeBytes { try NSCDRequest(parsing: $0) }
        #expect(request.type == .getAddressInfo)
        #expect(request.keyString == "example.com")
        #expect(request.encode() == bytes)
    }

    @Test func getaiReplyMatchesTheWorkedExample() {
        let reply = NSCDAddressInfoResponse.found(
            addresses: [
                NSCDAddress(family: 2, bytes: [198, 51, 100, 1]), NSCDAddress(family: 2, bytes: [198, 51, 100, 2]),
                NSCDAddress(family: 10, bytes: [UInt8](hex: "20010db8000000000000000000000001")),
            ], canonicalName: "example.com")
        let expected = [UInt8](
            hex: """
                02000000 01000000 03000000 18000000 0c000000 00000000
                c6336401 c6336402 20010db8000000000000000000000001
                02020a
                6578616d706c652e636f6d00
                """)
        #expect(reply == expected)
        #expect(reply.count == 63)
        #expect(NSCDHostReply.parseAddressInfo(reply) == .addresses(canonicalName: "example.com", aliases: [], addresses: [
            NSCDAddress(family: 2, bytes: [198, 51, 100, 1]), NSCDAddress(family: 2, bytes: [198, 51, 100, 2]),
            NSCDAddress(family: 10, bytes: [UInt8](hex: "20010db8000000000000000000000001")),
        ]))
    }

    @Test func gethostbynameReplyMatchesTheWorkedExample() {
        let reply = NSCDHostEntResponse.found(
            name: "multi4.test", aliases: ["m4a"], family: 2, addressLength: 4,
            addresses: [[198, 51, 100, 1], [198, 51, 100, 2]])
        let expected = [UInt8](
            hex: """
                02000000 01000000 0c000000 01000000 02000000 04000000 02000000 00000000
                6d756c7469342e7465737400
                04000000
                c6336401 c6336402
                6d346100
                """)
        #expect(reply == expected)
        #expect(reply.count == 60)
        #expect(NSCDHostReply.parseHostEnt(reply, family: 2) == .addresses(
            canonicalName: "multi4.test", aliases: ["m4a"], addresses: [
                NSCDAddress(family: 2, bytes: [198, 51, 100, 1]), NSCDAddress(family: 2, bytes: [198, 51, 100, 2]),
            ]))
    }

    @Test func negativeAndNotServedHostHeaders() {
        // {2, 0, 0, 0, -1, -1, 0, error} as real nscd sends a negative.
        #expect(NSCDHostEntResponse.notFound(error: .hostNotFound) == [UInt8](hex: "02000000 00000000 00000000 00000000 ffffffff ffffffff 00000000 01000000"))
        #expect(NSCDHostEntResponse.notFound(error: .noData).suffix(4) == [4, 0, 0, 0])
        #expect(NSCDHostEntResponse.notServed == [UInt8](hex: "02000000 ffffffff 00000000 00000000 ffffffff ffffffff 00000000 ffffffff"))
        #expect(NSCDAddressInfoResponse.notFound(error: .hostNotFound).count == 24)
        #expect(NSCDAddressInfoResponse.notServed == [UInt8](hex: "02000000 ffffffff 00000000 00000000 00000000 ffffffff"))
    }

    /// nscd-protocol.md 4.1: the disabled-database replies, with each database's header size.
    @Test(arguments: [
        (NSCDRequestType.getPasswordByName, "02000000 ffffffff 00000000 00000000 ffffffff ffffffff 00000000 00000000 00000000"),
        (.getPasswordByUID, "02000000 ffffffff 00000000 00000000 ffffffff ffffffff 00000000 00000000 00000000"),
        (.getGroupByName, "02000000 ffffffff 00000000 00000000 ffffffff 00000000"),
        (.initGroups, "02000000 ffffffff 00000000 00000000 ffffffff 00000000"),
        (.getServiceByName, "02000000 ffffffff 00000000 00000000 00000000 ffffffff"),
        (.getNetgroup, "02000000 ffffffff 00000000 00000000"),
        (.inNetgroup, "02000000 ffffffff 00000000 00000000"),
    ])
    func notServedDatabases(type: NSCDRequestType, hex: String) {
        #expect(NSCDNotServedResponse.reply(for: type) == [UInt8](hex: hex))
    }

    @Test(arguments: [
        ("short header", "02000000 0e000000", NSCDWireError.Code.truncated),
        ("version 1", "01000000 0e000000 02000000 6100", .badVersion),
        ("type 22", "02000000 16000000 02000000 6100", .unknownType),
        ("negative type", "02000000 ffffffff 02000000 6100", .unknownType),
        ("key longer than 1024", "02000000 0e000000 01040000", .badKeyLength),
        ("negative key length", "02000000 0e000000 ffffffff", .badKeyLength),
        ("key shorter than announced", "02000000 0e000000 08000000 616263", .truncated),
        ("key without NUL", "02000000 0e000000 03000000 616263", .badKey),
        ("NUL inside the key", "02000000 0e000000 04000000 61006200", .badKey),
        ("empty string key", "02000000 0e000000 00000000", .badKey),
        ("GETHOSTBYADDR with 5 octets", "02000000 06000000 05000000 0102030405", .badKey),
        ("GETHOSTBYADDRv6 with 4 octets", "02000000 07000000 04000000 01020304", .badKey),
    ])
    func malformedRequests(name: String, hex: String, code: NSCDWireError.Code) {
        let bytes = [UInt8](hex: hex)
        do {
            _ = try bytes.withUnsafeBytes { try NSCDRequest(parsing: $0) }
            Issue.record("\(name) accepted")
        } catch let error as NSCDWireError {
            #expect(error.code == code, "\(name)")
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    @Test func addressRequestsCarryRawOctets() throws {
        let bytes = [UInt8](hex: "02000000 06000000 04000000 c6336401")
        let request = try bytes.withUnsafeBytes { try NSCDRequest(parsing: $0) }
        #expect(request.type == .getHostByAddress)
        #expect(request.key == [198, 51, 100, 1])
    }
}
