/// Builds a message, compressing names against those already written (RFC 1035 4.1.4).
///
/// Compression targets are remembered by their lower-cased suffix, so `Example.COM` may point at `example.com`;
/// pointers carry only offsets below 0x4000, which is all a pointer can address.
public struct DNSWireWriter: Sendable {
    public private(set) var bytes: [UInt8]
    private var suffixOffsets: [[UInt8]: UInt16] = [:]

    public init(capacity: Int = 512) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    public var count: Int { bytes.count }

    @inline(__always)
    public mutating func writeUInt8(_ value: UInt8) { bytes.append(value) }

    @inline(__always)
    public mutating func writeUInt16(_ value: UInt16) {
        bytes.append(UInt8(truncatingIfNeeded: value >> 8))
        bytes.append(UInt8(truncatingIfNeeded: value))
    }

    @inline(__always)
    public mutating func writeUInt32(_ value: UInt32) {
        bytes.append(UInt8(truncatingIfNeeded: value >> 24))
        bytes.append(UInt8(truncatingIfNeeded: value >> 16))
        bytes.append(UInt8(truncatingIfNeeded: value >> 8))
        bytes.append(UInt8(truncatingIfNeeded: value))
    }

    public mutating func writeBytes(_ value: some Collection<UInt8>) { bytes.append(contentsOf: value) }

    /// Overwrites a 16-bit field written earlier (RDLENGTH, counts).
    public mutating func patchUInt16(_ value: UInt16, at offset: Int) {
        bytes[offset] = UInt8(truncatingIfNeeded: value >> 8)
        bytes[offset + 1] = UInt8(truncatingIfNeeded: value)
    }

    /// Writes a name, replacing its longest already-written suffix with a pointer when `compress` is true.
    /// Every suffix written in full is remembered as a target either way.
    public mutating func writeName(_ name: DNSName, compress: Bool = true) {
        let wire = name.wire
        var lowered = wire
        DNSName.lowercaseASCII(&lowered)
        var index = 0
        while wire[index] != 0 {
            let suffix = Array(lowered[index...])
            if compress, let target = suffixOffsets[suffix] {
                writeUInt16(0xC000 | target)
                return
            }
            if bytes.count < 0x4000 {
                suffixOffsets[suffix] = UInt16(bytes.count)
            }
            let length = Int(wire[index])
            bytes.append(contentsOf: wire[index...(index + length)])
            index += 1 + length
        }
        bytes.append(0)
    }
}

extension DNSMessage {
    /// Encodes the message. Names in the question, owner names and the RDATA of types defined in RFC 1035 are
    /// compressed; SRV targets and unknown types are not (RFC 2782, RFC 3597 4).
    public func encode() throws(DNSWireError) -> [UInt8] {
        var writer = DNSWireWriter(capacity: 512)
        try encode(into: &writer)
        return writer.bytes
    }

    public func encode(into writer: inout DNSWireWriter) throws(DNSWireError) {
        let additionalCount = additionals.count + (edns == nil ? 0 : 1)
        guard questions.count <= 0xFFFF, answers.count <= 0xFFFF, authorities.count <= 0xFFFF,
            additionalCount <= 0xFFFF
        else { throw DNSWireError(.messageTooLarge) }
        writer.writeUInt16(header.id)
        writer.writeUInt16(header.flags)
        writer.writeUInt16(UInt16(questions.count))
        writer.writeUInt16(UInt16(answers.count))
        writer.writeUInt16(UInt16(authorities.count))
        writer.writeUInt16(UInt16(additionalCount))
        for question in questions {
            writer.writeName(question.name)
            writer.writeUInt16(question.type.rawValue)
            writer.writeUInt16(question.class.rawValue)
        }
        for record in answers { try record.encode(into: &writer) }
        for record in authorities { try record.encode(into: &writer) }
        for record in additionals { try record.encode(into: &writer) }
        if let edns { try edns.record.encode(into: &writer) }
        guard writer.count <= 0xFFFF else { throw DNSWireError(.messageTooLarge) }
    }
}

extension DNSResourceRecord {
    public func encode(into writer: inout DNSWireWriter) throws(DNSWireError) {
        writer.writeName(name)
        writer.writeUInt16(type.rawValue)
        writer.writeUInt16(self.class.rawValue)
        writer.writeUInt32(ttl)
        let lengthOffset = writer.count
        writer.writeUInt16(0)
        let start = writer.count
        switch data {
        case .a(let v4):
            writer.writeUInt8(v4.b0)
            writer.writeUInt8(v4.b1)
            writer.writeUInt8(v4.b2)
            writer.writeUInt8(v4.b3)
        case .aaaa(let v6):
            writer.writeBytes(v6.bytes)
        case .cname(let target), .ptr(let target), .ns(let target):
            writer.writeName(target)
        case .soa(let soa):
            writer.writeName(soa.mname)
            writer.writeName(soa.rname)
            writer.writeUInt32(soa.serial)
            writer.writeUInt32(soa.refresh)
            writer.writeUInt32(soa.retry)
            writer.writeUInt32(soa.expire)
            writer.writeUInt32(soa.minimum)
        case .mx(let preference, let exchange):
            writer.writeUInt16(preference)
            writer.writeName(exchange)
        case .txt(let strings):
            for string in strings {
                guard string.count <= 255 else { throw DNSWireError(.messageTooLarge) }
                writer.writeUInt8(UInt8(string.count))
                writer.writeBytes(string)
            }
        case .srv(let priority, let weight, let port, let target):
            writer.writeUInt16(priority)
            writer.writeUInt16(weight)
            writer.writeUInt16(port)
            writer.writeName(target, compress: false)
        case .opt(let options):
            for option in options {
                guard option.data.count <= 0xFFFF else { throw DNSWireError(.messageTooLarge) }
                writer.writeUInt16(option.code)
                writer.writeUInt16(UInt16(option.data.count))
                writer.writeBytes(option.data)
            }
        case .opaque(let bytes):
            writer.writeBytes(bytes)
        }
        let length = writer.count - start
        guard length <= 0xFFFF else { throw DNSWireError(.messageTooLarge) }
        writer.patchUInt16(UInt16(length), at: lengthOffset)
    }
}
