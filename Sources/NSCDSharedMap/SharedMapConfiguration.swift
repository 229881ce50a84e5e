/// Which answers the map may hold (docs/nscd.md, "Which names the map holds").
public enum SharedMapPublishing: String, Sendable, CaseIterable {
    /// Answers with at most one address per family, and negatives. A name with two or more addresses is left to
    /// the socket, whose every answer is shuffled: a burst of calls spreads over the addresses call by call. The
    /// default: a ClusterIP Service (one address) costs no system call; load balancing stays per call.
    case singleAddress = "single-address"
    /// Every answer. A name with several addresses is republished in the next order every rotation period, so
    /// calls within one period all get the same first address.
    case all
}

/// Settings of the shared-memory hosts map. Defaults are documented in docs/configuration.md and docs/nscd.md.
public struct SharedMapConfiguration: Sendable {
    /// The file's stable path, in a directory private to sidecache (never the emptyDir shared with the application:
    /// clients receive a descriptor, never a path). A restarted daemon takes over from the file it finds here.
    public var path: String
    /// Octets of the data area (records, keys, hash entries); the file is this plus 968 octets of header and buckets.
    public var dataSize: Int
    /// Hash buckets (nscd's default).
    public var module: Int
    /// Which answers are published.
    public var publishing: SharedMapPublishing
    /// How often names with two or more addresses are republished in the next order (with `publishing` `.all`);
    /// 0 turns rotation off.
    public var rotationPeriod: UInt64
    /// A generation swap starts once this fraction of the data area is garbage (superseded or expired records).
    public var garbageFraction: Double
    /// New names are not published while live records take more than this fraction of the data area.
    public var liveFraction: Double
    /// A record is kept fresh (the engine's prefetch, republish) only while the socket saw a request for it this
    /// recently; after that it lapses at its deadline and the next socket request publishes it again.
    public var refreshWindow: UInt64
    /// How often the header's `timestamp` is refreshed (clients stop trusting it 300 s after the last refresh).
    public var timestampInterval: UInt64
    /// How long a retired generation is kept before its second `data_size` raise and unmapping.
    public var retireGrace: UInt64

    public init(
        path: String = "/run/sidecache/hosts.map", dataSize: Int = 8 << 20, module: Int = SharedMapLayout.defaultModule,
        publishing: SharedMapPublishing = .singleAddress, rotationPeriod: UInt64 = 100_000_000, garbageFraction: Double = 0.5, liveFraction: Double = 0.45,
        refreshWindow: UInt64 = 120_000_000_000, timestampInterval: UInt64 = 2_000_000_000,
        retireGrace: UInt64 = 6_000_000_000
    ) {
        self.path = path
        self.dataSize = dataSize
        self.module = module
        self.publishing = publishing
        self.rotationPeriod = rotationPeriod
        self.garbageFraction = garbageFraction
        self.liveFraction = liveFraction
        self.refreshWindow = refreshWindow
        self.timestampInterval = timestampInterval
        self.retireGrace = retireGrace
    }
}

/// A key in the map: the request type and the key octets exactly as the client sends them (with the NUL for names).
public struct SharedMapKey: Hashable, Sendable {
    public var type: UInt8
    public var key: [UInt8]
    public init(type: UInt8, key: [UInt8]) {
        self.type = type
        self.key = key
    }
}

/// What to publish for a key, and until when it is true.
public struct SharedMapRecord: Sendable {
    /// The engine-clock instant (nanoseconds) at which the answer stops being fresh; the record is made unusable
    /// then unless fresh data replaced it.
    public var deadline: UInt64
    /// When to ask the engine again so its prefetch refreshes the data before the deadline; nil: never.
    public var refreshAt: UInt64?
    /// Number of distinct orders (1: nothing to rotate).
    public var variants: Int
    /// An authoritative negative (NXDOMAIN or NODATA): nscd's `notfound` flag.
    public var negative: Bool
    /// Identity of the content whatever the order: an unchanged fingerprint with a later deadline only moves the
    /// deadline, with no write.
    public var fingerprint: [UInt8]
    /// The record octets for rotation step `step` (0 ..< variants): produced by the socket door's encoder.
    public var render: @Sendable (Int) -> [UInt8]?

    public init(
        deadline: UInt64, refreshAt: UInt64?, variants: Int, negative: Bool, fingerprint: [UInt8],
        render: @escaping @Sendable (Int) -> [UInt8]?
    ) {
        self.deadline = deadline
        self.refreshAt = refreshAt
        self.variants = max(1, variants)
        self.negative = negative
        self.fingerprint = fingerprint
        self.render = render
    }
}
