/// The fixed 12-octet message header (RFC 1035 4.1.1), less the section counts, which `DNSMessage` derives
/// from its sections.
///
/// ```
///                                 1  1  1  1  1  1
///   0  1  2  3  4  5  6  7  8  9  0  1  2  3  4  5
/// +--+--+--+--+--+--+--+--+--+--+--+--+--+--+--+--+
/// |                      ID                       |
/// +--+--+--+--+--+--+--+--+--+--+--+--+--+--+--+--+
/// |QR|   Opcode  |AA|TC|RD|RA| Z|AD|CD|   RCODE   |
/// +--+--+--+--+--+--+--+--+--+--+--+--+--+--+--+--+
/// |          QDCOUNT / ANCOUNT / NSCOUNT / ARCOUNT |
/// ```
/// AD and CD are from RFC 4035 3.2.
public struct DNSHeader: Hashable, Sendable {
    public var id: UInt16
    /// The second 16-bit word, as on the wire.
    public var flags: UInt16

    public init(id: UInt16 = 0, flags: UInt16 = 0) {
        self.id = id
        self.flags = flags
    }

    @inline(__always)
    private func bit(_ shift: UInt16) -> Bool { flags & (1 << shift) != 0 }
    @inline(__always)
    private mutating func setBit(_ shift: UInt16, _ value: Bool) {
        if value { flags |= 1 << shift } else { flags &= ~(1 << shift) }
    }

    public var isResponse: Bool {
        get { bit(15) }
        set { setBit(15, newValue) }
    }
    public var opcode: DNSOpcode {
        get { DNSOpcode(UInt8((flags >> 11) & 0x0F)) }
        set { flags = (flags & ~(0x0F << 11)) | (UInt16(newValue.rawValue) << 11) }
    }
    public var isAuthoritative: Bool {
        get { bit(10) }
        set { setBit(10, newValue) }
    }
    public var isTruncated: Bool {
        get { bit(9) }
        set { setBit(9, newValue) }
    }
    public var recursionDesired: Bool {
        get { bit(8) }
        set { setBit(8, newValue) }
    }
    public var recursionAvailable: Bool {
        get { bit(7) }
        set { setBit(7, newValue) }
    }
    /// The Z bit; must be zero (RFC 1035), kept so a message round-trips.
    public var zero: Bool {
        get { bit(6) }
        set { setBit(6, newValue) }
    }
    public var authenticData: Bool {
        get { bit(5) }
        set { setBit(5, newValue) }
    }
    public var checkingDisabled: Bool {
        get { bit(4) }
        set { setBit(4, newValue) }
    }
    /// The low four bits of the RCODE; see `DNSMessage.responseCode` for the extended value.
    public var rcodeLow: UInt8 {
        get { UInt8(flags & 0x0F) }
        set { flags = (flags & ~0x0F) | UInt16(newValue & 0x0F) }
    }
}
