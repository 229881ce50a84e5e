/// The header and first question of a message, read in place without allocating: what a front door needs to
/// route a query and what a cache needs to build its key.
///
/// The first question's name starts at offset 12, where no compression pointer can be valid (nothing precedes
/// it), so the name is always the contiguous bytes `nameRange` of the message.
public struct DNSQueryView: Sendable {
    public var header: DNSHeader
    public var questionCount: UInt16
    public var answerCount: UInt16
    public var authorityCount: UInt16
    public var additionalCount: UInt16
    /// Where the first question's name lies in the message, zero octet included.
    public var nameRange: Range<Int>
    public var type: DNSType
    public var `class`: DNSClass
    /// The offset just past the first question.
    public var questionEnd: Int

    /// Reads the header and the first question. Throws `countMismatch` when QDCOUNT is zero.
    public init(_ bytes: UnsafeRawBufferPointer) throws(DNSWireError) {
        var reader = DNSWireReader(bytes)
        header = DNSHeader(id: try reader.readUInt16(), flags: try reader.readUInt16())
        questionCount = try reader.readUInt16()
        answerCount = try reader.readUInt16()
        authorityCount = try reader.readUInt16()
        additionalCount = try reader.readUInt16()
        guard questionCount > 0 else { throw DNSWireError(.countMismatch, at: 4) }
        try reader.skipName()
        nameRange = 12..<reader.offset
        type = DNSType(try reader.readUInt16())
        `class` = DNSClass(try reader.readUInt16())
        questionEnd = reader.offset
    }

    /// Reads the header and first question of `bytes`.
    public init(_ bytes: [UInt8]) throws(DNSWireError) {
        let result: Result<DNSQueryView, DNSWireError> = bytes.withUnsafeBytes { buffer in
            do throws(DNSWireError) { return .success(try DNSQueryView(buffer)) } catch { return .failure(error) }
        }
        self = try result.get()
    }
}
