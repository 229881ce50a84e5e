import DNSWire

/// The contents of a resolv.conf (resolv.conf(5) as glibc reads it, `resolv/res_init.c`), shared by the daemon
/// (nameservers become the upstreams when none is configured) and the nscd door (search list, ndots). `timeout`,
/// `attempts`, `rotate` and `use-vc` are parsed and kept for logging; the forwarder has its own settings for them.
///
/// Parsing follows glibc 2.26 and later (`resolv/res_init.c`, `res_vinit_1`): a keyword counts only at the very
/// start of a line and only when a space or tab follows it (an indented `  search x` is ignored, as glibc ignores
/// it); `#` or `;` starts a comment only in the first column; the last `search` or `domain` line wins and one with
/// nothing after the keyword changes nothing; at most 3 nameservers are used (MAXNS); the search list has no length
/// limit (glibc 2.26 removed the old 6-domain cap); unknown keywords and options are ignored; option values are
/// clamped as glibc clamps them.
public struct ResolvConf: Sendable, Hashable {
    public struct Nameserver: Sendable, Hashable, CustomStringConvertible {
        /// Numeric IPv4 or IPv6 address (a zone index, `%eth0`, is kept as written).
        public var host: String
        public var port: Int
        public init(host: String, port: Int = 53) {
            self.host = host
            self.port = port
        }
        public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
    }

    public var nameservers: [Nameserver] = []
    public var search: [DNSName] = []
    /// Names with at least this many dots are tried as-is before the search list (glibc caps it at 15).
    public var ndots: Int = 1
    /// Seconds per try (glibc caps at 30).
    public var timeout: Int = 5
    /// Tries per nameserver (glibc caps at 5).
    public var attempts: Int = 2
    public var rotate: Bool = false
    public var useVC: Bool = false
    /// Other options, kept for logging (`edns0`, `single-request`, `trust-ad`...).
    public var otherOptions: [String] = []

    public static let maximumNameservers = 3

    public init() {}

    public init(parsing text: String) {
        for line in text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" }) {
            guard let first = line.first, first != "#" && first != ";" && first != " " && first != "\t" else { continue }
            let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" }).map(String.init)
            guard let keyword = words.first, line.count > keyword.count else { continue }
            let separator = line[line.index(line.startIndex, offsetBy: keyword.count)]
            guard separator == " " || separator == "\t" else { continue }
            let arguments = Array(words.dropFirst())
            switch keyword {
            case "nameserver":
                guard let address = arguments.first, nameservers.count < Self.maximumNameservers,
                    Self.isNumericAddress(address)
                else { continue }
                nameservers.append(Nameserver(host: address))
            case "domain":
                if let domain = arguments.first, let name = try? DNSName(domain) {
                    search = [name]
                }
            case "search":
                guard !arguments.isEmpty else { continue }
                search = arguments.compactMap { try? DNSName($0) }
            case "options":
                for option in arguments { apply(option: option) }
            default:
                continue
            }
        }
    }

    private mutating func apply(option: String) {
        func value(_ prefix: String) -> Int? {
            guard option.hasPrefix(prefix) else { return nil }
            return Int(option.dropFirst(prefix.count)).map { max(0, $0) }
        }
        if let n = value("ndots:") {
            ndots = min(n, 15)
        } else if let n = value("timeout:") {
            timeout = max(1, min(n, 30))
        } else if let n = value("attempts:") {
            attempts = max(1, min(n, 5))
        } else if option == "rotate" {
            rotate = true
        } else if option == "use-vc" || option == "usevc" {
            useVC = true
        } else {
            otherOptions.append(option)
        }
    }

    /// glibc accepts only numeric addresses on `nameserver` lines (inet_pton, with an optional `%scope`).
    static func isNumericAddress(_ text: String) -> Bool {
        if IPv4Bytes(text) != nil { return true }
        let bare = text.split(separator: "%", maxSplits: 1).first.map(String.init) ?? text
        return IPv6Bytes(bare) != nil
    }

    /// True when `name` is tried as-is before the search list (at least `ndots` dots, no trailing dot).
    public func triesAsIsFirst(_ name: String) -> Bool {
        !name.hasSuffix(".") && name.filter { $0 == "." }.count >= ndots
    }

    /// The names a stub resolver tries for `name`, in glibc's order (`__res_context_search`, resolv/res_query.c):
    /// a name ending in a dot is tried alone; a name with at least `ndots` dots is tried as-is first, then with each
    /// search domain; otherwise the search domains come first and the name as-is last. The root domain in the
    /// search list stands for the name as-is at that place, which is then not tried again at the end. A candidate
    /// too long to be a name ends the search list there (glibc's NO_RECOVERY), and the name as-is is still tried
    /// last; each candidate appears once.
    public func candidates(for name: String) -> [DNSName] {
        if name.hasSuffix(".") {
            return (try? DNSName(name)).map { [$0] } ?? []
        }
        guard let absolute = try? DNSName(name), !absolute.isRoot else { return [] }
        let dots = name.filter { $0 == "." }.count
        var result: [DNSName] = []
        func add(_ candidate: DNSName) { if !result.contains(candidate) { result.append(candidate) } }
        if dots >= ndots { add(absolute) }
        for domain in search {
            if domain.isRoot {
                add(absolute)
            } else if let candidate = try? absolute.appending(domain) {
                add(candidate)
            } else {
                break
            }
        }
        add(absolute)
        return result
    }
}
