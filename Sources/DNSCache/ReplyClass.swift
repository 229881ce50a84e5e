import DNSWire

/// What an upstream reply means for the cache, decided once per reply (in the manner of CoreDNS's `typify`),
/// so every caching rule keys off one value.
public enum ReplyClass: String, Sendable, Hashable, CaseIterable {
    /// NOERROR with data of the asked type at the end of the CNAME chain.
    case positive
    /// NXDOMAIN (RFC 2308 2.1): the name at the end of the chain does not exist.
    case nameError
    /// NOERROR without data of the asked type (RFC 2308 2.2).
    case noData
    /// NOERROR with only NS records in the authority section and no answer: a non-recursive upstream's
    /// delegation. Passed through, never cached.
    case referral
    /// SERVFAIL, REFUSED, FORMERR, NOTIMP or any other RCODE. Never cached as a negative.
    case serverError
    /// TC=1 reached the cache (the forwarder retries over TCP, so this means TCP failed too). Not cached.
    case truncated

    public var isNegative: Bool { self == .nameError || self == .noData }
}
