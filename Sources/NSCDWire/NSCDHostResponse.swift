/// An address as nscd carries it: the family (AF_INET 2, AF_INET6 10) and network-order octets.
public struct NSCDAddress: Sendable, Hashable {
    public static let inet: UInt8 = 2
    public static let inet6: UInt8 = 10
    public var family: UInt8
    public var bytes: [UInt8]
    public init(family: UInt8, bytes: [UInt8]) {
        self.family = family
        self.bytes = bytes
    }
}

/// h_errno values (resolv/netdb.h).
public enum NSCDHostError: Int32, Sendable {
    case netdbInternal = -1
    case success = 0
    case hostNotFound = 1
    case tryAgain = 2
    case noRecovery = 3
    case noData = 4
}

/// Reply to GETAI (nscd/nscd-client.h `ai_response_header`, 24 octets, then addresses, families, canonical name).
public enum NSCDAddressInfoResponse {
    public static let headerSize = 24

    /// A positive reply: every address in order, one family octet each, the canonical name with its NUL.
    public static func found(addresses: [NSCDAddress], canonicalName: String?) -> [UInt8] {
        let addressLength = addresses.reduce(0) { $0 + $1.bytes.count }
        let canon: [UInt8] = canonicalName.map { Array($0.utf8) + [0] } ?? []
        var out: [UInt8] = []
        out.reserveCapacity(headerSize + addressLength + addresses.count + canon.count)
        appendInt32(&out, NSCDProtocol.version)
        appendInt32(&out, 1)  // found
        appendInt32(&out, Int32(addresses.count))  // naddrs
        appendInt32(&out, Int32(addressLength))  // addrslen
        appendInt32(&out, Int32(canon.count))  // canonlen
        appendInt32(&out, 0)  // error
        for address in addresses { out += address.bytes }
        for address in addresses { out.append(address.family) }
        out += canon
        return out
    }

    /// An authoritative "no such host" (glibc turns any GETAI found=0 into EAI_NONAME).
    public static func notFound(error: NSCDHostError) -> [UInt8] {
        header(found: 0, error: error.rawValue)
    }

    /// `found = -1`: not served here; the client resolves by itself.
    public static let notServed: [UInt8] = header(found: -1, error: -1)

    static func header(found: Int32, error: Int32) -> [UInt8] {
        var out: [UInt8] = []
        appendInt32(&out, NSCDProtocol.version)
        appendInt32(&out, found)
        appendInt32(&out, 0)
        appendInt32(&out, 0)
        appendInt32(&out, 0)
        appendInt32(&out, error)
        return out
    }
}

/// Reply to GETHOSTBYNAME, GETHOSTBYNAMEv6, GETHOSTBYADDR, GETHOSTBYADDRv6 (`hst_response_header`, 32 octets, then
/// the name, the alias lengths, the addresses, the aliases).
public enum NSCDHostEntResponse {
    public static let headerSize = 32

    /// A positive reply. `family`/`addressLength` must match the request type (AF_INET6/16 for the v6 types).
    public static func found(
        name: String, aliases: [String], family: Int32, addressLength: Int32, addresses: [[UInt8]]
    ) -> [UInt8] {
        let nameBytes = Array(name.utf8) + [0]
        let aliasBytes = aliases.map { Array($0.utf8) + [0] }
        var out: [UInt8] = []
        appendInt32(&out, NSCDProtocol.version)
        appendInt32(&out, 1)  // found
        appendInt32(&out, Int32(nameBytes.count))  // h_name_len
        appendInt32(&out, Int32(aliasBytes.count))  // h_aliases_cnt
        appendInt32(&out, family)  // h_addrtype
        appendInt32(&out, addressLength)  // h_length
        appendInt32(&out, Int32(addresses.count))  // h_addr_list_cnt
        appendInt32(&out, NSCDHostError.success.rawValue)  // error
        out += nameBytes
        for alias in aliasBytes { appendInt32(&out, Int32(alias.count)) }
        for address in addresses { out += address }
        for alias in aliasBytes { out += alias }
        return out
    }

    /// An authoritative negative: `{2, 0, 0, 0, -1, -1, 0, error}` as real nscd sends it.
    public static func notFound(error: NSCDHostError) -> [UInt8] {
        header(found: 0, error: error.rawValue)
    }

    /// `found = -1`: not served here.
    public static let notServed: [UInt8] = header(found: -1, error: NSCDHostError.netdbInternal.rawValue)

    static func header(found: Int32, error: Int32) -> [UInt8] {
        var out: [UInt8] = []
        appendInt32(&out, NSCDProtocol.version)
        appendInt32(&out, found)
        appendInt32(&out, 0)
        appendInt32(&out, 0)
        appendInt32(&out, -1)
        appendInt32(&out, -1)
        appendInt32(&out, 0)
        appendInt32(&out, error)
        return out
    }
}

/// `found = -1` replies for the databases sidecache does not serve, with each database's header size, byte for byte
/// as nscd sends them for a disabled database (nscd-protocol.md 4.1): the client then uses its own files.
public enum NSCDNotServedResponse {
    public static func reply(for type: NSCDRequestType) -> [UInt8]? {
        var out: [UInt8] = []
        appendInt32(&out, NSCDProtocol.version)
        appendInt32(&out, -1)
        switch type.database {
        case .passwd:
            // pw_response_header, 36 octets: name, passwd lengths 0; uid, gid -1; gecos, dir, shell lengths 0.
            for value: Int32 in [0, 0, -1, -1, 0, 0, 0] { appendInt32(&out, value) }
        case .group:
            // gr_response_header, 24 octets (INITGROUPS clients read the first 12): name, passwd 0, gid -1, count 0.
            for value: Int32 in [0, 0, -1, 0] { appendInt32(&out, value) }
        case .services:
            // serv_response_header, 24 octets: name, proto, alias count 0; port -1.
            for value: Int32 in [0, 0, 0, -1] { appendInt32(&out, value) }
        case .netgroup:
            // netgroup_response_header, 16 octets (INNETGR clients read the first 12).
            for value: Int32 in [0, 0] { appendInt32(&out, value) }
        case .hosts:
            return type == .getAddressInfo ? NSCDAddressInfoResponse.notServed : NSCDHostEntResponse.notServed
        case .none:
            return nil
        }
        return out
    }
}
