/// Client-side reading of host replies, as glibc does it (nscd_getai.c, nscd_gethst_r.c): for `sidecache query`
/// and the tests.
public enum NSCDHostReply: Sendable, Hashable {
    /// `found = 1`.
    case addresses(canonicalName: String?, aliases: [String], addresses: [NSCDAddress])
    /// `found = 0`, with the header's error field.
    case notFound(error: Int32)
    /// `found = -1`: not served.
    case notServed
    /// No reply or a short one: glibc falls back to its own resolver.
    case closed

    /// Parses a GETAI reply.
    public static func parseAddressInfo(_ bytes: [UInt8]) -> NSCDHostReply? {
        guard bytes.count >= NSCDAddressInfoResponse.headerSize else { return bytes.isEmpty ? .closed : nil }
        let found = bytes.nscdInt32(at: 4)
        guard found == 1 else { return found == -1 ? .notServed : .notFound(error: bytes.nscdInt32(at: 20)) }
        let count = Int(bytes.nscdInt32(at: 8))
        let addressLength = Int(bytes.nscdInt32(at: 12))
        let canonLength = Int(bytes.nscdInt32(at: 16))
        let start = NSCDAddressInfoResponse.headerSize
        guard count >= 0, addressLength >= 0, canonLength >= 0,
            bytes.count >= start + addressLength + count + canonLength
        else { return nil }
        let families = bytes[(start + addressLength)..<(start + addressLength + count)]
        var offset = start
        var addresses: [NSCDAddress] = []
        for family in families {
            let size = family == NSCDAddress.inet ? 4 : 16
            guard offset + size <= start + addressLength else { return nil }
            addresses.append(NSCDAddress(family: family, bytes: Array(bytes[offset..<(offset + size)])))
            offset += size
        }
        var canonical: String? = nil
        if canonLength > 0 {
            let canon = bytes[(start + addressLength + count)..<(start + addressLength + count + canonLength)]
            guard canon.last == 0 else { return nil }
            canonical = String(decoding: canon.dropLast(), as: UTF8.self)
        }
        return .addresses(canonicalName: canonical, aliases: [], addresses: addresses)
    }

    /// Parses a GETHOSTBY* reply; `family` is what the request type implies (glibc ignores the header's).
    public static func parseHostEnt(_ bytes: [UInt8], family: UInt8) -> NSCDHostReply? {
        guard bytes.count >= NSCDHostEntResponse.headerSize else { return bytes.isEmpty ? .closed : nil }
        let found = bytes.nscdInt32(at: 4)
        guard found == 1 else { return found == -1 ? .notServed : .notFound(error: bytes.nscdInt32(at: 28)) }
        let nameLength = Int(bytes.nscdInt32(at: 8))
        let aliasCount = Int(bytes.nscdInt32(at: 12))
        let addressLength = Int(bytes.nscdInt32(at: 20))
        let addressCount = Int(bytes.nscdInt32(at: 24))
        guard nameLength > 0, aliasCount >= 0, addressCount >= 0, addressLength == (family == NSCDAddress.inet ? 4 : 16)
        else { return nil }
        var offset = NSCDHostEntResponse.headerSize
        guard bytes.count >= offset + nameLength + 4 * aliasCount + addressLength * addressCount else { return nil }
        let name = String(decoding: bytes[offset..<(offset + nameLength - 1)], as: UTF8.self)
        offset += nameLength
        let aliasLengths = (0..<aliasCount).map { Int(bytes.nscdInt32(at: offset + 4 * $0)) }
        offset += 4 * aliasCount
        var addresses: [NSCDAddress] = []
        for _ in 0..<addressCount {
            addresses.append(NSCDAddress(family: family, bytes: Array(bytes[offset..<(offset + addressLength)])))
            offset += addressLength
        }
        var aliases: [String] = []
        for length in aliasLengths {
            guard length > 0, offset + length <= bytes.count else { return nil }
            aliases.append(String(decoding: bytes[offset..<(offset + length - 1)], as: UTF8.self))
            offset += length
        }
        return .addresses(canonicalName: name, aliases: aliases, addresses: addresses)
    }
}
