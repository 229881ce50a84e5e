extension DNSMessage {
    /// Decodes a complete message. Throws `DNSWireError` for anything malformed, including trailing bytes.
    public init(decoding bytes: [UInt8]) throws(DNSWireError) {
        let result: Result<DNSMessage, DNSWireError> = bytes.withUnsafeBytes { buffer in
            do throws(DNSWireError) {
                return .success(try DNSMessage(decoding: buffer))
            } catch {
                return .failure(error)
            }
        }
        self = try result.get()
    }

    /// Decodes a complete message from raw memory.
    public init(decoding buffer: UnsafeRawBufferPointer) throws(DNSWireError) {
        var reader = DNSWireReader(buffer)
        let id = try reader.readUInt16()
        let flags = try reader.readUInt16()
        let qdcount = Int(try reader.readUInt16())
        let ancount = Int(try reader.readUInt16())
        let nscount = Int(try reader.readUInt16())
        let arcount = Int(try reader.readUInt16())

        var questions: [DNSQuestion] = []
        questions.reserveCapacity(min(qdcount, 4))
        for _ in 0..<qdcount {
            guard reader.remaining > 0 else { throw DNSWireError(.countMismatch, at: reader.offset) }
            let name = try reader.readName()
            let type = DNSType(try reader.readUInt16())
            let qclass = DNSClass(try reader.readUInt16())
            questions.append(DNSQuestion(name: name, type: type, class: qclass))
        }
        let answers = try DNSMessage.readSection(&reader, count: ancount)
        let authorities = try DNSMessage.readSection(&reader, count: nscount)
        var additionals = try DNSMessage.readSection(&reader, count: arcount)
        guard reader.remaining == 0 else { throw DNSWireError(.trailingBytes, at: reader.offset) }

        if answers.contains(where: { $0.type == .opt }) || authorities.contains(where: { $0.type == .opt }) {
            throw DNSWireError(.invalidOPT)
        }
        var edns: EDNS? = nil
        if let index = additionals.firstIndex(where: { $0.type == .opt }) {
            let record = additionals.remove(at: index)
            // RFC 6891 6.1.1: one OPT at most, owned by the root.
            guard record.name.isRoot, !additionals.contains(where: { $0.type == .opt }) else {
                throw DNSWireError(.invalidOPT)
            }
            edns = EDNS(record: record)
        }
        self.init(
            header: DNSHeader(id: id, flags: flags), questions: questions, answers: answers,
            authorities: authorities, additionals: additionals, edns: edns)
    }

    static func readSection(_ reader: inout DNSWireReader, count: Int) throws(DNSWireError) -> [DNSResourceRecord] {
        var records: [DNSResourceRecord] = []
        // Never trust a count for an allocation size: a record takes at least 11 octets.
        records.reserveCapacity(min(count, reader.remaining / 11))
        for _ in 0..<count {
            guard reader.remaining > 0 else { throw DNSWireError(.countMismatch, at: reader.offset) }
            records.append(try readRecord(&reader))
        }
        return records
    }

    static func readRecord(_ reader: inout DNSWireReader) throws(DNSWireError) -> DNSResourceRecord {
        let name = try reader.readName()
        let type = DNSType(try reader.readUInt16())
        let rclass = DNSClass(try reader.readUInt16())
        let ttl = try reader.readUInt32()
        let rdlength = Int(try reader.readUInt16())
        let rdataStart = reader.offset
        guard rdataStart + rdlength <= reader.bytes.count else {
            throw DNSWireError(.rdataLengthOverrun, at: rdataStart - 2)
        }
        let rdataEnd = rdataStart + rdlength
        let data = try readRecordData(&reader, type: type, end: rdataEnd)
        guard reader.offset == rdataEnd else { throw DNSWireError(.rdataLengthMismatch, at: rdataStart) }
        return DNSResourceRecord(name: name, type: type, class: rclass, ttl: ttl, data: data)
    }

    /// Decodes RDATA of a known type. A typed field that would cross `end` is a length mismatch, not a read into the
    /// next record.
    static func readRecordData(_ reader: inout DNSWireReader, type: DNSType, end: Int) throws(DNSWireError)
        -> DNSRecordData
    {
        let start = reader.offset
        func check(_ reader: borrowing DNSWireReader) throws(DNSWireError) {
            guard reader.offset <= end else { throw DNSWireError(.rdataLengthMismatch, at: start) }
        }
        switch type {
        case .a:
            guard end - start == 4 else { throw DNSWireError(.rdataLengthMismatch, at: start) }
            let b = reader.bytes
            reader.offset += 4
            return .a(IPv4Bytes(b[start], b[start + 1], b[start + 2], b[start + 3]))
        case .aaaa:
            guard end - start == 16 else { throw DNSWireError(.rdataLengthMismatch, at: start) }
            reader.offset += 16
            return .aaaa(IPv6Bytes(bytes: reader.bytes[start..<end]))
        case .cname, .ptr, .ns:
            guard end > start else { throw DNSWireError(.rdataLengthMismatch, at: start) }
            let name = try reader.readName()
            try check(reader)
            return type == .cname ? .cname(name) : type == .ptr ? .ptr(name) : .ns(name)
        case .soa:
            guard end > start else { throw DNSWireError(.rdataLengthMismatch, at: start) }
            let mname = try reader.readName()
            try check(reader)
            let rname = try reader.readName()
            guard reader.offset + 20 <= end else { throw DNSWireError(.rdataLengthMismatch, at: start) }
            return .soa(
                DNSRecordData.SOA(
                    mname: mname, rname: rname, serial: try reader.readUInt32(), refresh: try reader.readUInt32(),
                    retry: try reader.readUInt32(), expire: try reader.readUInt32(), minimum: try reader.readUInt32()))
        case .mx:
            guard end - start >= 3 else { throw DNSWireError(.rdataLengthMismatch, at: start) }
            let preference = try reader.readUInt16()
            let exchange = try reader.readName()
            try check(reader)
            return .mx(preference: preference, exchange: exchange)
        case .srv:
            guard end - start >= 7 else { throw DNSWireError(.rdataLengthMismatch, at: start) }
            let priority = try reader.readUInt16()
            let weight = try reader.readUInt16()
            let port = try reader.readUInt16()
            let target = try reader.readName()
            try check(reader)
            return .srv(priority: priority, weight: weight, port: port, target: target)
        case .txt:
            var strings: [[UInt8]] = []
            while reader.offset < end {
                let length = Int(try reader.readUInt8())
                guard reader.offset + length <= end else { throw DNSWireError(.rdataLengthMismatch, at: start) }
                strings.append(try reader.readBytes(length))
            }
            return .txt(strings)
        case .opt:
            var options: [EDNSOption] = []
            while reader.offset < end {
                guard reader.offset + 4 <= end else { throw DNSWireError(.invalidOPT, at: reader.offset) }
                let code = try reader.readUInt16()
                let length = Int(try reader.readUInt16())
                guard reader.offset + length <= end else { throw DNSWireError(.invalidOPT, at: reader.offset) }
                options.append(EDNSOption(code: code, data: try reader.readBytes(length)))
            }
            return .opt(options)
        default:
            return .opaque(try reader.readBytes(end - start))
        }
    }
}
