/// Why a DNS message could not be decoded or encoded.
///
/// Decoding untrusted bytes never traps: every malformed input ends in one of these, and tests match on `code`.
public struct DNSWireError: Error, Hashable, Sendable, CustomStringConvertible {
    public enum Code: String, Sendable, Hashable {
        /// The bytes ended in the middle of a field.
        case truncated
        /// A section count promises more entries than the message holds (the bytes end on an entry boundary).
        case countMismatch
        /// A label length octet of 64-191 (RFC 1035 4.1.4 reserves the 01 and 10 prefixes; RFC 6891 5 retired them).
        case labelTooLong
        /// A name longer than 255 octets in wire form (RFC 1035 2.3.4).
        case nameTooLong
        /// A compression pointer that points into the name being read, so following it would never end.
        case pointerLoop
        /// A compression pointer to a later offset; RFC 1035 4.1.4 allows only a prior occurrence.
        case forwardPointer
        /// A compression pointer into the 12-octet header, where no name can be.
        case pointerIntoHeader
        /// RDLENGTH runs past the end of the message.
        case rdataLengthOverrun
        /// Typed RDATA that does not fill its RDLENGTH exactly (RFC 1035 3.3, RFC 3596 2.2).
        case rdataLengthMismatch
        /// Bytes left after the last record the counts announce.
        case trailingBytes
        /// An OPT record that is not a single root-owned record in the additional section (RFC 6891 6.1.1).
        case invalidOPT
        /// A name given as text that is not a valid domain name.
        case invalidName
        /// A message that cannot be encoded in 65535 octets, or a value out of range for its field.
        case messageTooLarge
    }

    public var code: Code
    /// The byte offset at which the problem was found, when it came from decoding.
    public var offset: Int?

    public init(_ code: Code, at offset: Int? = nil) {
        self.code = code
        self.offset = offset
    }

    public var description: String {
        if let offset { return "DNS wire error: \(code.rawValue) at offset \(offset)" }
        return "DNS wire error: \(code.rawValue)"
    }
}
