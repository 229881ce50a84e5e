/// A whole DNS message (RFC 1035 4.1). The OPT pseudo-record is lifted out of the additional section into `edns`.
public struct DNSMessage: Hashable, Sendable {
    public var header: DNSHeader
    public var questions: [DNSQuestion]
    public var answers: [DNSResourceRecord]
    public var authorities: [DNSResourceRecord]
    /// The additional section without the OPT record.
    public var additionals: [DNSResourceRecord]
    public var edns: EDNS?

    public init(
        header: DNSHeader = DNSHeader(), questions: [DNSQuestion] = [], answers: [DNSResourceRecord] = [],
        authorities: [DNSResourceRecord] = [], additionals: [DNSResourceRecord] = [], edns: EDNS? = nil
    ) {
        self.header = header
        self.questions = questions
        self.answers = answers
        self.authorities = authorities
        self.additionals = additionals
        self.edns = edns
    }

    /// The full RCODE: the header's four bits extended by the OPT record's eight (RFC 6891 6.1.3).
    public var responseCode: DNSResponseCode {
        get { DNSResponseCode(UInt16(edns?.extendedRCode ?? 0) << 4 | UInt16(header.rcodeLow)) }
        set {
            header.rcodeLow = UInt8(newValue.rawValue & 0x0F)
            if newValue.rawValue > 0x0F {
                if edns == nil { edns = EDNS() }
                edns!.extendedRCode = UInt8(truncatingIfNeeded: newValue.rawValue >> 4)
            } else {
                edns?.extendedRCode = 0
            }
        }
    }

    /// A recursive query for one question.
    public static func query(
        id: UInt16, name: DNSName, type: DNSType, class: DNSClass = .internet, recursionDesired: Bool = true,
        edns: EDNS? = nil
    ) -> DNSMessage {
        var header = DNSHeader(id: id)
        header.recursionDesired = recursionDesired
        return DNSMessage(header: header, questions: [DNSQuestion(name: name, type: type, class: `class`)], edns: edns)
    }
}
