/// A bounds-checked cursor over a whole DNS message. Every read checks its length first, so hostile bytes end in
/// a `DNSWireError`, never a trap. Names are decompressed against the whole message (RFC 1035 4.1.4).
public struct DNSWireReader: ~Copyable {
    public let bytes: UnsafeRawBufferPointer
    public var offset: Int

    public init(_ bytes: UnsafeRawBufferPointer, offset: Int = 0) {
        self.bytes = bytes
        self.offset = offset
    }

    public var remaining: Int { bytes.count - offset }

    @inline(__always)
    public mutating func readUInt8() throws(DNSWireError) -> UInt8 {
        guard offset < bytes.count else { throw DNSWireError(.truncated, at: offset) }
        defer { offset += 1 }
        return bytes[offset]
    }

    @inline(__always)
    public mutating func readUInt16() throws(DNSWireError) -> UInt16 {
        guard offset + 2 <= bytes.count else { throw DNSWireError(.truncated, at: offset) }
        defer { offset += 2 }
        return UInt16(bytes[offset]) << 8 | UInt16(bytes[offset + 1])
    }

    @inline(__always)
    public mutating func readUInt32() throws(DNSWireError) -> UInt32 {
        guard offset + 4 <= bytes.count else { throw DNSWireError(.truncated, at: offset) }
        defer { offset += 4 }
        return UInt32(bytes[offset]) << 24 | UInt32(bytes[offset + 1]) << 16 | UInt32(bytes[offset + 2]) << 8
            | UInt32(bytes[offset + 3])
    }

    public mutating func readBytes(_ count: Int) throws(DNSWireError) -> [UInt8] {
        guard count >= 0, offset + count <= bytes.count else { throw DNSWireError(.truncated, at: offset) }
        defer { offset += count }
        return Array(bytes[offset..<(offset + count)])
    }

    /// Reads a possibly compressed name and returns it uncompressed.
    public mutating func readName() throws(DNSWireError) -> DNSName {
        var wire: [UInt8] = []
        wire.reserveCapacity(32)
        offset = try DNSWireReader.walkName(in: bytes, at: offset) { label in wire.append(contentsOf: label) }
        return DNSName(validatedWire: wire)
    }

    /// Steps over a possibly compressed name, validating it, without building it.
    public mutating func skipName() throws(DNSWireError) {
        offset = try DNSWireReader.walkName(in: bytes, at: offset) { _ in }
    }

    /// Follows the name at `start`, handing each length-prefixed label (and finally the zero octet) to `visit`,
    /// and returns the offset just past the name where it started (past the first pointer, if any).
    ///
    /// A pointer must point before the start of the run of labels that contains it: targets only ever move
    /// backwards, so decoding ends. A target inside that run would repeat it forever (`pointerLoop`); one past it
    /// is not a prior occurrence (`forwardPointer`, RFC 1035 4.1.4).
    @inline(__always)
    public static func walkName(
        in bytes: UnsafeRawBufferPointer, at start: Int, _ visit: (UnsafeRawBufferPointer) -> Void
    ) throws(DNSWireError) -> Int {
        var position = start
        var runStart = start
        var end: Int? = nil
        var length = 0
        while true {
            guard position < bytes.count else { throw DNSWireError(.truncated, at: position) }
            let octet = Int(bytes[position])
            switch octet & 0xC0 {
            case 0x00:
                if octet == 0 {
                    length += 1
                    guard length <= 255 else { throw DNSWireError(.nameTooLong, at: start) }
                    visit(UnsafeRawBufferPointer(rebasing: bytes[position..<(position + 1)]))
                    return end ?? position + 1
                }
                guard position + 1 + octet <= bytes.count else { throw DNSWireError(.truncated, at: position) }
                length += 1 + octet
                // Leave room for the root octet.
                guard length < 255 else { throw DNSWireError(.nameTooLong, at: start) }
                visit(UnsafeRawBufferPointer(rebasing: bytes[position..<(position + 1 + octet)]))
                position += 1 + octet
            case 0xC0:
                guard position + 1 < bytes.count else { throw DNSWireError(.truncated, at: position) }
                let target = (octet & 0x3F) << 8 | Int(bytes[position + 1])
                guard target >= 12 else { throw DNSWireError(.pointerIntoHeader, at: position) }
                if target >= runStart {
                    throw DNSWireError(target <= position + 1 ? .pointerLoop : .forwardPointer, at: position)
                }
                if end == nil { end = position + 2 }
                position = target
                runStart = target
            default:
                throw DNSWireError(.labelTooLong, at: position)
            }
        }
    }
}
