/// A resource record (RFC 1035 4.1.3).
public struct DNSResourceRecord: Hashable, Sendable, CustomStringConvertible {
    public var name: DNSName
    public var type: DNSType
    public var `class`: DNSClass
    public var ttl: UInt32
    public var data: DNSRecordData

    public init(name: DNSName, type: DNSType, class: DNSClass = .internet, ttl: UInt32, data: DNSRecordData) {
        self.name = name
        self.type = type
        self.class = `class`
        self.ttl = ttl
        self.data = data
    }

    /// Convenience constructors for the common types.
    public static func a(_ name: DNSName, _ address: IPv4Bytes, ttl: UInt32) -> DNSResourceRecord {
        DNSResourceRecord(name: name, type: .a, ttl: ttl, data: .a(address))
    }
    public static func aaaa(_ name: DNSName, _ address: IPv6Bytes, ttl: UInt32) -> DNSResourceRecord {
        DNSResourceRecord(name: name, type: .aaaa, ttl: ttl, data: .aaaa(address))
    }
    public static func cname(_ name: DNSName, _ target: DNSName, ttl: UInt32) -> DNSResourceRecord {
        DNSResourceRecord(name: name, type: .cname, ttl: ttl, data: .cname(target))
    }
    public static func soa(_ name: DNSName, _ soa: DNSRecordData.SOA, ttl: UInt32) -> DNSResourceRecord {
        DNSResourceRecord(name: name, type: .soa, ttl: ttl, data: .soa(soa))
    }

    public var description: String {
        let rdata: String
        switch data {
        case .a(let v4): rdata = v4.description
        case .aaaa(let v6): rdata = v6.description
        case .cname(let n), .ptr(let n), .ns(let n): rdata = n.description
        case .soa(let s):
            rdata = "\(s.mname) \(s.rname) \(s.serial) \(s.refresh) \(s.retry) \(s.expire) \(s.minimum)"
        case .mx(let pref, let exchange): rdata = "\(pref) \(exchange)"
        case .txt(let strings):
            rdata = strings.map { "\"" + String(decoding: $0, as: UTF8.self) + "\"" }.joined(separator: " ")
        case .srv(let priority, let weight, let port, let target): rdata = "\(priority) \(weight) \(port) \(target)"
        case .opt(let options): rdata = "; options \(options.map(\.code))"
        case .opaque(let bytes):
            // RFC 3597 5 generic form.
            rdata = "\\# \(bytes.count) " + bytes.map(hexByte).joined()
        }
        return "\(name) \(ttl) \(`class`) \(type) \(rdata)"
    }
}

/// Two lower-case hex digits.
func hexByte(_ byte: UInt8) -> String {
    let digits = String(byte, radix: 16)
    return digits.count == 1 ? "0" + digits : digits
}
