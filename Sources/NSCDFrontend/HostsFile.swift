import DNSWire
import ResolverConfiguration
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// /etc/hosts, consulted before DNS as `hosts: files dns` does (hosts(5), glibc nss_files): one address, then the
/// canonical name and aliases; `#` starts a comment; names compare ignoring case. Re-read when its modification time
/// or size changes (checked at most once a second).
public final class HostsFile: Sendable {
    public struct Entry: Sendable, Hashable {
        public var canonicalName: String
        public var aliases: [String]
        public var v4: [[UInt8]]
        public var v6: [[UInt8]]
        /// What an AF_INET lookup (gethostbyname, GETHOSTBYNAME) gets, in file order: the IPv4 lines' addresses and
        /// the IPv6 lines nss_files turns into IPv4 (`::1` becomes 127.0.0.1, `::ffff:a.b.c.d` becomes a.b.c.d;
        /// nss_files/files-hosts.c, the line parser). So `localhost` with both loopback lines gives 127.0.0.1
        /// twice, as glibc alone does.
        public var inet: [[UInt8]] = []
        /// The canonical name an AF_INET lookup reports: the first name of the first line it can read as IPv4
        /// (nss_files skips the other IPv6 lines entirely).
        public var inetCanonicalName: String? = nil
    }

    struct Table: Sendable {
        var byName: [String: Entry] = [:]
        var byAddress: [[UInt8]: Entry] = [:]
        var stamp = FileStamp()
    }

    public let path: String
    private let table = Mutex(Table())

    public init(path: String) {
        self.path = path
        _ = refresh(force: true)
    }

    /// Parses hosts-file text the way nss_files reads it with `multi on` (Debian's host.conf): a name's entry takes
    /// its canonical name from the first line that names it, and the addresses and aliases of every line that does
    /// (addresses in file order, repeated when lines repeat them, as `gethostbyname3_multi` keeps them).
    /// An address's entry likewise takes the first line's name and every line's other names as aliases.
    static func parse(_ text: String) -> (byName: [String: Entry], byAddress: [[UInt8]: Entry]) {
        var byName: [String: Entry] = [:]
        var byAddress: [[UInt8]: Entry] = [:]
        func addAliases(_ names: [String], to entry: inout Entry) {
            for name in names where name.lowercased() != entry.canonicalName.lowercased()
                && !entry.aliases.contains(where: { $0.lowercased() == name.lowercased() })
            {
                entry.aliases.append(name)
            }
        }
        for rawLine in text.split(separator: "\n") {
            let line = rawLine.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" }).map(String.init)
            guard fields.count >= 2 else { continue }
            var v4: [UInt8]? = nil
            var v6: [UInt8]? = nil
            if let address = IPv4Bytes(fields[0]) {
                v4 = address.bytes
            } else if let address = IPv6Bytes(fields[0].split(separator: "%").first.map(String.init) ?? "") {
                v6 = address.bytes
            } else {
                continue
            }
            let names = Array(fields.dropFirst())
            let address = v4 ?? v6!
            var byAddressEntry = byAddress[address] ?? Entry(canonicalName: names[0], aliases: [], v4: [], v6: [])
            addAliases(names, to: &byAddressEntry)
            byAddress[address] = byAddressEntry
            for name in names {
                let lowered = name.lowercased()
                var entry = byName[lowered] ?? Entry(canonicalName: names[0], aliases: [], v4: [], v6: [])
                addAliases(names, to: &entry)
                if let inet = v4 ?? v6.flatMap(Self.inetForm) {
                    entry.inet.append(inet)
                    if entry.inetCanonicalName == nil { entry.inetCanonicalName = names[0] }
                }
                if let v4 { entry.v4.append(v4) }
                if let v6 { entry.v6.append(v6) }
                byName[lowered] = entry
            }
        }
        return (byName, byAddress)
    }

    /// The IPv4 address nss_files reads an IPv6 hosts line as in an AF_INET lookup, or nil when it skips the line.
    static func inetForm(_ v6: [UInt8]) -> [UInt8]? {
        guard v6.count == 16, v6[0..<10].allSatisfy({ $0 == 0 }) else { return nil }
        if v6[10] == 0xFF && v6[11] == 0xFF { return Array(v6[12...]) }
        if v6[10..<15].allSatisfy({ $0 == 0 }) && v6[15] == 1 { return [127, 0, 0, 1] }
        return nil
    }

    /// Re-reads the file when it changed. Returns true when it was (re)loaded.
    @discardableResult
    public func refresh(force: Bool = false) -> Bool {
        guard table.withLock({ $0.stamp.changed(path, force: force) }) else { return false }
        let parsed = Self.parse((try? TextFile.read(path)) ?? "")
        table.withLock { table in
            table.byName = parsed.byName
            table.byAddress = parsed.byAddress
        }
        return true
    }

    /// The entry for a name (a trailing dot is ignored, as nss_files does).
    public func lookup(name: String) -> Entry? {
        refresh()
        let key = (name.hasSuffix(".") ? String(name.dropLast()) : name).lowercased()
        return table.withLock { $0.byName[key] }
    }

    /// The entry for an address: its first line's name, and the other names of every line with it as aliases.
    public func lookup(address: [UInt8]) -> Entry? {
        refresh()
        return table.withLock { $0.byAddress[address] }
    }
}
