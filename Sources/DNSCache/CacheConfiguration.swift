/// Settings of the cache engine. Defaults follow the RFCs and are documented in docs/cache.md.
public struct CacheConfiguration: Sendable, Hashable {
    public var ttl: TTLPolicy
    /// Shuffle A/AAAA RRsets in every answer.
    public var shuffle: Bool
    /// Budget for cached data in bytes (wire data plus per-record metadata), all entries together.
    public var maximumBytes: Int
    /// Of that budget, how much negative entries may use, so an NXDOMAIN flood cannot evict positive data.
    public var maximumNegativeBytes: Int
    /// Concurrent callers that may wait on one in-flight upstream query; the rest get SERVFAIL at once.
    public var maximumWaitersPerKey: Int
    /// Keys with an upstream query in flight, all keys together; past it new misses get SERVFAIL.
    public var maximumInFlight: Int
    /// Prefetch on a hit in the last `prefetchFraction` of the TTL; 0 turns prefetch off.
    public var prefetchFraction: Double
    /// Entries with a shorter lifetime than this (seconds) are not prefetched.
    public var prefetchMinimumTTL: UInt32
    /// How long past expiry a positive entry may be served stale (RFC 8767 `max-stale`); 0 turns serve-stale off.
    public var maximumStaleAge: UInt32
    /// How long a client waits for the upstream before stale data is served instead (RFC 8767 "client response
    /// timer"), in nanoseconds.
    public var staleAnswerTimeout: UInt64
    /// After a failed refresh, how long stale data is served without asking the upstream again (RFC 8767
    /// "failure recheck timer"), in seconds.
    public var staleRefreshInterval: UInt32
    /// After an upstream failure with nothing stale to serve, how long the key answers SERVFAIL without asking
    /// again (RFC 2308 7.1 allows up to 5 minutes; kept short). In nanoseconds; 0 turns it off.
    public var failureBackoff: UInt64
    /// Number of lock shards.
    public var shardCount: Int

    public init(
        ttl: TTLPolicy = TTLPolicy(), shuffle: Bool = true, maximumBytes: Int = 16 << 20,
        maximumNegativeBytes: Int = 4 << 20, maximumWaitersPerKey: Int = 4096, maximumInFlight: Int = 10_000,
        prefetchFraction: Double = 0.1, prefetchMinimumTTL: UInt32 = 10, maximumStaleAge: UInt32 = 86400,
        staleAnswerTimeout: UInt64 = 1_800_000_000, staleRefreshInterval: UInt32 = 30,
        failureBackoff: UInt64 = 1_000_000_000, shardCount: Int = 16
    ) {
        self.ttl = ttl
        self.shuffle = shuffle
        self.maximumBytes = maximumBytes
        self.maximumNegativeBytes = maximumNegativeBytes
        self.maximumWaitersPerKey = maximumWaitersPerKey
        self.maximumInFlight = maximumInFlight
        self.prefetchFraction = prefetchFraction
        self.prefetchMinimumTTL = prefetchMinimumTTL
        self.maximumStaleAge = maximumStaleAge
        self.staleAnswerTimeout = staleAnswerTimeout
        self.staleRefreshInterval = staleRefreshInterval
        self.failureBackoff = failureBackoff
        self.shardCount = shardCount
    }
}
