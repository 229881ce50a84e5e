import DNSCache
import DNSWire
import ResolverConfiguration
import Synchronization

/// What a host lookup found.
public enum HostLookup: Sendable, Hashable {
    case found(HostAnswer)
    /// Authoritatively no such host: NXDOMAIN everywhere, or NODATA (`noData`) somewhere in the walk.
    case notFound(noData: Bool)
    /// The upstream failed and nothing (fresh or stale) could answer: not a statement about the name.
    case temporaryFailure
}

extension HostLookup {
    /// One word or so for a debug log line.
    var logSummary: String {
        switch self {
        case .found(let answer): "found \(answer.canonicalName) (\(answer.v4.count) IPv4, \(answer.v6.count) IPv6)"
        case .notFound(let noData): noData ? "no data" : "no such host"
        case .temporaryFailure: "temporary failure (closed: glibc resolves by itself)"
        }
    }
}

public struct HostAnswer: Sendable, Hashable {
    public var canonicalName: String
    /// The names that led here through CNAMEs (glibc reports them as aliases).
    public var aliases: [String]
    public var v4: [[UInt8]]
    public var v6: [[UInt8]]

    public init(canonicalName: String, aliases: [String], v4: [[UInt8]], v6: [[UInt8]]) {
        self.canonicalName = canonicalName
        self.aliases = aliases
        self.v4 = v4
        self.v6 = v6
    }
}

/// A lookup's result with the engine-clock instants it holds until: the earliest expiry of every cache answer the
/// walk consulted (nil when one of them was stale or a failure, or none was consulted), and the earliest instant a
/// hit starts one of their prefetches.
public struct TimedHostLookup: Sendable {
    public struct Timing: Sendable {
        public var deadline: Nanoseconds? = nil
        public var refreshAt: Nanoseconds? = nil
        var unbounded = false

        public init() {}

        mutating func add(_ answers: [CacheAnswer]) {
            for answer in answers {
                guard let expiry = answer.expiry, !unbounded else {
                    unbounded = true
                    deadline = nil
                    continue
                }
                deadline = min(deadline ?? .max, expiry)
                if let at = answer.prefetchAt { refreshAt = min(refreshAt ?? .max, at) }
            }
        }
    }

    public var lookup: HostLookup
    public var timing: Timing

    public init(_ lookup: HostLookup, _ timing: Timing = Timing()) {
        self.lookup = lookup
        self.timing = timing
    }
}

/// Which address records a request needs.
public enum HostFamilies: Sendable {
    case v4, v6, both
    var types: [DNSType] {
        switch self {
        case .v4: [.a]
        case .v6: [.aaaa]
        case .both: [.a, .aaaa]
        }
    }
}

/// Resolves names as glibc's own stub would in this pod: the hosts file first (`hosts: files dns`), then DNS with
/// the resolv.conf search list and `ndots` (resolv/res_query.c `__res_context_search`). The candidates are asked in
/// glibc's order, one after another, and the walk stops where glibc's would: so a cold lookup costs the cluster DNS
/// exactly the queries glibc alone would send (each candidate's A and AAAA together, as glibc sends them), and a
/// warm one none, since every candidate's answer, negatives included, is cached (docs/nscd.md, "Search list").
public final class HostResolver: Sendable {
    let cache: ResponseCache
    public let hosts: HostsFile
    let resolvConfPath: String
    /// The rules, the file's stamp, and a generation that counts reloads (for `plans`).
    private let resolvConf: Mutex<(ResolvConf, FileStamp, Int)>
    /// The search walks of recently asked names: their candidates and each candidate's A and AAAA cache keys.
    /// Building them (parsing the name, joining each search domain, lower-casing into keys) was a third of a cached
    /// nscd request's user time. Dropped whole when resolv.conf changes or when `planCapacity` names are held.
    private let plans = Mutex<(generation: Int, walks: [String: PlannedWalk])>((0, [:]))
    static let planCapacity = 256

    struct PlannedWalk: Sendable {
        var candidates: [DNSName]
        /// Per candidate: the A key, then the AAAA key.
        var keys: [[CacheKey]]
        var asIsFirst: Bool

        func keys(of candidate: Int, _ families: HostFamilies) -> [CacheKey] {
            switch families {
            case .v4: [keys[candidate][0]]
            case .v6: [keys[candidate][1]]
            case .both: keys[candidate]
            }
        }
    }

    public init(cache: ResponseCache, hostsPath: String, resolvConfPath: String) {
        self.cache = cache
        self.hosts = HostsFile(path: hostsPath)
        self.resolvConfPath = resolvConfPath
        var stamp = FileStamp()
        _ = stamp.changed(resolvConfPath, force: true)
        resolvConf = Mutex(((try? ResolvConf(contentsOf: resolvConfPath)) ?? ResolvConf(), stamp, 0))
    }

    /// The search rules in force, re-read when resolv.conf changed.
    public var searchRules: ResolvConf {
        _ = rulesGeneration()
        return resolvConf.withLock { $0.0 }
    }

    /// Re-reads resolv.conf when it changed (its stamp is checked at most once a second); the generation in force.
    private func rulesGeneration() -> Int {
        let (reload, generation) = resolvConf.withLock { ($0.1.changed(resolvConfPath), $0.2) }
        guard reload, let fresh = try? ResolvConf(contentsOf: resolvConfPath) else { return generation }
        return resolvConf.withLock {
            $0.0 = fresh
            $0.2 += 1
            return $0.2
        }
    }

    /// The search walk of `name` under the rules in force, from `plans` when it is there.
    func plannedWalk(_ name: String) -> PlannedWalk {
        let generation = rulesGeneration()
        if let plan = plans.withLock({ $0.generation == generation ? $0.walks[name] : nil }) { return plan }
        let rules = resolvConf.withLock { $0.0 }
        let candidates = rules.candidates(for: name)
        let plan = PlannedWalk(
            candidates: candidates,
            keys: candidates.map { [CacheKey(name: $0, type: .a), CacheKey(name: $0, type: .aaaa)] },
            asIsFirst: rules.triesAsIsFirst(name))
        plans.withLock { memo in
            if memo.generation != generation || memo.walks.count >= Self.planCapacity { memo = (generation, [:]) }
            memo.walks[name] = plan
        }
        return plan
    }

    // MARK: - Forward

    /// The answer from the hosts file and the cache alone, or nil when some needed answer is not cached.
    public func cachedLookup(_ name: String, families: HostFamilies) -> HostLookup? {
        cachedTimedLookup(name, families: families)?.lookup
    }

    /// The full lookup: glibc's walk over the candidates, each asked through the cache.
    public func lookup(_ name: String, families: HostFamilies) async -> HostLookup {
        await timedLookup(name, families: families).lookup
    }

    /// `cachedLookup` with the instants its answer is good until (for the shared map).
    public func cachedTimedLookup(_ name: String, families: HostFamilies) -> TimedHostLookup? {
        if let found = hostsAnswer(name, families) { return hostsTimed(found) }
        let plan = plannedWalk(name)
        var walk = SearchWalk(plan.candidates, asIsFirst: plan.asIsFirst)
        var candidate = 0
        while walk.next != nil {
            var answers: [CacheAnswer] = []
            for key in plan.keys(of: candidate, families) {
                guard let answer = cache.cachedAnswer(for: key, id: 0, recursionDesired: true) else { return nil }
                answers.append(answer)
            }
            walk.consider(answers)
            candidate += 1
        }
        return walk.result
    }

    /// `lookup` with the instants its answer is good until (for the shared map).
    public func timedLookup(_ name: String, families: HostFamilies) async -> TimedHostLookup {
        if let found = hostsAnswer(name, families) { return hostsTimed(found) }
        var walk = searchWalk(name)
        while let candidate = walk.next {
            walk.consider(await answers(for: candidate, families))
        }
        return walk.result
    }

    private func searchWalk(_ name: String) -> SearchWalk {
        let plan = plannedWalk(name)
        return SearchWalk(plan.candidates, asIsFirst: plan.asIsFirst)
    }

    /// One candidate's A and/or AAAA answers, asked at once (glibc sends both queries of a pair together).
    private func answers(for candidate: DNSName, _ families: HostFamilies) async -> [CacheAnswer] {
        let cache = self.cache
        switch families {
        case .v4, .v6:
            return [await cache.answer(for: CacheKey(name: candidate, type: families.types[0]), id: 0, recursionDesired: true)]
        case .both:
            async let a = cache.answer(for: CacheKey(name: candidate, type: .a), id: 0, recursionDesired: true)
            async let aaaa = cache.answer(for: CacheKey(name: candidate, type: .aaaa), id: 0, recursionDesired: true)
            return await [a, aaaa]
        }
    }

    /// How long a hosts-file answer is published in the shared map before it is checked again (the file itself is
    /// re-read at most once a second).
    static let hostsFileRecheck: Nanoseconds = .second

    func hostsTimed(_ lookup: HostLookup) -> TimedHostLookup {
        var timing = TimedHostLookup.Timing()
        timing.deadline = cache.now + Self.hostsFileRecheck
        return TimedHostLookup(lookup, timing)
    }

    /// The hosts file's answer, or nil to go on to DNS. nss_files returns "not found" for a name it lists only with
    /// addresses of the other family, and `hosts: files dns` then asks DNS.
    func hostsAnswer(_ name: String, _ families: HostFamilies) -> HostLookup? {
        guard let entry = hosts.lookup(name: name) else { return nil }
        let v4: [[UInt8]]
        switch families {
        case .v4: v4 = entry.inet
        case .v6: v4 = []
        case .both: v4 = entry.v4
        }
        let v6 = families == .v4 ? [] : entry.v6
        guard !v4.isEmpty || !v6.isEmpty else { return nil }
        let canonical = families == .v4 ? entry.inetCanonicalName ?? entry.canonicalName : entry.canonicalName
        return .found(HostAnswer(canonicalName: canonical, aliases: entry.aliases, v4: v4, v6: v6))
    }

    /// One candidate's outcome from its A and/or AAAA answers. `asked` is the candidate as the client spelled it.
    /// An address in either answer wins; then a missing reply (the walk must stop), then a SERVFAIL (the walk goes
    /// on), then NODATA, then NXDOMAIN.
    ///
    /// For an A and AAAA pair this is glibc's rule (`__res_context_query`): a NOERROR reply with answer records in
    /// either makes the pair a success; otherwise the A reply's RCODE decides unless it is NOERROR, then the AAAA
    /// reply's.
    static func combine(_ answers: [CacheAnswer], asked: DNSName) -> CandidateOutcome {
        enum Code { case noError, nameError, serverFailure }
        var found: HostAnswer? = nil
        var noReply = false
        var hasRecords = false
        var codes: [Code] = []
        for answer in answers {
            if !answer.isTemporaryFailure && answer.wire.count >= 12 {
                // For NXDOMAIN and NODATA the reply class and the header's answer count say all this needs: no
                // decoding (the first search candidate of a cluster name is NXDOMAIN on every call, and AAAA of an
                // IPv4-only Service NODATA).
                if answer.replyClass == .nameError {
                    codes.append(.nameError)
                    continue
                }
                if answer.replyClass == .noData {
                    if answer.wire[6] != 0 || answer.wire[7] != 0 { hasRecords = true }
                    codes.append(.noError)
                    continue
                }
            }
            guard let message = try? DNSMessage(decoding: answer.wire) else {
                noReply = true
                continue
            }
            if answer.isTemporaryFailure {
                if answer.replyClass == .serverError && message.responseCode == .serverFailure {
                    codes.append(.serverFailure)
                } else {
                    noReply = true
                }
                continue
            }
            switch answer.replyClass {
            case .positive:
                let part = extract(message, asked: asked)
                if var merged = found {
                    merged.v4 += part.v4
                    merged.v6 += part.v6
                    found = merged
                } else {
                    found = part
                }
                codes.append(.noError)
            case .noData:
                if !message.answers.isEmpty { hasRecords = true }
                codes.append(.noError)
            case .nameError:
                codes.append(.nameError)
            default:
                noReply = true
            }
        }
        if let found { return .found(found) }
        if noReply { return .noReply }
        if hasRecords { return .aliasWithoutAddress }
        let deciding = codes.first == .noError ? codes.last : codes.first
        switch deciding {
        case .nameError?: return .nameError
        case .serverFailure?: return .serverFailure
        default: return .noData
        }
    }

    /// Addresses, canonical name and CNAME aliases of a positive answer. The cache keeps names lower-cased; where a
    /// name is the one asked, it is given back as the client spelled it, as an upstream would echo it.
    static func extract(_ message: DNSMessage, asked: DNSName) -> HostAnswer {
        func spelled(_ name: DNSName) -> String { text(name == asked ? asked : name) }
        var v4: [[UInt8]] = []
        var v6: [[UInt8]] = []
        var aliases: [String] = []
        var canonical = spelled(asked)
        for record in message.answers {
            switch record.data {
            case .cname(let target):
                aliases.append(spelled(record.name))
                canonical = spelled(target)
            case .a(let address):
                v4.append(address.bytes)
                canonical = spelled(record.name)
            case .aaaa(let address):
                v6.append(address.bytes)
                canonical = spelled(record.name)
            default:
                break
            }
        }
        return HostAnswer(canonicalName: canonical, aliases: aliases, v4: v4, v6: v6)
    }

    /// A name as glibc prints it: presentation form without the trailing dot.
    static func text(_ name: DNSName) -> String {
        let description = name.description
        return description == "." ? description : String(description.dropLast())
    }

    // MARK: - Reverse

    /// The PTR name of an address (RFC 1035 3.5, RFC 3596 2.5).
    static func reverseName(_ address: [UInt8]) -> DNSName? {
        let text: String
        if address.count == 4 {
            text = address.reversed().map(String.init).joined(separator: ".") + ".in-addr.arpa."
        } else if address.count == 16 {
            text = address.reversed().flatMap { [String($0 & 0x0F, radix: 16), String($0 >> 4, radix: 16)] }
                .joined(separator: ".") + ".ip6.arpa."
        } else {
            return nil
        }
        return try? DNSName(text)
    }

    public func cachedReverse(_ address: [UInt8]) -> HostLookup? { cachedTimedReverse(address)?.lookup }

    public func reverse(_ address: [UInt8]) async -> HostLookup { await timedReverse(address).lookup }

    public func cachedTimedReverse(_ address: [UInt8]) -> TimedHostLookup? {
        if let entry = hosts.lookup(address: address) {
            return hostsTimed(Self.reverseFound(entry.canonicalName, entry.aliases, address))
        }
        guard let ptr = Self.reverseName(address) else { return TimedHostLookup(.notFound(noData: false)) }
        guard let answer = cache.cachedAnswer(for: CacheKey(name: ptr, type: .ptr), id: 0, recursionDesired: true)
        else { return nil }
        var timing = TimedHostLookup.Timing()
        timing.add([answer])
        return TimedHostLookup(Self.reverseResult(answer, address), timing)
    }

    public func timedReverse(_ address: [UInt8]) async -> TimedHostLookup {
        if let entry = hosts.lookup(address: address) {
            return hostsTimed(Self.reverseFound(entry.canonicalName, entry.aliases, address))
        }
        guard let ptr = Self.reverseName(address) else { return TimedHostLookup(.notFound(noData: false)) }
        let answer = await cache.answer(for: CacheKey(name: ptr, type: .ptr), id: 0, recursionDesired: true)
        var timing = TimedHostLookup.Timing()
        timing.add([answer])
        return TimedHostLookup(Self.reverseResult(answer, address), timing)
    }

    static func reverseFound(_ name: String, _ aliases: [String], _ address: [UInt8]) -> HostLookup {
        .found(HostAnswer(canonicalName: name, aliases: aliases, v4: address.count == 4 ? [address] : [],
            v6: address.count == 16 ? [address] : []))
    }

    static func reverseResult(_ answer: CacheAnswer, _ address: [UInt8]) -> HostLookup {
        if answer.isTemporaryFailure { return .temporaryFailure }
        guard let message = try? DNSMessage(decoding: answer.wire) else { return .temporaryFailure }
        switch answer.replyClass {
        case .positive:
            let names = message.answers.compactMap { record -> String? in
                if case .ptr(let target) = record.data { return text(target) }
                return nil
            }
            // glibc 2.36's nss_dns takes the first PTR target as the name and reports no aliases.
            guard let first = names.first else { return .notFound(noData: true) }
            return reverseFound(first, [], address)
        case .noData: return .notFound(noData: true)
        case .nameError: return .notFound(noData: false)
        default: return .temporaryFailure
        }
    }
}
