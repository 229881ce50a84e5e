/// glibc nscd protocol version 2 (nscd/nscd-client.h `NSCD_VERSION`). Integers are host byte order; sidecache
/// targets little-endian x86_64 and aarch64, as glibc's clients there.
public enum NSCDProtocol {
    public static let version: Int32 = 2
    /// The longest key a client sends (`MAXKEYLEN`).
    public static let maximumKeyLength = 1024
    public static let requestHeaderSize = 12
}

/// `request_type` (nscd/nscd-client.h), unchanged from glibc 2.36 to 2.42.
public enum NSCDRequestType: Int32, Sendable, CaseIterable, CustomStringConvertible {
    case getPasswordByName = 0, getPasswordByUID, getGroupByName, getGroupByGID
    case getHostByName = 4, getHostByNameV6, getHostByAddress, getHostByAddressV6
    case shutdown = 8, getStatistics, invalidate
    case getPasswordMapping = 11, getGroupMapping, getHostsMapping
    case getAddressInfo = 14
    case initGroups = 15
    case getServiceByName = 16, getServiceByPort, getServicesMapping
    case getNetgroup = 19, inNetgroup, getNetgroupMapping

    public var description: String {
        switch self {
        case .getPasswordByName: "GETPWBYNAME"
        case .getPasswordByUID: "GETPWBYUID"
        case .getGroupByName: "GETGRBYNAME"
        case .getGroupByGID: "GETGRBYGID"
        case .getHostByName: "GETHOSTBYNAME"
        case .getHostByNameV6: "GETHOSTBYNAMEv6"
        case .getHostByAddress: "GETHOSTBYADDR"
        case .getHostByAddressV6: "GETHOSTBYADDRv6"
        case .shutdown: "SHUTDOWN"
        case .getStatistics: "GETSTAT"
        case .invalidate: "INVALIDATE"
        case .getPasswordMapping: "GETFDPW"
        case .getGroupMapping: "GETFDGR"
        case .getHostsMapping: "GETFDHST"
        case .getAddressInfo: "GETAI"
        case .initGroups: "INITGROUPS"
        case .getServiceByName: "GETSERVBYNAME"
        case .getServiceByPort: "GETSERVBYPORT"
        case .getServicesMapping: "GETFDSERV"
        case .getNetgroup: "GETNETGRENT"
        case .inNetgroup: "INNETGR"
        case .getNetgroupMapping: "GETFDNETGR"
        }
    }

    /// The database a request belongs to; its reply header size when the database is not served.
    public var database: NSCDDatabase {
        switch self {
        case .getPasswordByName, .getPasswordByUID, .getPasswordMapping: .passwd
        case .getGroupByName, .getGroupByGID, .getGroupMapping, .initGroups: .group
        case .getHostByName, .getHostByNameV6, .getHostByAddress, .getHostByAddressV6, .getHostsMapping,
            .getAddressInfo:
            .hosts
        case .getServiceByName, .getServiceByPort, .getServicesMapping: .services
        case .getNetgroup, .inNetgroup, .getNetgroupMapping: .netgroup
        case .shutdown, .getStatistics, .invalidate: .none
        }
    }

    public var isMappingRequest: Bool {
        switch self {
        case .getPasswordMapping, .getGroupMapping, .getHostsMapping, .getServicesMapping, .getNetgroupMapping: true
        default: false
        }
    }
}

public enum NSCDDatabase: String, Sendable {
    case passwd, group, hosts, services, netgroup, none
}

/// Why a request was refused. The door closes that one connection.
public struct NSCDWireError: Error, Hashable, Sendable, CustomStringConvertible {
    public enum Code: String, Sendable {
        /// Fewer than 12 header octets, or fewer key octets than announced.
        case truncated
        /// A version other than 2 (real nscd drops these too).
        case badVersion
        /// A type outside 0..<22.
        case unknownType
        /// A key length below 0 or above 1024.
        case badKeyLength
        /// A string key without its terminating NUL, or with a NUL inside.
        case badKey
    }
    public var code: Code
    public init(_ code: Code) { self.code = code }
    public var description: String { "nscd request: \(code.rawValue)" }
}

/// A request: the 12-octet header (version, type, key length) and the key.
public struct NSCDRequest: Sendable, Hashable {
    public var type: NSCDRequestType
    public var key: [UInt8]

    public init(type: NSCDRequestType, key: [UInt8]) {
        self.type = type
        self.key = key
    }

    /// Parses the 12-octet header; returns the type and the key length still to read.
    public static func parseHeader(_ bytes: UnsafeRawBufferPointer) throws(NSCDWireError) -> (NSCDRequestType, Int) {
        guard bytes.count >= NSCDProtocol.requestHeaderSize else { throw NSCDWireError(.truncated) }
        let version = readInt32(bytes, 0)
        guard version == NSCDProtocol.version else { throw NSCDWireError(.badVersion) }
        guard let type = NSCDRequestType(rawValue: readInt32(bytes, 4)) else { throw NSCDWireError(.unknownType) }
        let keyLength = Int(readInt32(bytes, 8))
        guard keyLength >= 0, keyLength <= NSCDProtocol.maximumKeyLength else { throw NSCDWireError(.badKeyLength) }
        return (type, keyLength)
    }

    /// Parses a whole request (header and key) and checks the key's form for its type.
    public init(parsing bytes: UnsafeRawBufferPointer) throws(NSCDWireError) {
        let (type, keyLength) = try Self.parseHeader(bytes)
        guard bytes.count >= NSCDProtocol.requestHeaderSize + keyLength else { throw NSCDWireError(.truncated) }
        let key = Array(bytes[NSCDProtocol.requestHeaderSize..<(NSCDProtocol.requestHeaderSize + keyLength)])
        switch type {
        case .getHostByAddress:
            guard key.count == 4 else { throw NSCDWireError(.badKey) }
        case .getHostByAddressV6:
            guard key.count == 16 else { throw NSCDWireError(.badKey) }
        case .getStatistics, .shutdown:
            break
        default:
            // String keys end in their NUL and hold no other (nscd-client.h: key_len includes the NUL).
            guard let last = key.last, last == 0, !key.dropLast().contains(0) || type == .inNetgroup else {
                throw NSCDWireError(.badKey)
            }
        }
        self.init(type: type, key: key)
    }

    /// The key as text, without its NUL (string keys only).
    public var keyString: String {
        String(decoding: key.last == 0 ? key.dropLast() : key[...], as: UTF8.self)
    }

    /// The request as a client sends it (used by `sidecache query` and tests).
    public func encode() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(12 + key.count)
        appendInt32(&out, NSCDProtocol.version)
        appendInt32(&out, type.rawValue)
        appendInt32(&out, Int32(key.count))
        out += key
        return out
    }
}

@inline(__always)
func readInt32(_ bytes: UnsafeRawBufferPointer, _ offset: Int) -> Int32 {
    Int32(bitPattern: UInt32(bytes[offset]) | UInt32(bytes[offset + 1]) << 8 | UInt32(bytes[offset + 2]) << 16
        | UInt32(bytes[offset + 3]) << 24)
}

/// Appends a 32-bit integer in the clients' byte order (little-endian), written octet by octet.
@inline(__always)
func appendInt32(_ out: inout [UInt8], _ value: Int32) {
    let bits = UInt32(bitPattern: value)
    out.append(UInt8(truncatingIfNeeded: bits))
    out.append(UInt8(truncatingIfNeeded: bits >> 8))
    out.append(UInt8(truncatingIfNeeded: bits >> 16))
    out.append(UInt8(truncatingIfNeeded: bits >> 24))
}

extension [UInt8] {
    /// Reads a little-endian 32-bit field of a reply.
    public func nscdInt32(at offset: Int) -> Int32 {
        withUnsafeBytes { readInt32($0, offset) }
    }
}
