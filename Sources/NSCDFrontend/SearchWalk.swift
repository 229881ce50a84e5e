import DNSCache
import DNSWire

/// glibc's walk over the search candidates (`__res_context_search`, resolv/res_query.c) as a value: it hands out
/// the next candidate to ask, takes that candidate's answers, and knows when the walk is over and what it found.
///
/// - a candidate with an address ends the walk with it;
/// - NXDOMAIN and NODATA go on to the next candidate (glibc's HOST_NOT_FOUND and NO_DATA, "keep trying");
/// - a SERVFAIL from the upstream also goes on (glibc's `got_servfail`), but if no later candidate has an address,
///   the walk ends as a temporary failure, never as "no such host";
/// - no reply at all (timeout, overload) ends the walk at once as a temporary failure, as glibc's walk stops on a
///   timeout.
struct SearchWalk {
    private let candidates: [DNSName]
    private var index = 0
    private var sawNoData = false
    private var sawServerFailure = false
    private var outcome: HostLookup? = nil
    private var timing = TimedHostLookup.Timing()

    init(_ candidates: [DNSName]) {
        self.candidates = candidates
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
        switch HostResolver.combine(answers, asked: asked) {
        case .found(let answer): outcome = .found(answer)
        case .noData: sawNoData = true
        case .nameError: break
        case .serverFailure: sawServerFailure = true
        case .noReply: outcome = .temporaryFailure
        }
    }

    /// What the walk came to. A temporary failure carries no timing: it is never published or cached as an answer.
    var result: TimedHostLookup {
        if let outcome { return outcome == .temporaryFailure ? TimedHostLookup(outcome) : TimedHostLookup(outcome, timing) }
        if sawServerFailure { return TimedHostLookup(.temporaryFailure) }
        return TimedHostLookup(.notFound(noData: sawNoData), timing)
    }
}

/// What one candidate's answers say.
enum CandidateOutcome {
    case found(HostAnswer)
    case noData
    case nameError
    /// The upstream answered SERVFAIL: glibc tries the next candidate.
    case serverFailure
    /// No usable reply (timeout, overload, REFUSED, a reply that cannot be read): glibc's walk stops here.
    case noReply
}
