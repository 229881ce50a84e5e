import CPosixShims

/// The layout of nscd's mapped hosts database, glibc 2.36 on x86_64 (nscd/nscd.h `struct database_pers_head`,
/// `struct hashentry`, `struct datahead`; nscd-protocol.md 5.3). Little-endian, no padding in the header, every
/// hash entry and data head 8-aligned. Offsets (`ref_t`) count from the start of the data area.
public enum SharedMapLayout {
    /// `DB_VERSION`.
    public static let version: Int32 = 2
    /// `sizeof(struct database_pers_head)`; the client refuses any other value.
    public static let headerSize = 120
    /// Number of hash buckets; nscd's default `suggested-size` (211) and what the prototype ran with.
    public static let defaultModule = 211
    /// `sizeof(struct hashentry)`; clients read at least `MINIMUM_HASHENTRY_SIZE` (28) of it.
    public static let hashEntrySize = 32
    /// `sizeof(struct datahead)` before the record.
    public static let dataHeadSize = 24
    /// `ENDREF`: the end of a chain, an empty bucket.
    public static let endRef: UInt32 = .max
    /// nscd's `BLOCK_ALIGN`: every allocation starts on an 8-octet boundary.
    public static let alignment = 8

    // Header field offsets (nscd-protocol.md 5.3).
    static let versionOffset = 0
    static let headerSizeOffset = 4
    static let gcCycleOffset = 8
    static let certainlyRunningOffset = 12
    static let timestampOffset = 16
    static let extraDataOffset = 24
    static let moduleOffset = 40
    static let dataSizeOffset = 44
    static let firstFreeOffset = 48
    static let entriesOffset = 52
    static let maximumEntriesOffset = 56
    static let maximumSearchedOffset = 60
    static let statisticsOffset = 64

    /// Where the data area starts: the header, then `module` bucket heads rounded up to 16 octets (968 for 211).
    public static func dataAreaOffset(module: Int) -> Int { headerSize + roundUp(module * 4, 16) }

    /// The mapping size a client needs for `dataSize` octets of data (what nscd sends after the key).
    public static func mappingSize(module: Int, dataSize: Int) -> Int { dataAreaOffset(module: module) + dataSize }

    public static func roundUp(_ value: Int, _ multiple: Int) -> Int { (value + multiple - 1) / multiple * multiple }

    /// `__nss_hash` (nss/nss_hash.c): sdbm, h = h * 65599 + byte over every key octet (the NUL included for
    /// string keys), modulo 2^32.
    public static func hash<Bytes: Sequence<UInt8>>(_ key: Bytes) -> UInt32 {
        var h: UInt32 = 0
        for byte in key { h = h &* 65599 &+ UInt32(byte) }
        return h
    }

    /// The bucket of a key.
    public static func bucket<Bytes: Sequence<UInt8>>(_ key: Bytes, module: Int) -> Int {
        Int(hash(key) % UInt32(module))
    }

    /// Octets one published record takes: data head, record and key copy, then the hash entry, each block 8-aligned
    /// (nscd puts the key right after the record and allocates the hash entry separately).
    public static func allocation(recordLength: Int, keyLength: Int) -> (packet: Int, total: Int) {
        let packet = roundUp(dataHeadSize + recordLength + keyLength, alignment)
        return (packet, packet + hashEntrySize)
    }
}

/// A mapped database seen as octets: the writer's view of the file. Fresh space (not reachable by readers yet) is
/// written with plain stores, field by field; every store that makes something reachable or unusable is an atomic
/// release store, so a reader that sees the new link also sees what it points at.
public struct SharedMapRegion: @unchecked Sendable {
    public let base: UnsafeMutableRawPointer
    /// Octets of the mapping (header, buckets, data area, and any slack after it).
    public let length: Int
    public let module: Int

    public init(base: UnsafeMutableRawPointer, length: Int, module: Int) {
        self.base = base
        self.length = length
        self.module = module
    }

    public var dataArea: UnsafeMutableRawPointer { base + SharedMapLayout.dataAreaOffset(module: module) }

    @inline(__always) func put32(_ value: UInt32, at offset: Int, from origin: UnsafeMutableRawPointer) {
        (origin + offset).storeBytes(of: value.littleEndian, as: UInt32.self)
    }

    @inline(__always) func put64(_ value: UInt64, at offset: Int, from origin: UnsafeMutableRawPointer) {
        (origin + offset).storeBytes(of: value.littleEndian, as: UInt64.self)
    }

    // MARK: - Header

    /// Writes a fresh header and empty buckets: version 2, header_size 120, gc_cycle 0, nscd_certainly_running 0
    /// (clients then trust the map while `timestamp` is under 300 s old, MAPPING_TIMEOUT), extra_data all 0 (no
    /// netlink tracking, nscd-protocol.md 5.8), statistics 0.
    public func writeHeader(dataSize: Int, timestamp: Int64) {
        put32(UInt32(bitPattern: SharedMapLayout.version), at: SharedMapLayout.versionOffset, from: base)
        put32(UInt32(SharedMapLayout.headerSize), at: SharedMapLayout.headerSizeOffset, from: base)
        put32(0, at: SharedMapLayout.gcCycleOffset, from: base)
        put32(0, at: SharedMapLayout.certainlyRunningOffset, from: base)
        put64(UInt64(bitPattern: timestamp), at: SharedMapLayout.timestampOffset, from: base)
        for index in 0..<4 { put32(0, at: SharedMapLayout.extraDataOffset + index * 4, from: base) }
        put32(UInt32(module), at: SharedMapLayout.moduleOffset, from: base)
        put32(UInt32(dataSize), at: SharedMapLayout.dataSizeOffset, from: base)
        put32(0, at: SharedMapLayout.firstFreeOffset, from: base)
        put32(0, at: SharedMapLayout.entriesOffset, from: base)
        put32(0, at: SharedMapLayout.maximumEntriesOffset, from: base)
        put32(0, at: SharedMapLayout.maximumSearchedOffset, from: base)
        for index in 0..<7 { put64(0, at: SharedMapLayout.statisticsOffset + index * 8, from: base) }
        clearBuckets()
    }

    /// Every bucket head to ENDREF, and the padding after them to 0.
    func clearBuckets() {
        for bucket in 0..<module { put32(SharedMapLayout.endRef, at: SharedMapLayout.headerSize + bucket * 4, from: base) }
        let padding = SharedMapLayout.dataAreaOffset(module: module) - SharedMapLayout.headerSize - module * 4
        (base + SharedMapLayout.headerSize + module * 4).initializeMemory(as: UInt8.self, repeating: 0, count: padding)
    }

    public var dataSize: Int { Int(UInt32(littleEndian: (base + SharedMapLayout.dataSizeOffset).load(as: UInt32.self))) }

    /// Raises `data_size` by one: every client that mapped this file re-requests the map at its next lookup
    /// (nscd_helper.c `__nscd_get_map_ref`), which is how a new generation or a successor takes over.
    public func retire() {
        sidecache_store_release_u32(base + SharedMapLayout.dataSizeOffset, UInt32(dataSize + 1))
    }

    /// `timestamp`, refreshed while the writer lives (clients give up on the map 300 s after it stops).
    public func setTimestamp(_ seconds: Int64) {
        sidecache_store_relaxed_u64(base + SharedMapLayout.timestampOffset, UInt64(bitPattern: seconds))
    }

    /// The allocator mark and entry count (nscd's statistics; clients do not read them).
    public func setStatistics(firstFree: Int, entries: Int) {
        sidecache_store_relaxed_u32(base + SharedMapLayout.firstFreeOffset, UInt32(firstFree))
        sidecache_store_relaxed_u32(base + SharedMapLayout.entriesOffset, UInt32(entries))
    }

    public var gcCycle: UInt32 { sidecache_load_acquire_u32(base + SharedMapLayout.gcCycleOffset) }

    /// Moves `gc_cycle` on by one, with full fences on both sides: odd means "being rewritten, use the socket".
    func bumpGCCycle() {
        sidecache_fence()
        sidecache_store_release_u32(base + SharedMapLayout.gcCycleOffset, gcCycle &+ 1)
        sidecache_fence()
    }

    // MARK: - Buckets and entries

    func bucketOffset(_ bucket: Int) -> Int { SharedMapLayout.headerSize + bucket * 4 }

    /// The head of a bucket's chain.
    public func bucketHead(_ bucket: Int) -> UInt32 {
        sidecache_load_acquire_u32(base + bucketOffset(bucket))
    }

    /// Publishes `ref` as the head of `bucket` (release: the entry's octets are visible first).
    func setBucketHead(_ bucket: Int, _ ref: UInt32) {
        sidecache_store_release_u32(base + bucketOffset(bucket), ref)
    }

    /// Points the `next` field of the hash entry at `entry` to `ref` (release).
    func setNext(ofEntry entry: UInt32, _ ref: UInt32) {
        sidecache_store_release_u32(dataArea + Int(entry) + 16, ref)
    }

    /// Writes a data head, the record and the key copy at `packet`, in fresh space. `allocsize` is nscd's
    /// 24 + record + key (not rounded); `timeout` is informational (clients never read it), as is `ttl`.
    func writeDataHead(at packet: Int, record: [UInt8], key: [UInt8], timeout: Int64, ttl: UInt32, negative: Bool) {
        let origin = dataArea + packet
        put32(UInt32(SharedMapLayout.dataHeadSize + record.count + key.count), at: 0, from: origin)  // allocsize
        put32(UInt32(record.count), at: 4, from: origin)  // recsize
        put64(UInt64(bitPattern: timeout), at: 8, from: origin)  // timeout
        origin.storeBytes(of: negative ? 1 : 0, toByteOffset: 16, as: UInt8.self)  // notfound
        origin.storeBytes(of: 0, toByteOffset: 17, as: UInt8.self)  // nreloads
        origin.storeBytes(of: 1, toByteOffset: 18, as: UInt8.self)  // usable
        origin.storeBytes(of: 0, toByteOffset: 19, as: UInt8.self)  // unused
        put32(ttl, at: 20, from: origin)  // ttl
        record.withUnsafeBytes { (origin + SharedMapLayout.dataHeadSize).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        key.withUnsafeBytes {
            (origin + SharedMapLayout.dataHeadSize + record.count).copyMemory(from: $0.baseAddress!, byteCount: $0.count)
        }
        let end = SharedMapLayout.dataHeadSize + record.count + key.count
        let padded = SharedMapLayout.roundUp(end, SharedMapLayout.alignment)
        (origin + end).initializeMemory(as: UInt8.self, repeating: 0, count: padded - end)
    }

    /// Writes a hash entry at `entry`, in fresh space: type, first = 1, len, key ref, owner -1, next, packet ref,
    /// and the server-private dellist word as 0.
    func writeHashEntry(at entry: Int, type: UInt8, keyLength: Int, keyRef: Int, next: UInt32, packet: Int) {
        let origin = dataArea + entry
        origin.storeBytes(of: type, toByteOffset: 0, as: UInt8.self)  // type (8-bit bitfield)
        origin.storeBytes(of: 1, toByteOffset: 1, as: UInt8.self)  // first
        origin.storeBytes(of: 0, toByteOffset: 2, as: UInt16.self)  // padding
        put32(UInt32(keyLength), at: 4, from: origin)  // len
        put32(UInt32(keyRef), at: 8, from: origin)  // key
        put32(UInt32(bitPattern: -1), at: 12, from: origin)  // owner
        put32(next, at: 16, from: origin)  // next
        put32(UInt32(packet), at: 20, from: origin)  // packet
        put64(0, at: 24, from: origin)  // dellist / prevp
    }

    /// Makes a record unusable (one release store of the `usable` octet): a client that finds it skips it and, with
    /// no other usable entry for the key, asks the socket.
    func setUnusable(packet: UInt32) {
        sidecache_store_release_u8(dataArea + Int(packet) + 18, 0)
    }
}
