import CPosixShims
import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The writer of the shared-memory hosts map that glibc clients get with GETFDHST (nscd-protocol.md 5,
/// shared-map-design.md 8).
///
/// One serial writer: every change happens under one lock, so the file has one writer at a time whichever thread
/// calls. Readers are other processes; they never block the writer and see only complete records:
/// - publish = write data head, record, key and hash entry in fresh space, then one release store of the link that
///   makes it reachable (bucket head for a new key; the predecessor's `next` for a superseded one, whose old entry
///   stays untouched for readers already on it);
/// - expiry = one release store of `usable = 0` at the record's deadline, then unlink;
/// - reclamation = a generation swap (new file with the live records, old header's `data_size` raised so clients
///   re-request), or, if no new file can be made, compaction in place inside an odd `gc_cycle`.
///
/// Time comes in as arguments: `now` on the engine's clock (deadlines), `wall` in epoch seconds (the header's
/// timestamp and the informational `timeout` field), so tests drive it with a manual clock.
public final class SharedHostsMap: Sendable {
    public let configuration: SharedMapConfiguration
    public let statistics = SharedMapStatistics()
    let logger: Logger
    let state: Mutex<State>
    /// The generation GETFDHST hands out, behind its own lock: the accept thread never waits for a tick, a publish
    /// or a swap that holds `state` (lock order: `state`, then this; never the other way).
    let handoutFile: Mutex<SharedMapFile?>
    /// Wakes the timer thread when a record's deadline is earlier than what it sleeps towards.
    private let wakeRead: Int32
    private let wakeWrite: Int32
    private let scheduledWake = Atomic<UInt64>(.max)

    /// A margin before the deadline: the record is made unusable this much early, so a client never reads it past
    /// its deadline even if the timer thread is late by up to this much; the socket answers from the still-fresh
    /// cache in between.
    public static let flipLead: UInt64 = 1_000_000

    struct Tracked {
        var key: SharedMapKey
        var record: SharedMapRecord
        var step: Int
        var bucket: Int
        var entry: UInt32
        var packet: UInt32
        var size: Int
        var lastDemand: UInt64
        var poked: Bool
    }

    struct Retiring {
        var file: SharedMapFile
        var closeAt: UInt64
    }

    struct State {
        var file: SharedMapFile?
        var retiring: [Retiring] = []
        var records: [SharedMapKey: Tracked] = [:]
        /// Each bucket's chain as written: entry refs in chain order.
        var chains: [[UInt32]]
        var firstFree = 0
        var live = 0
        var nextRotation: UInt64 = 0
        var nextTimestamp: UInt64 = 0
        var nextEvent: UInt64 = .max
        var fullLogged = false
    }

    /// Creates the first generation (not yet at the stable path: call `takeOver()` once the socket listens).
    public init(configuration: SharedMapConfiguration, wall: Int64, logger: Logger = Logger(label: "sidecache.nscd.map"))
        throws(SharedMapError)
    {
        guard configuration.dataSize >= 4096, configuration.dataSize <= Int(Int32.max) - 4096, configuration.module > 0,
            configuration.module <= 65536
        else { throw SharedMapError(.invalidConfiguration, "size must be 4KiB ... 2GiB") }
        self.configuration = configuration
        self.logger = logger
        // A predecessor that died between creating a generation and installing it left its temporary file.
        SharedMapFile.removeLeftovers(stablePath: configuration.path)
        let file = try SharedMapFile.create(
            stablePath: configuration.path, dataSize: configuration.dataSize, module: configuration.module, timestamp: wall)
        var fds: [Int32] = [-1, -1]
        guard sidecache_pipe2(&fds, O_CLOEXEC | O_NONBLOCK) == 0 else {
            file.close(remove: true)
            throw SharedMapError(.cannotCreate, "pipe2: \(SharedMapFile.lastError())")
        }
        wakeRead = fds[0]
        wakeWrite = fds[1]
        state = Mutex(State(file: file, chains: Array(repeating: [], count: configuration.module)))
        handoutFile = Mutex(file)
    }

    deinit {
        state.withLock { state in
            // The installed file stays for a successor; one never installed (start-up failed) is removed.
            state.file?.close(remove: true)
            for old in state.retiring { old.file.close(remove: true) }
        }
        close(wakeRead)
        close(wakeWrite)
    }

    /// True while the map is in service (false after a failure turned it off).
    public var isEnabled: Bool { state.withLock { $0.file != nil } }

    /// Retires a predecessor's file at the stable path (raises its `data_size`, so its clients re-request at their
    /// next lookup, from us) and installs this generation there. Call after the nscd socket listens: a client that
    /// re-requests before then would find no socket and give the map up for its lifetime.
    public func takeOver() {
        state.withLock { state in
            guard let file = state.file else { return }
            if SharedMapFile.retirePredecessor(at: configuration.path) {
                statistics.bump(statistics.takeovers)
                logger.notice("took over the shared map of a previous run", metadata: ["file": "\(configuration.path)"])
            }
            do {
                try file.install()
            } catch {
                disable(&state, "\(error)")
            }
        }
    }

    /// A descriptor for one GETFDHST reply (a `dup` of the read-only one, which the caller closes after sending)
    /// and the size to announce (the whole file, never more); nil when the map is off.
    public func handout() -> (descriptor: Int32, mapSize: Int)? {
        handoutFile.withLock { file in
            guard let file else { return nil }
            let copy = fcntl(file.readOnlyDescriptor, F_DUPFD_CLOEXEC, 0)
            guard copy >= 0 else { return nil }
            statistics.bump(statistics.handouts)
            return (copy, file.fileSize)
        }
    }

    // MARK: - Publishing

    public enum Outcome: Sendable, Equatable {
        /// Written (a new key, new content or a new order).
        case published
        /// Same content, later deadline: only the deadline moved.
        case extended
        /// Already there with this content and deadline.
        case unchanged
        /// Not published: the map is off, full, or the record is already at its deadline.
        case refused
    }

    /// Publishes what the socket door answered for `key`. `demand`: a client asked for it through the socket now
    /// (which keeps it within the refresh window).
    @discardableResult
    public func publish(_ key: SharedMapKey, _ record: SharedMapRecord, now: UInt64, wall: Int64, demand: Bool = true)
        -> Outcome
    {
        let (outcome, wakeAt): (Outcome, UInt64) = state.withLock { state in
            let outcome = publish(&state, key, record, now: now, wall: wall, demand: demand)
            return (outcome, state.nextEvent)
        }
        if outcome == .published || outcome == .extended { wake(ifBefore: wakeAt) }
        return outcome
    }

    func publish(
        _ state: inout State, _ key: SharedMapKey, _ record: SharedMapRecord, now: UInt64, wall: Int64, demand: Bool
    ) -> Outcome {
        guard state.file != nil, key.key.count <= 1024, record.deadline > now + Self.flipLead else { return .refused }
        if var tracked = state.records[key] {
            if demand { tracked.lastDemand = now }
            if tracked.record.fingerprint == record.fingerprint {
                if record.deadline <= tracked.record.deadline {
                    state.records[key] = tracked
                    return .unchanged
                }
                tracked.record = record
                tracked.poked = false
                state.records[key] = tracked
                schedule(&state, tracked, now: now)
                return .extended
            }
            tracked.record = record
            tracked.step = 0
            tracked.poked = false
            state.records[key] = tracked
        }
        guard let bytes = record.render(0) else { return .refused }
        if state.records[key] == nil {
            let size = SharedMapLayout.allocation(recordLength: bytes.count, keyLength: key.key.count).total
            if Double(state.live + size) > configuration.liveFraction * Double(configuration.dataSize) {
                statistics.bump(statistics.refusedFull)
                if !state.fullLogged {
                    state.fullLogged = true
                    logger.warning(
                        "shared map full: new names are answered through the socket only",
                        metadata: ["live-bytes": "\(state.live)", "size": "\(configuration.dataSize)"])
                }
                return .refused
            }
            let tracked = Tracked(
                key: key, record: record, step: 0, bucket: SharedMapLayout.bucket(key.key, module: configuration.module),
                entry: SharedMapLayout.endRef, packet: 0, size: 0, lastDemand: demand ? now : 0, poked: false)
            state.records[key] = tracked
        }
        guard write(&state, key, bytes, now: now, wall: wall) else {
            // The old entry holds other content: it must not outlive this moment.
            if state.records[key] != nil { expire(&state, key) }
            return .refused
        }
        if let tracked = state.records[key] { schedule(&state, tracked, now: now) }
        return .published
    }

    /// Writes the record for `key` (already tracked) and links it in, superseding its current entry if any.
    /// Makes room by reclaiming first if the area is full. False if it could not be written (then the key's old
    /// entry, if any, stays until its deadline; a key with none is dropped).
    func write(_ state: inout State, _ key: SharedMapKey, _ bytes: [UInt8], now: UInt64, wall: Int64) -> Bool {
        let need = SharedMapLayout.allocation(recordLength: bytes.count, keyLength: key.key.count).total
        if state.firstFree + need > configuration.dataSize {
            reclaim(&state, now: now, wall: wall)
        }
        guard let file = state.file, var tracked = state.records[key], state.firstFree + need <= configuration.dataSize
        else {
            statistics.bump(statistics.writeFailures)
            if let tracked = state.records[key], tracked.entry == SharedMapLayout.endRef { state.records[key] = nil }
            return false
        }
        let region = file.region
        let packet = state.firstFree
        let (packetSize, total) = SharedMapLayout.allocation(recordLength: bytes.count, keyLength: key.key.count)
        let entry = packet + packetSize
        let remaining = tracked.record.deadline > now ? tracked.record.deadline - now : 0
        region.writeDataHead(
            at: packet, record: bytes, key: key.key, timeout: wall + Int64(remaining / 1_000_000_000),
            ttl: UInt32(min(remaining / 1_000_000_000, UInt64(UInt32.max))), negative: tracked.record.negative)
        var chain = state.chains[tracked.bucket]
        if tracked.entry != SharedMapLayout.endRef, let index = chain.firstIndex(of: tracked.entry) {
            // Supersede in place: the new entry takes the old one's successor, then one release store of the link
            // that pointed at the old entry. Readers already on the old entry finish on its unchanged octets.
            let next = index + 1 < chain.count ? chain[index + 1] : SharedMapLayout.endRef
            region.writeHashEntry(
                at: entry, type: key.type, keyLength: key.key.count,
                keyRef: packet + SharedMapLayout.dataHeadSize + bytes.count, next: next, packet: packet)
            if index == 0 {
                region.setBucketHead(tracked.bucket, UInt32(entry))
            } else {
                region.setNext(ofEntry: chain[index - 1], UInt32(entry))
            }
            chain[index] = UInt32(entry)
            state.live -= tracked.size
        } else {
            // A new key goes to the head of its bucket (nscd's cache_add does the same).
            region.writeHashEntry(
                at: entry, type: key.type, keyLength: key.key.count,
                keyRef: packet + SharedMapLayout.dataHeadSize + bytes.count, next: chain.first ?? SharedMapLayout.endRef,
                packet: packet)
            region.setBucketHead(tracked.bucket, UInt32(entry))
            chain.insert(UInt32(entry), at: 0)
        }
        state.chains[tracked.bucket] = chain
        tracked.entry = UInt32(entry)
        tracked.packet = UInt32(packet)
        tracked.size = total
        state.records[key] = tracked
        state.firstFree += total
        state.live += total
        region.setStatistics(firstFree: state.firstFree, entries: state.records.count)
        statistics.bump(statistics.publishes)
        return true
    }

    /// Makes a key's record unusable (one octet), then unlinks it, and forgets it.
    func expire(_ state: inout State, _ key: SharedMapKey) {
        guard let tracked = state.records.removeValue(forKey: key), let file = state.file else { return }
        guard tracked.entry != SharedMapLayout.endRef else { return }
        file.region.setUnusable(packet: tracked.packet)
        var chain = state.chains[tracked.bucket]
        if let index = chain.firstIndex(of: tracked.entry) {
            let next = index + 1 < chain.count ? chain[index + 1] : SharedMapLayout.endRef
            if index == 0 {
                file.region.setBucketHead(tracked.bucket, next)
            } else {
                file.region.setNext(ofEntry: chain[index - 1], next)
            }
            chain.remove(at: index)
            state.chains[tracked.bucket] = chain
        }
        state.live -= tracked.size
        file.region.setStatistics(firstFree: state.firstFree, entries: state.records.count)
        statistics.bump(statistics.flips)
    }

    /// Removes every record of the given keys (`nil`: all), as `nscd -i hosts` and `sidecache flush` do.
    public func invalidate(where matches: (SharedMapKey) -> Bool = { _ in true }) -> Int {
        state.withLock { state in
            let keys = state.records.keys.filter(matches)
            for key in keys { expire(&state, key) }
            return keys.count
        }
    }

    // MARK: - Time

    /// Closes the retired generations whose grace period is over, raising their size a second time first.
    private func retireDue(_ state: inout State, now: UInt64) {
        state.retiring.removeAll { old in
            guard now >= old.closeAt else { return false }
            // A client that received this file's descriptor just before the swap and mapped it after the first
            // raise took that raised size as its own: the second raise moves it on too.
            old.file.region.retire()
            old.file.close(remove: true)
            return true
        }
    }

    /// Does what is due at `now`: deadlines (republish fresh data or flip to unusable), refresh pokes, rotation,
    /// the header timestamp, retired generations, reclamation. `refresh` asks the engine's cache (never the
    /// upstream) for the key's current record. Returns the engine-clock instant of the next thing due.
    @discardableResult
    public func tick(now: UInt64, wall: Int64, refresh: (SharedMapKey) -> SharedMapRecord?) -> UInt64 {
        state.withLock { state in
            guard let file = state.file else {
                // Off: still close the generations retired before, once their grace period is over.
                retireDue(&state, now: now)
                return now + configuration.timestampInterval
            }
            let window = configuration.refreshWindow
            var next: UInt64 = .max
            for key in Array(state.records.keys) {
                guard let tracked = state.records[key] else { continue }
                let wanted = now < tracked.lastDemand + window
                if now + Self.flipLead >= tracked.record.deadline {
                    if wanted, let fresh = refresh(key), fresh.deadline > now + Self.flipLead {
                        _ = publish(&state, key, fresh, now: now, wall: wall, demand: false)
                    }
                    if let current = state.records[key], current.record.deadline <= now + Self.flipLead {
                        expire(&state, key)
                    }
                    continue
                }
                if wanted, !tracked.poked, let at = tracked.record.refreshAt, now >= at {
                    // The engine's prefetch starts on a hit in the last part of the TTL; map hits are invisible to
                    // it, so the map makes that hit on its readers' behalf.
                    state.records[key]?.poked = true
                    if let fresh = refresh(key), fresh.deadline > tracked.record.deadline {
                        _ = publish(&state, key, fresh, now: now, wall: wall, demand: false)
                    }
                }
            }
            if configuration.rotationPeriod > 0 && now >= state.nextRotation {
                state.nextRotation = now + configuration.rotationPeriod
                for key in Array(state.records.keys) {
                    // Only names asked through the socket lately: a name nobody asks for any more would otherwise be
                    // rewritten every period until its deadline, garbage that forces swaps.
                    guard var tracked = state.records[key], tracked.record.variants > 1,
                        now < tracked.lastDemand + window
                    else { continue }
                    tracked.step = (tracked.step + 1) % tracked.record.variants
                    state.records[key] = tracked
                    if let bytes = tracked.record.render(tracked.step) {
                        if write(&state, key, bytes, now: now, wall: wall) { statistics.bump(statistics.rotations) }
                    }
                }
            }
            if now >= state.nextTimestamp {
                state.nextTimestamp = now + configuration.timestampInterval
                state.file?.region.setTimestamp(wall)
            }
            retireDue(&state, now: now)
            if Double(state.firstFree - state.live) >= configuration.garbageFraction * Double(configuration.dataSize) {
                reclaim(&state, now: now, wall: wall)
            }
            _ = file
            // The next instant anything is due.
            for tracked in state.records.values {
                next = min(next, tracked.record.deadline - min(tracked.record.deadline, Self.flipLead))
                if !tracked.poked, let at = tracked.record.refreshAt, now < tracked.lastDemand + window { next = min(next, at) }
                if tracked.record.variants > 1 && configuration.rotationPeriod > 0 && now < tracked.lastDemand + window { next = min(next, state.nextRotation) }
            }
            next = min(next, state.nextTimestamp)
            for old in state.retiring { next = min(next, old.closeAt) }
            state.nextEvent = max(next, now)
            return state.nextEvent
        }
    }

    func schedule(_ state: inout State, _ tracked: Tracked, now: UInt64) {
        var at = tracked.record.deadline - min(tracked.record.deadline, Self.flipLead)
        if let refresh = tracked.record.refreshAt { at = min(at, refresh) }
        if tracked.record.variants > 1 && configuration.rotationPeriod > 0 { at = min(at, max(state.nextRotation, now)) }
        state.nextEvent = min(state.nextEvent, at)
    }

    /// Ends the timer thread's current sleep at once (the door calls it when it stops).
    public func interruptSleep() {
        var byte: UInt8 = 1
        _ = Glibc.write(wakeWrite, &byte, 1)
    }

    private func wake(ifBefore instant: UInt64) {
        guard instant < scheduledWake.load(ordering: .acquiring) else { return }
        var byte: UInt8 = 1
        _ = Glibc.write(wakeWrite, &byte, 1)
    }

    /// Sleeps until `until` on the engine clock (whose `now` is given), or until a publish needs an earlier tick.
    /// At most one second, so the caller can check for shutdown.
    public func sleep(until: UInt64, now: UInt64) {
        scheduledWake.store(until, ordering: .releasing)
        defer { scheduledWake.store(.max, ordering: .releasing) }
        guard until > now else { return }
        // poll's millisecond timeout, rounded up: the tick runs at or after the instant, never before.
        let milliseconds = Int32(min((until - now + 999_999) / 1_000_000, 1000))
        var poller = pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0)
        if poll(&poller, 1, milliseconds) > 0 {
            var drain = [UInt8](repeating: 0, count: 64)
            _ = drain.withUnsafeMutableBytes { read(wakeRead, $0.baseAddress, $0.count) }
        }
    }

    /// Turns the map off for good: every record unusable, the header retired (clients re-request, are refused,
    /// and use the socket only). The socket door is not affected.
    public func disable(reason: String) {
        state.withLock { disable(&$0, reason) }
    }

    func disable(_ state: inout State, _ reason: String) {
        guard let file = state.file else { return }
        logger.error("shared map turned off; the nscd socket keeps answering", metadata: ["reason": "\(reason)"])
        for key in Array(state.records.keys) { expire(&state, key) }
        handoutFile.withLock { $0 = nil }
        file.region.retire()
        state.file = nil
        state.retiring.append(Retiring(file: file, closeAt: 0))
        statistics.disabled.store(true, ordering: .releasing)
    }

    // MARK: - Inspection

    /// Live records and the octets in use (live and garbage), for metrics and tests.
    public func usage() -> (records: Int, liveBytes: Int, usedBytes: Int) {
        state.withLock { ($0.records.count, $0.live, $0.firstFree) }
    }

    /// A copy of the current mapping's octets (tests read it as a client would).
    public func snapshot() -> [UInt8]? {
        state.withLock { state in
            state.file.map { file in Array(UnsafeRawBufferPointer(start: file.region.base, count: file.fileSize)) }
        }
    }

    /// The descriptor clients receive, for tests that check it is read-only.
    public var currentPath: String? { state.withLock { $0.file?.path } }
}
