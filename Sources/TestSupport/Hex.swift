extension Array where Element == UInt8 {
    /// Bytes from hex text; spaces and newlines are ignored, so packets can be laid out by field.
    public init(hex: String) {
        let digits = hex.unicodeScalars.filter { !$0.properties.isWhitespace }.map { Character($0) }
        precondition(digits.count % 2 == 0, "odd number of hex digits")
        self = stride(from: 0, to: digits.count, by: 2).map { UInt8(String(digits[$0...$0 + 1]), radix: 16)! }
    }

    /// Lower-case hex without separators.
    public var hexString: String {
        map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
    }
}
