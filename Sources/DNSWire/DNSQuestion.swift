/// A question-section entry (RFC 1035 4.1.2).
public struct DNSQuestion: Hashable, Sendable, CustomStringConvertible {
    public var name: DNSName
    public var type: DNSType
    public var `class`: DNSClass

    public init(name: DNSName, type: DNSType, class: DNSClass = .internet) {
        self.name = name
        self.type = type
        self.class = `class`
    }

    public var description: String { "\(name) \(`class`) \(type)" }
}
