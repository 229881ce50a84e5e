/// RDATA, typed for the record types sidecache interprets and opaque for every other type (RFC 3597).
public enum DNSRecordData: Hashable, Sendable {
    /// RFC 1035 3.4.1: four octets, network order.
    case a(IPv4Bytes)
    /// RFC 3596 2.2: sixteen octets, network order.
    case aaaa(IPv6Bytes)
    case cname(DNSName)
    case ptr(DNSName)
    case ns(DNSName)
    case soa(SOA)
    case mx(preference: UInt16, exchange: DNSName)
    /// One or more character-strings of at most 255 octets each (RFC 1035 3.3.14).
    case txt([[UInt8]])
    /// RFC 2782. The target is never compressed on output.
    case srv(priority: UInt16, weight: UInt16, port: UInt16, target: DNSName)
    /// EDNS0 options (RFC 6891 6.1.2), only inside an OPT record.
    case opt([EDNSOption])
    /// Any other type, kept byte for byte.
    case opaque([UInt8])

    public struct SOA: Hashable, Sendable {
        public var mname: DNSName
        public var rname: DNSName
        public var serial: UInt32
        public var refresh: UInt32
        public var retry: UInt32
        public var expire: UInt32
        /// The negative-caching TTL (RFC 2308 4).
        public var minimum: UInt32

        public init(
            mname: DNSName, rname: DNSName, serial: UInt32, refresh: UInt32, retry: UInt32, expire: UInt32,
            minimum: UInt32
        ) {
            self.mname = mname
            self.rname = rname
            self.serial = serial
            self.refresh = refresh
            self.retry = retry
            self.expire = expire
            self.minimum = minimum
        }
    }
}

/// An IPv4 address as its four network-order octets.
public struct IPv4Bytes: Hashable, Sendable, CustomStringConvertible {
    public var b0, b1, b2, b3: UInt8
    public init(_ b0: UInt8, _ b1: UInt8, _ b2: UInt8, _ b3: UInt8) {
        (self.b0, self.b1, self.b2, self.b3) = (b0, b1, b2, b3)
    }
    public var bytes: [UInt8] { [b0, b1, b2, b3] }
    public var description: String { "\(b0).\(b1).\(b2).\(b3)" }

    /// Parses dotted-quad text (four decimal octets, no leading `+`, nothing else).
    public init?(_ text: String) {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var octets: [UInt8] = []
        for part in parts {
            guard !part.isEmpty, part.count <= 3, part.allSatisfy({ $0.isASCII && $0.isNumber }),
                let value = UInt8(part)
            else { return nil }
            octets.append(value)
        }
        self.init(octets[0], octets[1], octets[2], octets[3])
    }
}

/// An IPv6 address as its sixteen network-order octets.
public struct IPv6Bytes: Hashable, Sendable, CustomStringConvertible {
    public var high: UInt64
    public var low: UInt64

    public init(bytes: some Collection<UInt8>) {
        precondition(bytes.count == 16)
        var high: UInt64 = 0
        var low: UInt64 = 0
        for (i, byte) in bytes.enumerated() {
            if i < 8 { high = high << 8 | UInt64(byte) } else { low = low << 8 | UInt64(byte) }
        }
        self.high = high
        self.low = low
    }

    public var bytes: [UInt8] {
        (0..<8).map { UInt8(truncatingIfNeeded: high >> (56 - 8 * $0)) }
            + (0..<8).map { UInt8(truncatingIfNeeded: low >> (56 - 8 * $0)) }
    }

    /// RFC 5952 text: lower case, longest run of two or more zero groups shown as `::`.
    public var description: String {
        let b = bytes
        let groups = (0..<8).map { UInt16(b[2 * $0]) << 8 | UInt16(b[2 * $0 + 1]) }
        var bestStart = -1
        var bestLength = 0
        var i = 0
        while i < 8 {
            if groups[i] == 0 {
                var j = i
                while j < 8 && groups[j] == 0 { j += 1 }
                if j - i > bestLength && j - i >= 2 { (bestStart, bestLength) = (i, j - i) }
                i = j
            } else {
                i += 1
            }
        }
        func hex(_ range: Range<Int>) -> String {
            range.map { String(groups[$0], radix: 16) }.joined(separator: ":")
        }
        if bestStart < 0 { return hex(0..<8) }
        return hex(0..<bestStart) + "::" + hex((bestStart + bestLength)..<8)
    }

    static func splitDoubleColon(_ text: String) -> [String] {
        var parts: [String] = []
        var current = Substring(text)
        while let range = current.firstRange(of: "::") {
            parts.append(String(current[..<range.lowerBound]))
            current = current[range.upperBound...]
        }
        parts.append(String(current))
        return parts
    }

    /// Parses RFC 4291 2.2 text, including `::` and a trailing dotted quad.
    public init?(_ text: String) {
        var groups: [UInt16] = []
        var tail: [UInt16] = []
        let halves = IPv6Bytes.splitDoubleColon(text)
        guard halves.count <= 2 else { return nil }
        func parse(_ part: String, allowQuad: Bool) -> [UInt16]? {
            if part.isEmpty { return [] }
            var out: [UInt16] = []
            let pieces = part.split(separator: ":", omittingEmptySubsequences: false)
            for (index, piece) in pieces.enumerated() {
                if allowQuad && index == pieces.count - 1 && piece.contains(".") {
                    guard let v4 = IPv4Bytes(String(piece)) else { return nil }
                    out.append(UInt16(v4.b0) << 8 | UInt16(v4.b1))
                    out.append(UInt16(v4.b2) << 8 | UInt16(v4.b3))
                } else {
                    guard !piece.isEmpty, piece.count <= 4, let value = UInt16(piece, radix: 16) else { return nil }
                    out.append(value)
                }
            }
            return out
        }
        if halves.count == 2 {
            guard let head = parse(halves[0], allowQuad: false), let rest = parse(halves[1], allowQuad: true),
                head.count + rest.count <= 7
            else { return nil }
            groups = head
            tail = rest
            groups += Array(repeating: 0, count: 8 - head.count - rest.count) + tail
        } else {
            guard let all = parse(text, allowQuad: true), all.count == 8 else { return nil }
            groups = all
        }
        self.init(bytes: groups.flatMap { [UInt8($0 >> 8), UInt8($0 & 0xFF)] })
    }
}

/// An EDNS0 option, kept opaque (RFC 6891 6.1.2).
public struct EDNSOption: Hashable, Sendable {
    public var code: UInt16
    public var data: [UInt8]
    public init(code: UInt16, data: [UInt8]) {
        self.code = code
        self.data = data
    }
}
