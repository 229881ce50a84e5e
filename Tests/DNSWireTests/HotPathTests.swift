import DNSWire
import TestSupport
import Testing

struct HotPathTests {
    @Test func queryViewReadsHeaderAndQuestionInPlace() throws {
        let query = try DNSMessage.query(id: 0xBEEF, name: "Www.Example.Test", type: .aaaa).encode()
        let view = try DNSQueryView(query)
        #expect(view.header.id == 0xBEEF)
        #expect(view.header.recursionDesired)
        #expect(view.questionCount == 1)
        #expect(view.type == .aaaa)
        #expect(view.class == .internet)
        #expect(Array(query[view.nameRange]) == (try DNSName("Www.Example.Test")).wire)
        #expect(view.questionEnd == query.count)
    }

    @Test func queryViewRejectsNoQuestion() {
        #expect(throws: DNSWireError(.countMismatch, at: 4)) {
            try DNSQueryView([UInt8](hex: "0001 0100 0000 0000 0000 0000"))
        }
    }

    @Test func layoutFindsTTLsAndRDATA() throws {
        let packet = GoldenPacketTests.cnameChain
        let layout = try DNSMessageLayout(scanning: packet)
        #expect(layout.questionEnd == 36)
        #expect(layout.slots.map(\.type) == [.cname, .a, .a, .a])
        #expect(layout.slots.allSatisfy { $0.section == .answer })
        packet.withUnsafeBytes { buffer in
            for slot in layout.slots {
                #expect(DNSWirePatch.ttl(at: Int(slot.ttlOffset), in: buffer) == 300)
            }
        }
        #expect(Array(packet[Int(layout.slots[1].rdataOffset)...].prefix(4)) == [192, 0, 2, 1])
        #expect(layout.slots.last?.end == Int32(packet.count))
    }

    @Test func patchesIDTTLAndOrderInPlace() throws {
        var packet = GoldenPacketTests.threeA
        let layout = try DNSMessageLayout(scanning: packet)
        packet.withUnsafeMutableBytes { buffer in
            DNSWirePatch.setID(0x4242, in: buffer)
            for slot in layout.slots { DNSWirePatch.setTTL(17, at: Int(slot.ttlOffset), in: buffer) }
            DNSWirePatch.swapBytes(
                Int(layout.slots[0].rdataOffset), Int(layout.slots[2].rdataOffset), length: 4, in: buffer)
        }
        let message = try DNSMessage(decoding: packet)
        #expect(message.header.id == 0x4242)
        #expect(message.answers.map(\.ttl) == [17, 17, 17])
        #expect(message.answers.map(\.data) == [.a(IPv4Bytes(192, 0, 2, 3)), .a(IPv4Bytes(192, 0, 2, 2)), .a(IPv4Bytes(192, 0, 2, 1))])
    }
}
