/// A resource record TYPE (RFC 1035 3.2.2, IANA registry). Unknown values are kept as they are.
public struct DNSType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }
    public init(_ rawValue: UInt16) { self.rawValue = rawValue }

    public static let a = DNSType(1)
    public static let ns = DNSType(2)
    public static let cname = DNSType(5)
    public static let soa = DNSType(6)
    public static let ptr = DNSType(12)
    public static let hinfo = DNSType(13)
    public static let mx = DNSType(15)
    public static let txt = DNSType(16)
    public static let aaaa = DNSType(28)
    public static let srv = DNSType(33)
    public static let dname = DNSType(39)
    public static let opt = DNSType(41)
    public static let ds = DNSType(43)
    public static let rrsig = DNSType(46)
    public static let nsec = DNSType(47)
    public static let dnskey = DNSType(48)
    public static let https = DNSType(65)
    public static let ixfr = DNSType(251)
    public static let axfr = DNSType(252)
    public static let any = DNSType(255)
    public static let caa = DNSType(257)

    static let names: [UInt16: String] = [
        1: "A", 2: "NS", 5: "CNAME", 6: "SOA", 12: "PTR", 13: "HINFO", 15: "MX", 16: "TXT", 28: "AAAA", 33: "SRV",
        39: "DNAME", 41: "OPT", 43: "DS", 46: "RRSIG", 47: "NSEC", 48: "DNSKEY", 64: "SVCB", 65: "HTTPS",
        251: "IXFR", 252: "AXFR", 255: "ANY", 257: "CAA",
    ]

    /// The mnemonic (`A`, `AAAA`...) or `TYPE<n>` (RFC 3597 5).
    public var description: String { DNSType.names[rawValue] ?? "TYPE\(rawValue)" }

    /// Parses a mnemonic or `TYPE<n>`, case-insensitively.
    public init?(mnemonic: String) {
        let upper = mnemonic.uppercased()
        if let match = DNSType.names.first(where: { $0.value == upper }) {
            self.init(match.key)
        } else if upper.hasPrefix("TYPE"), let value = UInt16(upper.dropFirst(4)) {
            self.init(value)
        } else {
            return nil
        }
    }
}

/// A CLASS (RFC 1035 3.2.4).
public struct DNSClass: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }
    public init(_ rawValue: UInt16) { self.rawValue = rawValue }

    public static let internet = DNSClass(1)
    public static let chaos = DNSClass(3)
    public static let hesiod = DNSClass(4)
    public static let none = DNSClass(254)
    public static let any = DNSClass(255)

    public var description: String {
        switch rawValue {
        case 1: "IN"
        case 3: "CH"
        case 4: "HS"
        case 254: "NONE"
        case 255: "ANY"
        default: "CLASS\(rawValue)"
        }
    }
}

/// OPCODE (RFC 1035 4.1.1, RFC 6895).
public struct DNSOpcode: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue & 0x0F }
    public init(_ rawValue: UInt8) { self.init(rawValue: rawValue) }

    public static let query = DNSOpcode(0)
    public static let inverseQuery = DNSOpcode(1)
    public static let status = DNSOpcode(2)
    public static let notify = DNSOpcode(4)
    public static let update = DNSOpcode(5)

    public var description: String {
        switch rawValue {
        case 0: "QUERY"
        case 1: "IQUERY"
        case 2: "STATUS"
        case 4: "NOTIFY"
        case 5: "UPDATE"
        default: "OPCODE\(rawValue)"
        }
    }
}

/// RCODE, including the 12-bit extended values that EDNS0 makes possible (RFC 6891 6.1.3).
public struct DNSResponseCode: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }
    public init(_ rawValue: UInt16) { self.rawValue = rawValue }

    public static let noError = DNSResponseCode(0)
    public static let formatError = DNSResponseCode(1)
    public static let serverFailure = DNSResponseCode(2)
    public static let nameError = DNSResponseCode(3)
    public static let notImplemented = DNSResponseCode(4)
    public static let refused = DNSResponseCode(5)
    public static let badVersion = DNSResponseCode(16)

    public var description: String {
        switch rawValue {
        case 0: "NOERROR"
        case 1: "FORMERR"
        case 2: "SERVFAIL"
        case 3: "NXDOMAIN"
        case 4: "NOTIMP"
        case 5: "REFUSED"
        case 16: "BADVERS"
        default: "RCODE\(rawValue)"
        }
    }
}
