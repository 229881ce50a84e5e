import DNSWire

/// What the engine hands a front door: the reply in wire form (the caller's ID and RD already set; no OPT record,
/// which belongs to the door's hop) and where it came from.
public struct CacheAnswer: Sendable {
    public enum Source: String, Sendable, Hashable {
        /// Fresh from the cache.
        case hit
        /// From the upstream just now (this caller or one it was coalesced with).
        case upstream
        /// Past its TTL, served because the upstream failed or was slow (RFC 8767).
        case stale
        /// The upstream failed and nothing stale could be served.
        case upstreamFailure
        /// A recent upstream failure for this key is still in its backoff.
        case failureBackoff
        /// Too many callers waiting on one key, or too many keys in flight.
        case overloaded
    }

    public var wire: [UInt8]
    public var source: Source
    /// The reply class when an upstream reply is behind the answer; nil for failures.
    public var replyClass: ReplyClass?
    /// For a fresh answer: the engine-clock instant its entry stops being fresh, and the instant from which a hit
    /// starts the entry's prefetch (nil when it has none). nil for stale answers and failures. The nscd door's
    /// shared map makes its records unusable at this deadline.
    public var expiry: Nanoseconds?
    public var prefetchAt: Nanoseconds?

    public init(
        wire: [UInt8], source: Source, replyClass: ReplyClass?, expiry: Nanoseconds? = nil,
        prefetchAt: Nanoseconds? = nil
    ) {
        self.wire = wire
        self.source = source
        self.replyClass = replyClass
        self.expiry = expiry
        self.prefetchAt = prefetchAt
    }

    /// True when the answer is a temporary failure, not a statement about the name: the nscd door must not turn
    /// it into "no such host".
    public var isTemporaryFailure: Bool {
        switch source {
        case .upstreamFailure, .failureBackoff, .overloaded: true
        case .hit, .upstream, .stale: replyClass == .serverError || replyClass == .truncated
        }
    }

    /// A SERVFAIL for `key` carrying the caller's ID (also what a front door answers when it refuses work).
    public static func serverFailure(for key: CacheKey, id: UInt16, recursionDesired: Bool, source: Source) -> CacheAnswer {
        var header = DNSHeader(id: id)
        header.isResponse = true
        header.recursionDesired = recursionDesired
        header.recursionAvailable = true
        header.checkingDisabled = key.checkingDisabled
        header.rcodeLow = UInt8(DNSResponseCode.serverFailure.rawValue)
        let message = DNSMessage(header: header, questions: [key.question])
        return CacheAnswer(wire: (try? message.encode()) ?? [], source: source, replyClass: nil)
    }
}
