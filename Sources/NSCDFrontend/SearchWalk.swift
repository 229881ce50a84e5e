import DNSCache
import DNSWire

/// glibc's walk over the search candidates (`__res_context_search`, resolv/res_query.c) as a value: it hands out
/// the next candidate to ask, takes that candidate's answers, and knows when the walk is over and what it found.
///
/// - a candidate with an address ends the walk with it;
/// - a candidate whose reply has records but no address (a CNAME chain that ends without one) also ends it, as
///   "not found": glibc's query counts any NOERROR reply with answers as success, and nss_dns then finds no address
///   (HOST_NOT_FOUND);
/// - NXDOMAIN and NODATA go on to the next candidate (glibc's HOST_NOT_FOUND and NO_DATA, "keep trying");
/// - a SERVFAIL from the upstream also goes on (glibc's `got_servfail`);
/// - no reply at all (timeout, overload, REFUSED) ends the walk as a temporary failure: glibc's search loop stops
///   there too, and the door then lets glibc resolve the call by itself (docs/nscd.md, "Temporary failures").
///
/// Without an address the answer is glibc's: the error of the name tried as-is first, when it was (names with at
/// least `ndots` dots), else NODATA if any candidate had it, else a temporary failure after a SERVFAIL, else "not
/// found".
struct SearchWalk {
    private let candidates: [DNSName]
    private let asIsFirst: Bool
    private var index = 0
    private var first: CandidateOutcome? = nil
    private var sawNoData = false
    private var sawServerFailure = false
    private var outcome: HostLookup? = nil
    private var timing = TimedHostLookup.Timing()

    /// `asIsFirst`: the first candidate is the name as-is, tried before the search list (glibc's `saved_herrno`).
    init(_ candidates: [DNSName], asIsFirst: Bool = false) {
        self.candidates = candidates
        self.asIsFirst = asIsFirst && candidates.count > 1
    }

    /// The candidate to ask next, or nil when the walk is over.
    var next: DNSName? {
        outcome == nil && index < candidates.count ? candidates[index] : nil
    }

    /// The answers (A and/or AAAA) of the candidate `next` gave.
    mutating func consider(_ answers: [CacheAnswer]) {
        guard let asked = next else { return }
        index += 1
        timing.add(answers)
        let candidate = HostResolver.combine(answers, asked: asked)
        if index == 1 { first = candidate }
        switch candidate {
        case .found(let answer): outcome = .found(answer)
        case .aliasWithoutAddress: outcome = .notFound(noData: false)
        case .noData: sawNoData = true
        case .nameError: break
        case .serverFailure: sawServerFailure = true
        case .noReply: outcome = .temporaryFailure
        }
    }

    /// What the walk came to. A temporary failure carries no timing: it is never published or cached as an answer.
    var result: TimedHostLookup {
        if let outcome { return outcome == .temporaryFailure ? TimedHostLookup(outcome) : TimedHostLookup(outcome, timing) }
        if asIsFirst, let first {
            switch first {
            case .nameError: return TimedHostLookup(.notFound(noData: false), timing)
            case .noData: return TimedHostLookup(.notFound(noData: true), timing)
            default: return TimedHostLookup(.temporaryFailure)
            }
        }
        if sawNoData { return TimedHostLookup(.notFound(noData: true), timing) }
        if sawServerFailure { return TimedHostLookup(.temporaryFailure) }
        return TimedHostLookup(.notFound(noData: false), timing)
    }
}

/// What one candidate's answers say.
enum CandidateOutcome {
    case found(HostAnswer)
    /// Records in the answer section (a CNAME chain) but no address: glibc stops here with HOST_NOT_FOUND.
    case aliasWithoutAddress
    case noData
    case nameError
    /// The upstream answered SERVFAIL: glibc tries the next candidate.
    case serverFailure
    /// No usable reply (timeout, overload, REFUSED, a reply that cannot be read): glibc's walk stops here.
    case noReply
}
