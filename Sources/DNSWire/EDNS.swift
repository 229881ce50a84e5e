/// The EDNS0 pseudo-record's fields (RFC 6891 6.1.3), lifted out of the OPT record so callers never have to
/// decode its CLASS and TTL themselves.
public struct EDNS: Hashable, Sendable {
    /// The requestor's UDP payload size (the OPT CLASS). Values below 512 are treated as 512 (RFC 6891 6.2.3).
    public var udpPayloadSize: UInt16
    /// The upper eight bits of the 12-bit RCODE.
    public var extendedRCode: UInt8
    public var version: UInt8
    /// The 16 flag bits; DO is the top one (RFC 3225).
    public var flags: UInt16
    public var options: [EDNSOption]

    public init(
        udpPayloadSize: UInt16 = 1232, extendedRCode: UInt8 = 0, version: UInt8 = 0, flags: UInt16 = 0,
        options: [EDNSOption] = []
    ) {
        self.udpPayloadSize = udpPayloadSize
        self.extendedRCode = extendedRCode
        self.version = version
        self.flags = flags
        self.options = options
    }

    /// DNSSEC OK (RFC 3225 3).
    public var dnssecOK: Bool {
        get { flags & 0x8000 != 0 }
        set { flags = newValue ? flags | 0x8000 : flags & ~0x8000 }
    }

    /// The payload size a responder may use: at least 512 (RFC 6891 6.2.5).
    public var effectivePayloadSize: Int { max(512, Int(udpPayloadSize)) }

    /// The OPT record carrying these fields.
    public var record: DNSResourceRecord {
        DNSResourceRecord(
            name: .root, type: .opt, class: DNSClass(udpPayloadSize),
            ttl: UInt32(extendedRCode) << 24 | UInt32(version) << 16 | UInt32(flags), data: .opt(options))
    }

    /// Reads the fields back from an OPT record.
    public init(record: DNSResourceRecord) {
        self.udpPayloadSize = record.class.rawValue
        self.extendedRCode = UInt8(truncatingIfNeeded: record.ttl >> 24)
        self.version = UInt8(truncatingIfNeeded: record.ttl >> 16)
        self.flags = UInt16(truncatingIfNeeded: record.ttl)
        if case .opt(let options) = record.data { self.options = options } else { self.options = [] }
    }
}
