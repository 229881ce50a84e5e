import DNSWire

/// What makes two questions the same for the cache: the lower-cased name (RFC 4343), type, class, and the two
/// header/EDNS bits that change what an upstream returns: DO (RFC 3225, signatures included) and CD (RFC 4035 3.2.2,
/// validation skipped).
public struct CacheKey: Hashable, Sendable, CustomStringConvertible {
    /// Lower-cased uncompressed wire form of the name.
    public var name: [UInt8]
    public var type: DNSType
    public var `class`: DNSClass
    public var dnssecOK: Bool
    public var checkingDisabled: Bool

    public init(name: DNSName, type: DNSType, class: DNSClass = .internet, dnssecOK: Bool = false,
        checkingDisabled: Bool = false)
    {
        self.name = name.lowercased().wire
        self.type = type
        self.class = `class`
        self.dnssecOK = dnssecOK
        self.checkingDisabled = checkingDisabled
    }

    /// Builds a key from a name already in wire form inside a received message (no compression pointers),
    /// lower-casing as it copies.
    public init(
        nameBytes: UnsafeRawBufferPointer, type: DNSType, class: DNSClass, dnssecOK: Bool, checkingDisabled: Bool
    ) {
        self.name = [UInt8](unsafeUninitializedCapacity: nameBytes.count) { buffer, count in
            for i in 0..<nameBytes.count {
                let byte = nameBytes[i]
                buffer[i] = byte &- 65 < 26 ? byte | 0x20 : byte
            }
            count = nameBytes.count
        }
        self.type = type
        self.class = `class`
        self.dnssecOK = dnssecOK
        self.checkingDisabled = checkingDisabled
    }

    public var question: DNSQuestion {
        // `name` is always a valid wire name: it was built from one.
        DNSQuestion(name: try! DNSName(wire: name), type: type, class: `class`)
    }

    public var description: String {
        var text = "\(question.name) \(`class`) \(type)"
        if dnssecOK { text += " +do" }
        if checkingDisabled { text += " +cd" }
        return text
    }
}
