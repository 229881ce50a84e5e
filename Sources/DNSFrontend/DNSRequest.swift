import DNSCache
import DNSWire

/// A client's query as the door needs it: the cache key, and what the reply must echo (ID, RD, the question's
/// case, EDNS0).
public struct DNSRequest: Sendable {
    public var id: UInt16
    public var recursionDesired: Bool
    /// Where the question name lies in the client's message: its spelling (0x20-style case randomisation) is
    /// echoed back from there.
    public var nameRange: Range<Int>
    public var key: CacheKey
    /// The client's EDNS0, if it sent an OPT record.
    public var edns: ClientEDNS?

    public struct ClientEDNS: Sendable, Hashable {
        public var udpPayloadSize: UInt16
        public var dnssecOK: Bool
    }

    /// The largest UDP reply this client accepts: 512 without EDNS (RFC 1035 4.2.1), else its advertised size
    /// (at least 512, RFC 6891 6.2.5), never more than `limit`.
    public func udpLimit(_ limit: Int) -> Int {
        guard let edns else { return 512 }
        return min(max(512, Int(edns.udpPayloadSize)), max(512, limit))
    }
}

/// What the door does with a datagram or TCP message.
public enum QueryDisposition: Sendable {
    /// Not a query we answer at all (a response, or too short to carry an ID): silence.
    case drop
    /// An immediate error reply (FORMERR, NOTIMP, REFUSED, BADVERS), already encoded.
    case reply([UInt8])
    /// Ask the cache.
    case lookup(DNSRequest)
}

/// Request validation (RFC 1035 4.1, RFC 6891 6/7), independent of sockets so it can be tested and fuzzed alone.
public enum DNSRequestParser {
    public static func parse(_ bytes: UnsafeRawBufferPointer) -> QueryDisposition {
        guard bytes.count >= 12 else { return .drop }
        let id = DNSWirePatch.uint16(at: 0, in: bytes)
        let flags = DNSWirePatch.uint16(at: 2, in: bytes)
        var header = DNSHeader(id: id, flags: flags)
        // Never answer a response: that is how reflection loops start.
        guard !header.isResponse else { return .drop }
        let view: DNSQueryView
        do {
            view = try DNSQueryView(bytes)
        } catch {
            return .reply(errorReply(header: header, question: nil, rcode: .formatError, edns: nil))
        }
        header = view.header
        let question = bytes[view.nameRange]
        guard view.header.opcode == .query else {
            return .reply(errorReply(header: header, question: (question, view), rcode: .notImplemented, edns: nil))
        }
        // RFC 9619: a query carries exactly one question; answer and authority sections are empty.
        guard view.questionCount == 1, view.answerCount == 0, view.authorityCount == 0 else {
            return .reply(errorReply(header: header, question: (question, view), rcode: .formatError, edns: nil))
        }
        // EDNS0: find the OPT record in the additional section.
        var edns: DNSRequest.ClientEDNS? = nil
        var reader = DNSWireReader(bytes, offset: view.questionEnd)
        do throws(DNSWireError) {
            for _ in 0..<view.additionalCount {
                let nameStart = reader.offset
                try reader.skipName()
                let type = DNSType(try reader.readUInt16())
                let rclass = try reader.readUInt16()
                let ttl = try reader.readUInt32()
                let length = Int(try reader.readUInt16())
                guard reader.offset + length <= bytes.count else { throw DNSWireError(.rdataLengthOverrun) }
                if type == .opt {
                    // One OPT at most, owned by the root (RFC 6891 6.1.1).
                    guard edns == nil, reader.offset - nameStart == 11 else { throw DNSWireError(.invalidOPT) }
                    try validateOptions(bytes, from: reader.offset, length: length)
                    let version = UInt8(truncatingIfNeeded: ttl >> 16)
                    edns = DNSRequest.ClientEDNS(udpPayloadSize: rclass, dnssecOK: ttl & 0x8000 != 0)
                    if version != 0 {
                        // RFC 6891 6.1.3: BADVERS, with our OPT at version 0.
                        return .reply(errorReply(header: header, question: (question, view), rcode: .badVersion, edns: edns))
                    }
                }
                reader.offset += length
            }
            guard reader.remaining == 0 else { throw DNSWireError(.trailingBytes) }
        } catch {
            return .reply(errorReply(header: header, question: (question, view), rcode: .formatError, edns: nil))
        }
        guard view.class == .internet else {
            return .reply(errorReply(header: header, question: (question, view), rcode: .refused, edns: edns))
        }
        if view.type == .axfr || view.type == .ixfr || view.type == DNSType(253) || view.type == DNSType(254) {
            // Zone transfers and MAILA/MAILB are not for a cache.
            return .reply(errorReply(header: header, question: (question, view), rcode: .notImplemented, edns: edns))
        }
        let key = CacheKey(
            nameBytes: UnsafeRawBufferPointer(rebasing: question), type: view.type, class: view.class,
            dnssecOK: edns?.dnssecOK ?? false, checkingDisabled: header.checkingDisabled)
        return .lookup(
            DNSRequest(
                id: id, recursionDesired: header.recursionDesired, nameRange: view.nameRange, key: key, edns: edns))
    }

    private static func validateOptions(_ bytes: UnsafeRawBufferPointer, from start: Int, length: Int) throws(DNSWireError) {
        var offset = start
        let end = start + length
        while offset < end {
            guard offset + 4 <= end else { throw DNSWireError(.invalidOPT) }
            let optionLength = Int(DNSWirePatch.uint16(at: offset + 2, in: bytes))
            offset += 4 + optionLength
            guard offset <= end else { throw DNSWireError(.invalidOPT) }
        }
    }

    /// An error reply: the header with QR and RA set and the RCODE, the question echoed when it could be read.
    static func errorReply(
        header: DNSHeader, question: (Slice<UnsafeRawBufferPointer>, DNSQueryView)?, rcode: DNSResponseCode,
        edns: DNSRequest.ClientEDNS?
    ) -> [UInt8] {
        var reply = DNSHeader(id: header.id, flags: header.flags & 0x7910)  // keep opcode, RD, CD
        reply.isResponse = true
        reply.recursionAvailable = true
        reply.rcodeLow = UInt8(rcode.rawValue & 0x0F)
        var writer = DNSWireWriter(capacity: 64)
        writer.writeUInt16(reply.id)
        writer.writeUInt16(reply.flags)
        writer.writeUInt16(question == nil ? 0 : 1)
        writer.writeUInt16(0)
        writer.writeUInt16(0)
        writer.writeUInt16(edns == nil && rcode.rawValue <= 0x0F ? 0 : 1)
        if let (name, view) = question {
            writer.writeBytes(name)
            writer.writeUInt16(view.type.rawValue)
            writer.writeUInt16(view.class.rawValue)
        }
        if edns != nil || rcode.rawValue > 0x0F {
            writeOPT(into: &writer, dnssecOK: edns?.dnssecOK ?? false, extendedRCode: UInt8(rcode.rawValue >> 4))
        }
        return writer.bytes
    }

    /// Our OPT record on an error reply: root owner, our payload size, the extended RCODE, version 0, DO echoed.
    static func writeOPT(into writer: inout DNSWireWriter, dnssecOK: Bool, extendedRCode: UInt8 = 0) {
        writer.writeUInt8(0)
        writer.writeUInt16(DNSType.opt.rawValue)
        writer.writeUInt16(DNSResponder.advertisedUDPSize)
        writer.writeUInt8(extendedRCode)
        writer.writeUInt8(0)
        writer.writeUInt16(dnssecOK ? 0x8000 : 0)
        writer.writeUInt16(0)
    }
}
