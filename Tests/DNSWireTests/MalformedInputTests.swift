import DNSWire
import TestSupport
import Testing

/// Every class of hostile input ends in its own error code, never a trap.
struct MalformedInputTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var name: String
        var hex: String
        var code: DNSWireError.Code
        var testDescription: String { name }
    }

    static let header1Q = "abcd 0100 0001 0000 0000 0000"

    static let cases: [Case] = [
        Case(name: "empty", hex: "", code: .truncated),
        Case(name: "short header", hex: "abcd 0100 0001", code: .truncated),
        Case(name: "name cut inside a label", hex: header1Q + "03 7777", code: .truncated),
        Case(name: "name without root octet", hex: header1Q + "03 777777", code: .truncated),
        Case(name: "question without type", hex: header1Q + "00 00", code: .truncated),
        Case(name: "question count lies", hex: "abcd 0100 0002 0000 0000 0000 00 0001 0001", code: .countMismatch),
        Case(
            name: "answer count lies", hex: "abcd 8100 0001 0002 0000 0000 00 0001 0001 00 0001 0001 00000005 0004 7f000001",
            code: .countMismatch),
        Case(name: "label length 64", hex: header1Q + "40" + String(repeating: "61", count: 64) + "00 0001 0001", code: .labelTooLong),
        Case(name: "label type 10", hex: header1Q + "80 00 0001 0001", code: .labelTooLong),
        Case(
            name: "name of 256 octets",
            hex: header1Q + String(repeating: "3f" + String(repeating: "61", count: 63), count: 4) + "03616161" + "00 0001 0001",
            code: .nameTooLong),
        Case(name: "pointer to itself", hex: header1Q + "c00c 0001 0001", code: .pointerLoop),
        Case(name: "pointer back into its own name", hex: header1Q + "01 61 c00c 0001 0001", code: .pointerLoop),
        Case(name: "forward pointer", hex: header1Q + "c00e 00 0001 0001", code: .forwardPointer),
        Case(name: "pointer into the header", hex: header1Q + "c002 0001 0001", code: .pointerIntoHeader),
        Case(name: "pointer cut in half", hex: header1Q + "c0", code: .truncated),
        Case(
            name: "rdlength past the end",
            hex: "abcd 8100 0001 0001 0000 0000 00 0001 0001 00 0001 0001 00000005 0010 7f000001", code: .rdataLengthOverrun),
        Case(
            name: "A record of 5 octets",
            hex: "abcd 8100 0001 0001 0000 0000 00 0001 0001 00 0001 0001 00000005 0005 7f00000101", code: .rdataLengthMismatch),
        Case(
            name: "AAAA record of 4 octets",
            hex: "abcd 8100 0001 0001 0000 0000 00 001c 0001 00 001c 0001 00000005 0004 7f000001", code: .rdataLengthMismatch),
        Case(
            name: "CNAME target longer than rdlength",
            hex: "abcd 8100 0001 0001 0000 0000 00 0005 0001 00 0005 0001 00000005 0002 0161 00 00", code: .rdataLengthMismatch),
        Case(
            name: "CNAME rdlength longer than its target",
            hex: "abcd 8100 0001 0001 0000 0000 00 0005 0001 00 0005 0001 00000005 0004 0161 00 00", code: .rdataLengthMismatch),
        Case(
            name: "TXT string past rdlength",
            hex: "abcd 8100 0001 0001 0000 0000 00 0010 0001 00 0010 0001 00000005 0003 05 6161", code: .rdataLengthMismatch),
        Case(
            name: "SOA without its numbers",
            hex: "abcd 8100 0001 0000 0001 0000 00 0006 0001 00 0006 0001 00000005 0006 00 00 00000001", code: .rdataLengthMismatch),
        Case(name: "trailing garbage", hex: header1Q + "00 0001 0001 ff", code: .trailingBytes),
        Case(
            name: "OPT in the answer section",
            hex: "abcd 8100 0001 0001 0000 0000 00 0001 0001 00 0029 1000 00000000 0000", code: .invalidOPT),
        Case(
            name: "two OPT records",
            hex: "abcd 0100 0001 0000 0000 0002 00 0001 0001 00 0029 1000 00000000 0000 00 0029 1000 00000000 0000",
            code: .invalidOPT),
        Case(
            name: "OPT owned by a non-root name",
            hex: "abcd 0100 0001 0000 0000 0001 00 0001 0001 0161 00 0029 1000 00000000 0000", code: .invalidOPT),
        Case(
            name: "OPT option overruns its RDATA",
            hex: "abcd 0100 0001 0000 0000 0001 00 0001 0001 00 0029 1000 00000000 0006 000a 0008 0102", code: .invalidOPT),
    ]

    @Test(arguments: cases)
    func decodingFailsWithItsOwnCode(_ testCase: Case) {
        let bytes = [UInt8](hex: testCase.hex)
        #expect(throws: DNSWireError.self) { try DNSMessage(decoding: bytes) }
        do {
            _ = try DNSMessage(decoding: bytes)
        } catch {
            #expect(error.code == testCase.code, "\(error)")
        }
    }

    /// The layout scan used on the hot path rejects the same inputs; OPT placement and typed RDATA contents are
    /// out of its reach (it reads only what it needs to find each record).
    @Test(arguments: cases.filter { $0.code != .invalidOPT && $0.code != .rdataLengthMismatch })
    func layoutScanFailsWithTheSameCode(_ testCase: Case) {
        let bytes = [UInt8](hex: testCase.hex)
        do {
            let layout = try DNSMessageLayout(scanning: bytes)
            Issue.record("scan accepted \(testCase.name): \(layout.slots.count) records")
        } catch {
            #expect(error.code == testCase.code, "\(error)")
        }
    }

    @Test func everyPrefixOfAGoodMessageFailsCleanly() {
        let packet = GoldenPacketTests.cnameChain
        for length in 0..<packet.count {
            let prefix = Array(packet[..<length])
            do {
                _ = try DNSMessage(decoding: prefix)
                Issue.record("a \(length)-octet prefix decoded")
            } catch {
                #expect([.truncated, .countMismatch, .rdataLengthOverrun].contains(error.code))
            }
        }
    }

    @Test func nameLimitsFromText() {
        #expect(throws: DNSWireError(.labelTooLong)) { try DNSName(String(repeating: "a", count: 64) + ".test") }
        #expect(throws: DNSWireError(.nameTooLong)) {
            try DNSName(Array(repeating: String(repeating: "a", count: 63), count: 4).joined(separator: "."))
        }
        #expect(throws: DNSWireError(.invalidName)) { try DNSName(String("a..b")) }
        // 63-octet labels up to exactly 255 octets are fine.
        let longest = Array(repeating: String(repeating: "a", count: 63), count: 3).joined(separator: ".") + "."
            + String(repeating: "b", count: 61)
        #expect((try? DNSName(longest))?.wire.count == 255)
    }
}
