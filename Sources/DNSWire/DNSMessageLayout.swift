/// Where each record of an encoded message sits, so a cache can serve the stored wire form and patch it
/// (ID, TTLs, RRset order) instead of decoding and encoding again.
public struct DNSMessageLayout: Sendable, Hashable {
    public enum Section: UInt8, Sendable {
        case answer = 1, authority = 2, additional = 3
    }

    /// One resource record's fixed fields. Offsets are from the start of the message.
    public struct Slot: Sendable, Hashable {
        public var section: Section
        public var type: DNSType
        /// The offset of the record's owner name.
        public var nameOffset: Int32
        /// The offset of the 32-bit TTL.
        public var ttlOffset: Int32
        public var rdataOffset: Int32
        public var rdataLength: UInt16
        /// The offset just past the record.
        public var end: Int32 { rdataOffset + Int32(rdataLength) }
    }

    /// The offset just past the question section.
    public var questionEnd: Int
    public var slots: [Slot]

    /// Scans a message, validating every name and length as a full decode would, without building records.
    public init(scanning bytes: UnsafeRawBufferPointer) throws(DNSWireError) {
        var reader = DNSWireReader(bytes)
        reader.offset = 4
        let qdcount = Int(try reader.readUInt16())
        let counts = [try reader.readUInt16(), try reader.readUInt16(), try reader.readUInt16()]
        for _ in 0..<qdcount {
            guard reader.remaining > 0 else { throw DNSWireError(.countMismatch, at: reader.offset) }
            try reader.skipName()
            _ = try reader.readUInt32()
        }
        questionEnd = reader.offset
        slots = []
        // Never size an allocation from a count in the packet: a record takes at least 11 octets.
        slots.reserveCapacity(min(Int(counts[0]) + Int(counts[1]) + Int(counts[2]), reader.remaining / 11))
        for (index, count) in counts.enumerated() {
            let section = Section(rawValue: UInt8(index + 1))!
            for _ in 0..<count {
                guard reader.remaining > 0 else { throw DNSWireError(.countMismatch, at: reader.offset) }
                let nameOffset = reader.offset
                try reader.skipName()
                let type = DNSType(try reader.readUInt16())
                _ = try reader.readUInt16()
                let ttlOffset = reader.offset
                _ = try reader.readUInt32()
                let length = try reader.readUInt16()
                guard reader.offset + Int(length) <= bytes.count else {
                    throw DNSWireError(.rdataLengthOverrun, at: reader.offset - 2)
                }
                slots.append(
                    Slot(
                        section: section, type: type, nameOffset: Int32(nameOffset), ttlOffset: Int32(ttlOffset),
                        rdataOffset: Int32(reader.offset), rdataLength: length))
                reader.offset += Int(length)
            }
        }
        guard reader.remaining == 0 else { throw DNSWireError(.trailingBytes, at: reader.offset) }
    }

    public init(scanning bytes: [UInt8]) throws(DNSWireError) {
        let result: Result<DNSMessageLayout, DNSWireError> = bytes.withUnsafeBytes { buffer in
            do throws(DNSWireError) { return .success(try DNSMessageLayout(scanning: buffer)) } catch {
                return .failure(error)
            }
        }
        self = try result.get()
    }
}

/// In-place edits of an encoded message: the hot path of a cache hit is a copy plus these.
public enum DNSWirePatch {
    @inline(__always)
    public static func setID(_ id: UInt16, in message: UnsafeMutableRawBufferPointer) {
        message[0] = UInt8(truncatingIfNeeded: id >> 8)
        message[1] = UInt8(truncatingIfNeeded: id)
    }

    @inline(__always)
    public static func setUInt16(_ value: UInt16, at offset: Int, in message: UnsafeMutableRawBufferPointer) {
        message[offset] = UInt8(truncatingIfNeeded: value >> 8)
        message[offset + 1] = UInt8(truncatingIfNeeded: value)
    }

    @inline(__always)
    public static func uint16(at offset: Int, in message: UnsafeRawBufferPointer) -> UInt16 {
        UInt16(message[offset]) << 8 | UInt16(message[offset + 1])
    }

    @inline(__always)
    public static func setTTL(_ ttl: UInt32, at offset: Int, in message: UnsafeMutableRawBufferPointer) {
        message[offset] = UInt8(truncatingIfNeeded: ttl >> 24)
        message[offset + 1] = UInt8(truncatingIfNeeded: ttl >> 16)
        message[offset + 2] = UInt8(truncatingIfNeeded: ttl >> 8)
        message[offset + 3] = UInt8(truncatingIfNeeded: ttl)
    }

    @inline(__always)
    public static func ttl(at offset: Int, in message: UnsafeRawBufferPointer) -> UInt32 {
        UInt32(message[offset]) << 24 | UInt32(message[offset + 1]) << 16 | UInt32(message[offset + 2]) << 8
            | UInt32(message[offset + 3])
    }

    /// Exchanges two equal-length RDATA fields. Reordering an RRset of A or AAAA records this way leaves owner
    /// names (and so every compression pointer) where they were.
    @inline(__always)
    public static func swapBytes(
        _ a: Int, _ b: Int, length: Int, in message: UnsafeMutableRawBufferPointer
    ) {
        guard a != b else { return }
        for i in 0..<length {
            let t = message[a + i]
            message[a + i] = message[b + i]
            message[b + i] = t
        }
    }
}
