import Foundation
import NSCDSharedMap
import Synchronization
import TestSupport
import Testing

/// The writer driven by a manual clock: deadlines, refresh, rotation, chains, reclamation, takeover, failure.
/// Every check reads the file as glibc's reader would (MapReader).
@Suite(.serialized)
struct WriterTests {
    static let second: UInt64 = 1_000_000_000
    static let start: UInt64 = 1_000 * second

    final class Fixture: @unchecked Sendable {
        let directory: String
        let map: SharedHostsMap
        init(_ configure: (inout SharedMapConfiguration) -> Void = { _ in }) throws {
            directory = try makeScratchDirectory("map-writer")
            var configuration = SharedMapConfiguration(path: directory + "/private/hosts.map", dataSize: 64 << 10)
            configure(&configuration)
            map = try SharedHostsMap(configuration: configuration, wall: 1_700_000_000)
            map.takeOver()
        }
        deinit { try? FileManager.default.removeItem(atPath: directory) }

        var reader: MapReader { MapReader(bytes: map.snapshot() ?? []) }
        func read(_ name: String, type: UInt8 = 14) -> [UInt8]? { reader.lookup(type: type, key: WriterTests.key(name)) }
    }

    static func key(_ name: String) -> [UInt8] { Array(name.utf8) + [0] }

    /// A record whose octets say which name, content version and rotation step they are.
    static func record(
        _ name: String, version: UInt8 = 1, deadline: UInt64, refreshAt: UInt64? = nil, variants: Int = 1
    ) -> SharedMapRecord {
        SharedMapRecord(
            deadline: deadline, refreshAt: refreshAt, variants: variants, negative: false,
            fingerprint: Array(name.utf8) + [version],
            render: { step in Array(name.utf8) + [version, UInt8(step)] })
    }

    @discardableResult
    static func publish(_ f: Fixture, _ name: String, _ record: SharedMapRecord, at now: UInt64) -> SharedHostsMap.Outcome {
        f.map.publish(SharedMapKey(type: 14, key: key(name)), record, now: now, wall: 1_700_000_000)
    }

    @Test func aRecordIsUnusableFromItsDeadlineWhenNothingFresherExists() throws {
        let f = try Fixture()
        let deadline = Self.start + 2 * Self.second
        #expect(Self.publish(f, "a.test", Self.record("a.test", deadline: deadline), at: Self.start) == .published)
        let refreshes = Mutex(0)
        let refresh: (SharedMapKey) -> SharedMapRecord? = { _ in refreshes.withLock { $0 += 1 }; return nil }
        let next = f.map.tick(now: Self.start + Self.second, wall: 1_700_000_001, refresh: refresh)
        #expect(next == deadline - SharedHostsMap.flipLead, "the timer aims at the flip instant")
        #expect(f.read("a.test") == Array("a.test".utf8) + [1, 0])
        f.map.tick(now: deadline - SharedHostsMap.flipLead - 1, wall: 1_700_000_001, refresh: refresh)
        #expect(f.read("a.test") != nil, "usable until the flip instant")
        f.map.tick(now: deadline - SharedHostsMap.flipLead, wall: 1_700_000_002, refresh: refresh)
        #expect(f.read("a.test") == nil, "unusable (and unlinked) from deadline - 1 ms")
        #expect(refreshes.withLock { $0 } == 1, "the engine was asked once for fresh data")
        #expect(f.map.statistics.flips.load(ordering: .relaxed) == 1)
        #expect(f.map.usage().records == 0)
    }

    @Test func freshDataAtTheDeadlineIsRepublishedOrOnlyExtended() throws {
        let f = try Fixture()
        let deadline = Self.start + 2 * Self.second
        Self.publish(f, "a.test", Self.record("a.test", deadline: deadline), at: Self.start)
        let publishes = f.map.statistics.publishes.load(ordering: .relaxed)
        // Same content, new deadline: nothing written, the deadline moves.
        f.map.tick(now: deadline - SharedHostsMap.flipLead, wall: 0) { _ in Self.record("a.test", deadline: deadline + 5 * Self.second) }
        #expect(f.read("a.test") == Array("a.test".utf8) + [1, 0])
        #expect(f.map.statistics.publishes.load(ordering: .relaxed) == publishes)
        // New content at the next deadline: written, and the reader sees it.
        let second = deadline + 5 * Self.second
        f.map.tick(now: second - SharedHostsMap.flipLead, wall: 0) { _ in Self.record("a.test", version: 2, deadline: second + Self.second) }
        #expect(f.read("a.test") == Array("a.test".utf8) + [2, 0])
        #expect(f.map.statistics.flips.load(ordering: .relaxed) == 0)
    }

    @Test func theEngineIsAskedAtThePrefetchPointOnlyWhileClientsStillAskTheSocket() throws {
        let f = try Fixture { $0.refreshWindow = 60 * Self.second }
        let asked = Mutex<[String]>([])
        let refresh: (SharedMapKey) -> SharedMapRecord? = { key in
            asked.withLock { $0.append(String(decoding: key.key.dropLast(), as: UTF8.self)) }
            return nil
        }
        Self.publish(f, "hot.test", Self.record("hot.test", deadline: Self.start + 30 * Self.second, refreshAt: Self.start + 27 * Self.second), at: Self.start)
        f.map.tick(now: Self.start + 26 * Self.second, wall: 0, refresh: refresh)
        #expect(asked.withLock { $0 }.isEmpty)
        f.map.tick(now: Self.start + 27 * Self.second, wall: 0, refresh: refresh)
        f.map.tick(now: Self.start + 28 * Self.second, wall: 0, refresh: refresh)
        #expect(asked.withLock { $0 } == ["hot.test"], "one poke at the prefetch point")
        // Published long ago and never asked through the socket since: it lapses without asking the engine.
        let late = Self.start + 100 * Self.second
        Self.publish(f, "cold.test", Self.record("cold.test", deadline: late + 200 * Self.second, refreshAt: late + 150 * Self.second), at: late)
        asked.withLock { $0 = [] }
        f.map.tick(now: late + 200 * Self.second, wall: 0, refresh: refresh)
        #expect(asked.withLock { $0 }.isEmpty, "outside the refresh window: no refresh, no prefetch")
        #expect(f.read("cold.test") == nil)
    }

    @Test func namesWithSeveralOrdersRotateEveryPeriod() throws {
        let f = try Fixture { $0.rotationPeriod = 100_000_000 }
        let deadline = Self.start + 300 * Self.second
        Self.publish(f, "multi.test", Self.record("multi.test", deadline: deadline, variants: 3), at: Self.start)
        Self.publish(f, "one.test", Self.record("one.test", deadline: deadline), at: Self.start)
        var steps: [UInt8] = []
        for period in 0..<6 {
            f.map.tick(now: Self.start + UInt64(period) * 100_000_000, wall: 0) { _ in nil }
            steps.append(try #require(f.read("multi.test")).last!)
            #expect(f.read("one.test") == Array("one.test".utf8) + [1, 0], "a single order is never rewritten")
        }
        #expect(steps == [1, 2, 0, 1, 2, 0])
        #expect(f.map.statistics.rotations.load(ordering: .relaxed) == 6)
        #expect(f.reader.reachableEntries == 2, "superseded entries are unlinked from the chain")
    }

    @Test func chainsStayIntactThroughSupersedeAndExpiryInOneBucket() throws {
        let f = try Fixture { $0.module = 1 }
        let names = ["a.test", "b.test", "c.test", "d.test"]
        for (index, name) in names.enumerated() {
            Self.publish(f, name, Self.record(name, deadline: Self.start + UInt64(10 + index) * Self.second), at: Self.start)
        }
        Self.publish(f, "b.test", Self.record("b.test", version: 2, deadline: Self.start + 50 * Self.second), at: Self.start)
        Self.publish(f, "d.test", Self.record("d.test", version: 2, deadline: Self.start + 50 * Self.second), at: Self.start)
        f.map.tick(now: Self.start + 10 * Self.second, wall: 0) { _ in nil }  // a.test expires (the tail)
        f.map.tick(now: Self.start + 12 * Self.second, wall: 0) { _ in nil }  // c.test expires (the middle)
        #expect(f.read("a.test") == nil)
        #expect(f.read("c.test") == nil)
        #expect(f.read("b.test") == Array("b.test".utf8) + [2, 0])
        #expect(f.read("d.test") == Array("d.test".utf8) + [2, 0])
        #expect(f.reader.reachableEntries == 2)
    }

    @Test func aFullAreaIsReclaimedByAGenerationSwapThatRetiresTheOldFile() throws {
        let f = try Fixture { $0.dataSize = 4096; $0.rotationPeriod = 1_000_000; $0.liveFraction = 0.45 }
        let path = try #require(f.map.currentPath)
        let deadline = Self.start + 300 * Self.second
        Self.publish(f, "multi.test", Self.record("multi.test", deadline: deadline, variants: 4), at: Self.start)
        Self.publish(f, "one.test", Self.record("one.test", deadline: deadline), at: Self.start)
        // A client's mapping of the first generation.
        let fd = open(path, O_RDONLY)
        #expect(fd >= 0)
        defer { close(fd) }
        let size = 968 + 4096
        let old = try #require(mmap(nil, size, PROT_READ, MAP_SHARED, fd, 0))
        defer { munmap(old, size) }
        let dataSizeBefore = old.load(fromByteOffset: 44, as: UInt32.self)
        var now = Self.start
        while f.map.statistics.swaps.load(ordering: .relaxed) == 0 && now < Self.start + Self.second {
            now += 1_000_000
            f.map.tick(now: now, wall: 0) { _ in nil }
            #expect(f.read("multi.test") != nil)
        }
        #expect(f.map.statistics.swaps.load(ordering: .relaxed) == 1)
        #expect(old.load(fromByteOffset: 44, as: UInt32.self) == dataSizeBefore + 1, "old header retired: clients re-request")
        #expect(f.read("one.test") == Array("one.test".utf8) + [1, 0], "the live set moved to the new file")
        #expect(f.map.currentPath == path, "the new generation sits at the stable path")
        let usage = f.map.usage()
        #expect(usage.usedBytes < 4096 / 2)
        // After the grace period the old generation is raised once more and let go.
        f.map.tick(now: now + f.map.configuration.retireGrace, wall: 0) { _ in nil }
        #expect(old.load(fromByteOffset: 44, as: UInt32.self) == dataSizeBefore + 2)
    }

    @Test func withoutANewFileTheAreaIsCompactedInPlaceInsideAnOddGCCycle() throws {
        let f = try Fixture { $0.dataSize = 4096; $0.rotationPeriod = 1_000_000 }
        let deadline = Self.start + 300 * Self.second
        Self.publish(f, "multi.test", Self.record("multi.test", deadline: deadline, variants: 4), at: Self.start)
        // The private directory becomes a plain file: no new generation can be created.
        try FileManager.default.removeItem(atPath: f.directory + "/private")
        try "".write(toFile: f.directory + "/private", atomically: false, encoding: .utf8)
        var now = Self.start
        while f.map.statistics.compactions.load(ordering: .relaxed) == 0 && now < Self.start + Self.second {
            now += 1_000_000
            f.map.tick(now: now, wall: 0) { _ in nil }
        }
        #expect(f.map.statistics.compactions.load(ordering: .relaxed) == 1)
        #expect(f.map.statistics.swaps.load(ordering: .relaxed) == 0)
        #expect(f.reader.gcCycle == 2, "odd during the rewrite, even again after")
        #expect(f.read("multi.test") != nil)
    }

    @Test func newNamesAreRefusedOnceTheLiveShareIsFull() throws {
        let f = try Fixture { $0.dataSize = 4096; $0.liveFraction = 0.5 }
        var outcomes: [SharedHostsMap.Outcome] = []
        for index in 0..<60 {
            outcomes.append(Self.publish(f, "n\(index).test", Self.record("n\(index).test", deadline: Self.start + Self.second), at: Self.start))
        }
        #expect(outcomes.contains(.refused))
        #expect(f.map.statistics.refusedFull.load(ordering: .relaxed) > 0)
        #expect(f.map.usage().liveBytes <= 2048)
        #expect(f.read("n0.test") != nil, "what was published stays readable")
    }

    @Test func recordsAtOrPastTheirDeadlineAreNotPublished() throws {
        let f = try Fixture()
        #expect(Self.publish(f, "late.test", Self.record("late.test", deadline: Self.start + SharedHostsMap.flipLead), at: Self.start) == .refused)
        #expect(f.read("late.test") == nil)
    }

    @Test func aSuccessorRetiresItsPredecessorsFileAtTheStablePath() throws {
        let f = try Fixture()
        Self.publish(f, "a.test", Self.record("a.test", deadline: Self.start + 60 * Self.second), at: Self.start)
        let before = f.reader.dataSize
        let successor = try SharedHostsMap(configuration: f.map.configuration, wall: 1_700_000_100)
        #expect(f.reader.dataSize == before, "nothing happens before the successor's socket listens")
        successor.takeOver()
        #expect(f.reader.dataSize == before + 1, "the predecessor's clients re-request at their next lookup")
        #expect(f.reader.gcCycle == 0 && f.read("a.test") != nil, "no poisoning: the old map stays readable meanwhile")
        #expect(successor.statistics.takeovers.load(ordering: .relaxed) == 1)
        #expect(successor.currentPath == f.map.configuration.path)
    }

    @Test func turningTheMapOffRetiresItAndRefusesHandouts() throws {
        let f = try Fixture()
        Self.publish(f, "a.test", Self.record("a.test", deadline: Self.start + 60 * Self.second), at: Self.start)
        let before = f.reader
        f.map.disable(reason: "test")
        #expect(f.map.handout() == nil)
        #expect(f.map.isEnabled == false)
        #expect(Self.publish(f, "b.test", Self.record("b.test", deadline: Self.start + 60 * Self.second), at: Self.start) == .refused)
        // The file itself (as a client still maps it): record unusable, data_size raised.
        let path = f.map.configuration.path
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        let after = MapReader(bytes: bytes)
        #expect(after.dataSize == before.dataSize + 1)
        #expect(after.lookup(type: 14, key: Self.key("a.test")) == nil)
    }

    @Test func theTimestampIsRefreshedAndExtraDataStaysZero() throws {
        let f = try Fixture { $0.timestampInterval = 2 * Self.second }
        f.map.tick(now: Self.start, wall: 1_700_000_500) { _ in nil }
        #expect(f.reader.timestamp == 1_700_000_500)
        f.map.tick(now: Self.start + Self.second, wall: 1_700_000_501) { _ in nil }
        #expect(f.reader.timestamp == 1_700_000_500, "not before the interval")
        f.map.tick(now: Self.start + 2 * Self.second, wall: 1_700_000_502) { _ in nil }
        #expect(f.reader.timestamp == 1_700_000_502)
        let bytes = try #require(f.map.snapshot())
        #expect(Array(bytes[12..<16]) == [0, 0, 0, 0], "nscd_certainly_running 0: the timestamp decides")
        #expect(Array(bytes[24..<40]) == Array(repeating: 0, count: 16), "extra_data (netlink counter) 0")
    }
}
