import DNSCache
import DNSWire

/// Turns the engine's answer into the reply for one client: its question case, its EDNS0, and a size it accepts.
public enum DNSResponder {
    /// The UDP payload size we advertise in our OPT (DNS flag day 2020).
    public static let advertisedUDPSize: UInt16 = 1232

    /// - Parameters:
    ///   - answer: the engine's wire reply (caller's ID and RD already set, no OPT).
    ///   - limit: the most octets this reply may have (the UDP limit), or nil over TCP.
    public static func finish(_ answer: [UInt8], for request: DNSRequest, limit: Int?) -> [UInt8] {
        guard answer.count >= 12 + request.nameBytes.count else { return answer }
        var reply = answer
        let optLength = request.edns == nil ? 0 : 11
        reply.reserveCapacity(answer.count + optLength)
        // Echo the client's spelling of the name (the stored form is lower-cased; same length by construction).
        reply.withUnsafeMutableBytes { buffer in
            request.nameBytes.withUnsafeBytes { name in
                buffer.baseAddress!.advanced(by: 12).copyMemory(from: name.baseAddress!, byteCount: name.count)
            }
        }
        if let limit, reply.count + optLength > limit {
            // Too big for this client: header and question only, TC set (RFC 2181 9: never a partial RRset).
            reply.removeSubrange((12 + request.nameBytes.count + 4)...)
            reply[2] |= 0x02
            for i in 6..<12 { reply[i] = 0 }
        }
        if let edns = request.edns {
            var writer = DNSWireWriter(capacity: 11)
            DNSRequestParser.writeOPT(into: &writer, dnssecOK: edns.dnssecOK)
            reply.append(contentsOf: writer.bytes)
            let count = (UInt16(reply[10]) << 8 | UInt16(reply[11])) &+ 1
            reply[10] = UInt8(count >> 8)
            reply[11] = UInt8(count & 0xFF)
        }
        return reply
    }
}
