/// A domain name, held in uncompressed wire form (RFC 1035 3.1): length-prefixed labels ending in the zero octet.
///
/// Case is preserved for output, but equality and hashing ignore ASCII case (RFC 4343), so two names that differ
/// only in case are the same key.
public struct DNSName: Sendable {
    /// The uncompressed wire form, including the terminating zero octet. At most 255 octets.
    public private(set) var wire: [UInt8]

    /// The root name, `.`.
    public static let root = DNSName(validatedWire: [0])

    /// Wraps bytes that are known to be a valid uncompressed name.
    @usableFromInline
    init(validatedWire: [UInt8]) {
        self.wire = validatedWire
    }

    /// Validates and wraps an uncompressed wire-form name.
    public init(wire: [UInt8]) throws(DNSWireError) {
        guard wire.count <= 255 else { throw DNSWireError(.nameTooLong) }
        var index = 0
        while true {
            guard index < wire.count else { throw DNSWireError(.truncated, at: index) }
            let length = Int(wire[index])
            if length == 0 {
                guard index + 1 == wire.count else { throw DNSWireError(.trailingBytes, at: index + 1) }
                break
            }
            guard length <= 63 else { throw DNSWireError(.labelTooLong, at: index) }
            index += 1 + length
        }
        self.wire = wire
    }

    /// Parses presentation format: dot-separated labels, `\.` and `\DDD` escapes, an optional trailing dot.
    /// Every name is taken as fully qualified.
    public init(_ text: String) throws(DNSWireError) {
        var wire: [UInt8] = []
        wire.reserveCapacity(text.utf8.count + 2)
        var label: [UInt8] = []
        var iterator = Array(text.utf8)[...]
        if iterator == [UInt8(ascii: ".")] {
            self = .root
            return
        }
        func flush() throws(DNSWireError) {
            guard !label.isEmpty else { throw DNSWireError(.invalidName) }
            guard label.count <= 63 else { throw DNSWireError(.labelTooLong) }
            wire.append(UInt8(label.count))
            wire.append(contentsOf: label)
            label.removeAll(keepingCapacity: true)
        }
        while let byte = iterator.popFirst() {
            switch byte {
            case UInt8(ascii: "."):
                try flush()
            case UInt8(ascii: "\\"):
                guard let next = iterator.popFirst() else { throw DNSWireError(.invalidName) }
                if next >= UInt8(ascii: "0") && next <= UInt8(ascii: "9") {
                    guard let d2 = iterator.popFirst(), let d3 = iterator.popFirst(),
                        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(d2),
                        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(d3)
                    else { throw DNSWireError(.invalidName) }
                    let value = Int(next - 48) * 100 + Int(d2 - 48) * 10 + Int(d3 - 48)
                    guard value <= 255 else { throw DNSWireError(.invalidName) }
                    label.append(UInt8(value))
                } else {
                    label.append(next)
                }
            default:
                label.append(byte)
            }
        }
        if !label.isEmpty { try flush() }
        wire.append(0)
        guard wire.count <= 255 else { throw DNSWireError(.nameTooLong) }
        self.wire = wire
    }

    /// The number of labels, not counting the root.
    public var labelCount: Int {
        var count = 0
        var index = 0
        while wire[index] != 0 {
            count += 1
            index += 1 + Int(wire[index])
        }
        return count
    }

    public var isRoot: Bool { wire.count == 1 }

    /// The labels, leftmost first, without the root.
    public var labels: [ArraySlice<UInt8>] {
        var result: [ArraySlice<UInt8>] = []
        var index = 0
        while wire[index] != 0 {
            let length = Int(wire[index])
            result.append(wire[(index + 1)..<(index + 1 + length)])
            index += 1 + length
        }
        return result
    }

    /// The same name with ASCII letters lower-cased (the canonical form of cache keys, RFC 4343).
    public func lowercased() -> DNSName {
        var copy = wire
        DNSName.lowercaseASCII(&copy)
        return DNSName(validatedWire: copy)
    }

    /// Lower-cases ASCII letters in place. Length octets are at most 63, below `A`, so they are left alone.
    @inlinable
    public static func lowercaseASCII(_ bytes: inout [UInt8]) {
        for i in bytes.indices where bytes[i] &- 65 < 26 {
            bytes[i] |= 0x20
        }
    }

    /// This name followed by `suffix` (used to apply a search list). Throws if the result exceeds 255 octets.
    public func appending(_ suffix: DNSName) throws(DNSWireError) -> DNSName {
        let combined = wire.dropLast() + suffix.wire
        guard combined.count <= 255 else { throw DNSWireError(.nameTooLong) }
        return DNSName(validatedWire: Array(combined))
    }

    /// True when this name equals `other` or lies below it, ignoring case.
    public func isSubdomain(of other: DNSName) -> Bool {
        let mine = labels
        let theirs = other.labels
        guard mine.count >= theirs.count else { return false }
        for (a, b) in zip(mine.reversed(), theirs.reversed()) where !DNSName.equalIgnoringCase(a, b) {
            return false
        }
        return true
    }

    @inlinable
    static func equalIgnoringCase<A: Collection<UInt8>, B: Collection<UInt8>>(_ a: A, _ b: B) -> Bool {
        guard a.count == b.count else { return false }
        for (x, y) in zip(a, b) where x != y {
            if (x | 0x20) != (y | 0x20) || (x | 0x20) &- 97 >= 26 { return false }
        }
        return true
    }
}

extension DNSName: Hashable {
    public static func == (lhs: DNSName, rhs: DNSName) -> Bool {
        DNSName.equalIgnoringCase(lhs.wire, rhs.wire)
    }

    public func hash(into hasher: inout Hasher) {
        for byte in wire {
            hasher.combine(byte &- 65 < 26 ? byte | 0x20 : byte)
        }
    }
}

extension DNSName: CustomStringConvertible {
    /// Presentation format with a trailing dot; `.`, `\` and bytes outside printable ASCII are escaped.
    public var description: String {
        if isRoot { return "." }
        var text = ""
        for label in labels {
            for byte in label {
                switch byte {
                case UInt8(ascii: "."), UInt8(ascii: "\\"), UInt8(ascii: "\""), UInt8(ascii: "("), UInt8(ascii: ")"),
                    UInt8(ascii: ";"), UInt8(ascii: "@"), UInt8(ascii: "$"):
                    text.append("\\")
                    text.append(Character(Unicode.Scalar(byte)))
                case 0x21...0x7E:
                    text.append(Character(Unicode.Scalar(byte)))
                default:
                    let digits = String(byte)
                    text.append("\\" + String(repeating: "0", count: 3 - digits.count) + digits)
                }
            }
            text.append(".")
        }
        return text
    }
}
