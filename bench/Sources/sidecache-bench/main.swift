// Micro-benchmarks of the hot paths: `swift run -c release sidecache-bench [codec|cache|all] [iterations]`.
// bench/micro.sh runs them and counts allocations with valgrind.
import CHeapStatistics
import DNSCache
import DNSForwarder
import NIOCore
import NIOPosix
import DNSWire
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

func nowSeconds() -> Double {
    var spec = timespec()
    clock_gettime(CLOCK_MONOTONIC, &spec)
    return Double(spec.tv_sec) + Double(spec.tv_nsec) / 1e9
}

/// A typical answer: www.example.test A with three addresses, as Knot DNS sends it.
let threeA: [UInt8] = {
    var header = DNSHeader(id: 0x1234, flags: 0x8500)
    header.recursionDesired = true
    let name = try! DNSName("www.example.test")
    let message = DNSMessage(
        header: header, questions: [DNSQuestion(name: name, type: .a)],
        answers: (1...3).map { .a(name, IPv4Bytes(192, 0, 2, UInt8($0)), ttl: 300) })
    return try! message.encode()
}()

@inline(never)
func blackHole<T>(_ value: T) { withExtendedLifetime(value) {} }

func benchCodec(iterations: Int) {
    var checksum = 0
    var start = nowSeconds()
    for _ in 0..<iterations {
        let message = try! DNSMessage(decoding: threeA)
        checksum &+= message.answers.count
    }
    let decodeRate = Double(iterations) / (nowSeconds() - start)

    let message = try! DNSMessage(decoding: threeA)
    start = nowSeconds()
    for _ in 0..<iterations {
        let bytes = try! message.encode()
        checksum &+= bytes.count
    }
    let encodeRate = Double(iterations) / (nowSeconds() - start)

    start = nowSeconds()
    for _ in 0..<iterations {
        let decoded = try! DNSMessage(decoding: threeA)
        let bytes = try! decoded.encode()
        checksum &+= bytes.count
    }
    let roundTripRate = Double(iterations) / (nowSeconds() - start)

    start = nowSeconds()
    threeA.withUnsafeBytes { buffer in
        for _ in 0..<iterations {
            let view = try! DNSQueryView(buffer)
            checksum &+= Int(view.type.rawValue)
        }
    }
    let viewRate = Double(iterations) / (nowSeconds() - start)
    blackHole(checksum)
    print("codec: 3-answer A response, \(threeA.count) octets, \(iterations) iterations, one core")
    print(String(format: "  decode (DNSMessage)            %12.0f msgs/s", decodeRate))
    print(String(format: "  encode (with compression)      %12.0f msgs/s", encodeRate))
    print(String(format: "  decode+encode                  %12.0f msgs/s", roundTripRate))
    print(String(format: "  header+question (DNSQueryView) %12.0f msgs/s", viewRate))
}

/// Answers every question with one A record, TTL 3600.
struct SyntheticUpstream: Upstream {
    func resolve(_ key: CacheKey) async -> UpstreamResult {
        var header = DNSHeader(id: 1)
        header.isResponse = true
        header.recursionAvailable = true
        let name = try! DNSName(wire: key.name)
        let last = key.name.count > 3 ? key.name[key.name.count - 2] : 1
        return .response(
            DNSMessage(
                header: header, questions: [key.question], answers: [.a(name, IPv4Bytes(10, 0, 0, last), ttl: 3600)]))
    }
}

func benchCache(iterations: Int, keys keyCount: Int) async {
    let cache = ResponseCache(upstream: SyntheticUpstream())
    let keys = (0..<keyCount).map { CacheKey(name: try! DNSName("host-\($0).svc.cluster.local"), type: .a) }
    await withTaskGroup(of: Void.self) { group in
        group.addTask { await cache.run() }
        for key in keys { _ = await cache.answer(for: key, id: 1, recursionDesired: true) }
        group.cancelAll()
    }
    let snapshot = cache.snapshot()
    print("cache: \(snapshot.entries) entries of one A record, \(snapshot.bytes) bytes charged")

    // Five rounds, one and two threads in turn (this machine's speed drifts within seconds): the median of each and
    // their ratio, the scaling from one thread to two.
    func hitsPerSecond(threads: Int) async -> Double {
        let perThread = iterations / threads
        let start = nowSeconds()
        let total = await withTaskGroup(of: Int.self) { group in
            for t in 0..<threads {
                group.addTask {
                    var hits = 0
                    var index = t * 7919
                    for _ in 0..<perThread {
                        index = (index &+ 1) % keys.count
                        if cache.cachedAnswer(for: keys[index], id: UInt16(truncatingIfNeeded: index), recursionDesired: true) != nil {
                            hits += 1
                        }
                    }
                    return hits
                }
            }
            return await group.reduce(0, +)
        }
        return Double(total) / (nowSeconds() - start)
    }
    var rates: [Int: [Double]] = [1: [], 2: []]
    for _ in 0..<5 {
        for threads in [1, 2] { rates[threads]!.append(await hitsPerSecond(threads: threads)) }
    }
    func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }
    for threads in [1, 2] {
        print(String(format: "  hits, %d thread(s), %d keys: %12.0f hits/s (median of 5 rounds: %@)", threads, keys.count,
            median(rates[threads]!), rates[threads]!.map { String(format: "%.2fM", $0 / 1e6) }.joined(separator: " ")))
    }
    print(String(format: "  scaling from 1 to 2 threads: %.2fx (medians)", median(rates[2]!) / median(rates[1]!)))
    // Keys built from a received packet, as the DNS door does, then the hit.
    let query = try! DNSMessage.query(id: 7, name: DNSName("host-42.svc.cluster.local"), type: .a).encode()
    let start = nowSeconds()
    var found = 0
    query.withUnsafeBytes { buffer in
        for _ in 0..<iterations {
            let view = try! DNSQueryView(buffer)
            let key = CacheKey(
                nameBytes: UnsafeRawBufferPointer(rebasing: buffer[view.nameRange]), type: view.type, class: view.class,
                dnssecOK: false, checkingDisabled: false)
            if cache.cachedAnswer(for: key, id: view.header.id, recursionDesired: true) != nil { found += 1 }
        }
    }
    print(String(format: "  parse+key+hit from a packet, 1 thread:  %12.0f /s", Double(found) / (nowSeconds() - start)))
}

func benchEntryMemory(count: Int) async {
    // Bytes of heap per cached one-A-record entry: glibc's bytes-in-use before and after, and RSS growth.
    let cache = ResponseCache(
        configuration: CacheConfiguration(maximumBytes: 1 << 30, maximumNegativeBytes: 1 << 20),
        upstream: SyntheticUpstream())
    let keys = (0..<count).map { CacheKey(name: try! DNSName("host-\($0).svc.cluster.local"), type: .a) }
    let before = residentBytes()
    let heapBefore = sidecache_heap_in_use()
    await withTaskGroup(of: Void.self) { group in
        group.addTask { await cache.run() }
        for key in keys { _ = await cache.answer(for: key, id: 1, recursionDesired: true) }
        group.cancelAll()
    }
    let after = residentBytes()
    let heapAfter = sidecache_heap_in_use()
    let snapshot = cache.snapshot()
    let wire = snapshot.bytes / max(1, snapshot.entries)
    cache.flush()
    let heapFlushed = sidecache_heap_in_use()
    print("  heap after flush: \((Int(heapFlushed) - Int(heapBefore)) / count) bytes per former entry remain outside the entries")
    let perEntry = Double(Int(heapAfter) - Int(heapFlushed)) / Double(count)
    print(String(format: "memory: %d entries, %.0f heap bytes per entry, of which wire data+key %d: overhead %.0f bytes (RSS growth %.0f bytes per entry)",
        count, perEntry, wire, perEntry - Double(wire), Double(after - before) / Double(count)))
}

/// Loops for allocation counting under valgrind (bench/micro.sh runs each with 0 and N iterations and divides).
func allocationLoop(_ what: String, iterations: Int) async {
    var checksum = 0
    switch what {
    case "decode":
        for _ in 0..<iterations { checksum &+= (try! DNSMessage(decoding: threeA)).answers.count }
    case "view":
        threeA.withUnsafeBytes { buffer in
            for _ in 0..<iterations { checksum &+= Int((try! DNSQueryView(buffer)).type.rawValue) }
        }
    case "hit", "door-hit":
        let cache = ResponseCache(upstream: SyntheticUpstream())
        let key = CacheKey(name: try! DNSName("host-42.svc.cluster.local"), type: .a)
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await cache.run() }
            _ = await cache.answer(for: key, id: 1, recursionDesired: true)
            group.cancelAll()
        }
        let query = try! DNSMessage.query(id: 7, name: DNSName("host-42.svc.cluster.local"), type: .a).encode()
        let out = UnsafeMutableRawBufferPointer.allocate(byteCount: 512, alignment: 8)
        defer { out.deallocate() }
        query.withUnsafeBytes { buffer in
            for _ in 0..<iterations {
                if what == "hit" {
                    // The cached answer as an array: one allocation for it.
                    checksum &+= cache.cachedAnswer(for: key, id: 1, recursionDesired: true)!.wire.count
                } else {
                    // The DNS door's path: view, key from the packet, hit, render into the send buffer (the door
                    // allocates that buffer; here it is reused, so this counts everything else).
                    let view = try! DNSQueryView(buffer)
                    let packetKey = CacheKey(
                        nameBytes: UnsafeRawBufferPointer(rebasing: buffer[view.nameRange]), type: view.type,
                        class: view.class, dnssecOK: false, checkingDisabled: false)
                    let hit = cache.freshHit(for: packetKey)!
                    hit.render(into: out, id: view.header.id, recursionDesired: true)
                    checksum &+= Int(out[3])
                }
            }
        }
    default:
        print("unknown allocation loop \(what)")
    }
    blackHole(checksum)
}

/// Upstream throughput: `forwarder ADDRESS:PORT udp|tcp SECONDS CONCURRENCY NAMES` keeps CONCURRENCY questions
/// outstanding through DNSForwarder (no cache) for SECONDS and prints queries per second.
func benchForwarder(_ arguments: [String]) async throws {
    guard arguments.count >= 7, let upstream = UpstreamAddress(parsing: arguments[2]), let seconds = Double(arguments[4]),
        let concurrency = Int(arguments[5]), let names = Int(arguments[6])
    else {
        print("usage: sidecache-bench forwarder ADDRESS:PORT udp|tcp SECONDS CONCURRENCY NAMES")
        return
    }
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
    var configuration = ForwarderConfiguration(upstreams: [upstream])
    configuration.forceTCP = arguments[3] == "tcp"
    let forwarder = try DNSForwarder(configuration: configuration, group: group)
    let keys = (0..<names).map { CacheKey(name: try! DNSName("n\($0).bench.test"), type: .a) }
    let deadline = nowSeconds() + seconds
    let start = nowSeconds()
    let (answered, failed) = await withTaskGroup(of: (Int, Int).self) { tasks in
        for worker in 0..<concurrency {
            tasks.addTask {
                var ok = 0
                var bad = 0
                var index = worker
                while nowSeconds() < deadline {
                    if case .response = await forwarder.resolve(keys[index % keys.count]) { ok += 1 } else { bad += 1 }
                    index += concurrency
                }
                return (ok, bad)
            }
        }
        return await tasks.reduce((0, 0)) { ($0.0 + $1.0, $0.1 + $1.1) }
    }
    let elapsed = nowSeconds() - start
    print(String(format: "forwarder %@ %@: %.0f queries/s (%d answered, %d failed, %d outstanding, %d TCP connections)",
        arguments[3], upstream.description, Double(answered) / elapsed, answered, failed, concurrency,
        forwarder.statistics.tcpConnectionsOpened.load(ordering: .relaxed)))
    forwarder.shutdown()
    try await group.shutdownGracefully()
}

let arguments = CommandLine.arguments
if arguments.count > 1, arguments[1] == "forwarder" {
    try await benchForwarder(arguments)
    exit(0)
}
if arguments.count > 2, arguments[1].hasPrefix("alloc-") {
    await allocationLoop(String(arguments[1].dropFirst(6)), iterations: Int(arguments[2]) ?? 0)
    exit(0)
}
let mode = arguments.count > 1 ? arguments[1] : "all"
let iterations = arguments.count > 2 ? Int(arguments[2]) ?? 2_000_000 : 2_000_000
if mode == "codec" || mode == "all" { benchCodec(iterations: iterations) }
if mode == "cache" || mode == "all" { await benchCache(iterations: iterations, keys: 10_000) }
if mode == "memory" || mode == "all" { await benchEntryMemory(count: 100_000) }

func residentBytes() -> Int {
    guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
    let fields = text.split(separator: " ")
    return (Int(fields.count > 1 ? fields[1] : "0") ?? 0) * Int(sysconf(Int32(_SC_PAGESIZE)))
}
