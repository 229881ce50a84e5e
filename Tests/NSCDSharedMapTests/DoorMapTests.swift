import DNSCache
import DNSWire
import Foundation
import NSCDFrontend
import NSCDSharedMap
import NSCDWire
import TestSupport
import Testing

/// The nscd door with its map, in-process, over a scripted upstream and a manual clock: what the socket answers is
/// what the map holds, byte for byte; deadlines, prefetch and failures seen from the map's side; GETFDHST on the wire.
@Suite(.serialized)
struct DoorMapTests {
    static func withDoor(
        rotation: UInt64 = 0, publishing: SharedMapPublishing = .singleAddress,
        resolvConf: String = "nameserver 192.0.2.53\noptions ndots:1\n",
        _ body: @Sendable (String, ScriptedUpstream, NSCDDoor, ManualClock) async throws -> Void
    ) async throws {
        let directory = try makeScratchDirectory("door-map")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try "".write(toFile: directory + "/hosts", atomically: true, encoding: .utf8)
        try resolvConf.write(toFile: directory + "/resolv.conf", atomically: true, encoding: .utf8)
        let upstream = ScriptedUpstream()
        upstream.setFallback(.fail(.timeout))
        let clock = ManualClock()
        let cache = ResponseCache(upstream: upstream, clock: clock)
        let resolver = HostResolver(cache: cache, hostsPath: directory + "/hosts", resolvConfPath: directory + "/resolv.conf")
        let map = try SharedHostsMap(
            configuration: SharedMapConfiguration(
                path: directory + "/private/hosts.map", dataSize: 64 << 10, publishing: publishing, rotationPeriod: rotation),
            wall: Int64(time(nil)))
        let socket = directory + "/socket"
        let door = NSCDDoor(
            configuration: NSCDFrontendConfiguration(socketPath: socket, readDeadlineMilliseconds: 500),
            resolver: resolver, cache: cache, sharedMap: map)
        try door.bind()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await cache.run() }
            group.addTask { try await door.run() }
            defer { group.cancelAll() }
            try await body(socket, upstream, door, clock)
        }
    }

    static func ask(_ socket: String, _ request: NSCDRequest) async throws -> [UInt8] {
        try await offloaded { try NSCDClient.exchange(request, socketPath: socket, timeoutMilliseconds: 3000) }
    }

    static func getai(_ name: String) -> NSCDRequest { NSCDRequest(type: .getAddressInfo, key: Array(name.utf8) + [0]) }

    static func mapped(_ door: NSCDDoor, _ request: NSCDRequest) -> [UInt8]? {
        MapReader(bytes: door.sharedMap?.snapshot() ?? []).lookup(type: UInt8(request.type.rawValue), key: request.key)
    }

    /// Polls (the map's timer thread works on its own) for up to 3 s.
    static func eventually(_ condition: @Sendable () -> Bool) async throws -> Bool {
        for _ in 0..<300 {
            if condition() { return true }
            try await Task.sleep(nanoseconds: 10_000_000)
        }
        return condition()
    }

    /// As shipped, a name with one address per family goes into the map; one with several stays with the socket,
    /// whose answers are shuffled per call.
    @Test func singleAddressNamesAreMappedAndSeveralAddressesAreNot() async throws {
        try await Self.withDoor { socket, upstream, door, _ in
            upstream.answer("svc.test", .a, [.a("svc.test", IPv4Bytes(10, 96, 0, 7), ttl: 60)])
            upstream.answer("svc.test", .aaaa, [.aaaa("svc.test", IPv6Bytes("2001:db8::7")!, ttl: 60)])
            upstream.answer("web.test", .a, [
                .a("web.test", IPv4Bytes(192, 0, 2, 1), ttl: 60), .a("web.test", IPv4Bytes(192, 0, 2, 2), ttl: 60),
            ])
            upstream.answer("web.test", .aaaa, [.aaaa("web.test", IPv6Bytes("2001:db8::1")!, ttl: 60)])
            let single = Self.getai("svc.test")
            let singleReply = try await Self.ask(socket, single)
            let several = [Self.getai("web.test"), NSCDRequest(type: .getHostByName, key: Array("web.test\0".utf8))]
            for request in several { _ = try await Self.ask(socket, request) }
            // The one-address v6 list of web.test does not make GETHOSTBYNAMEv6 a multi-address record.
            let v6 = NSCDRequest(type: .getHostByNameV6, key: Array("web.test\0".utf8))
            let v6Reply = try await Self.ask(socket, v6)
            let published = try await Self.eventually { Self.mapped(door, single) != nil && Self.mapped(door, v6) != nil }
            #expect(published)
            #expect(Self.mapped(door, single) == singleReply)
            #expect(Self.mapped(door, v6) == v6Reply)
            try await Task.sleep(nanoseconds: 200_000_000)  // long past their own publish moment
            for request in several { #expect(Self.mapped(door, request) == nil, "\(request.type) of web.test is mapped") }
        }
    }

    @Test func theMapHoldsExactlyWhatTheSocketAnswered() async throws {
        try await Self.withDoor(publishing: .all) { socket, upstream, door, _ in
            upstream.answer("web.test", .a, [
                .a("web.test", IPv4Bytes(192, 0, 2, 1), ttl: 60), .a("web.test", IPv4Bytes(192, 0, 2, 2), ttl: 60),
            ])
            upstream.answer("web.test", .aaaa, [.aaaa("web.test", IPv6Bytes("2001:db8::1")!, ttl: 60)])
            let request = Self.getai("web.test")
            let reply = try await Self.ask(socket, request)
            #expect(!reply.isEmpty)
            let published = try await Self.eventually { Self.mapped(door, request) != nil }
            #expect(published)
            #expect(Self.mapped(door, request) == reply, "map and socket never disagree")
            let v4 = NSCDRequest(type: .getHostByName, key: request.key)
            let v4Reply = try await Self.ask(socket, v4)
            // Published just after the reply went out: wait for it.
            let v4Published = try await Self.eventually { Self.mapped(door, v4) != nil }
            #expect(v4Published)
            #expect(Self.mapped(door, v4) == v4Reply, "GETHOSTBYNAME is a separate key with its own record")
        }
    }

    /// Flushing a name (root's INVALIDATE, `sidecache flush NAME`) also drops the records of the short names the
    /// search list expanded to it; other names stay.
    @Test(.enabled(if: geteuid() == 0, "INVALIDATE is accepted from root only"))
    func flushingANameDropsItsSearchListRecords() async throws {
        let resolvConf = "nameserver 192.0.2.53\nsearch ns.svc.test svc.test\noptions ndots:2\n"
        try await Self.withDoor(resolvConf: resolvConf) { socket, upstream, door, _ in
            for name: DNSName in ["foo.ns.svc.test", "bar.ns.svc.test"] {
                upstream.answer(name, .a, [.a(name, IPv4Bytes(192, 0, 2, 7), ttl: 60)])
                upstream.answer(name, .aaaa, [.aaaa(name, IPv6Bytes("2001:db8::7")!, ttl: 60)])
            }
            let short = Self.getai("foo"), full = Self.getai("foo.ns.svc.test"), other = Self.getai("bar")
            for request in [short, full, other] { _ = try await Self.ask(socket, request) }
            let published = try await Self.eventually { [short, full, other].allSatisfy { Self.mapped(door, $0) != nil } }
            #expect(published, "\([short, full, other].map { Self.mapped(door, $0) != nil })")
            let reply = try await Self.ask(socket, NSCDRequest(type: .invalidate, key: Array("FOO.ns.svc.test.".utf8) + [0]))
            #expect(reply == [0, 0, 0, 0])
            #expect(Self.mapped(door, full) == nil)
            #expect(Self.mapped(door, short) == nil, "foo was answered through the flushed name")
            #expect(Self.mapped(door, other) != nil)
        }
    }

    @Test func negativesOnlyForRealNXDomainAndNeverForFailures() async throws {
        try await Self.withDoor { socket, upstream, door, _ in
            upstream.set("gone.test", .a, .reply(rcode: .nameError, answers: [], authorities: [
                .soa("test", DNSRecordData.SOA(mname: "ns.test", rname: "h.test", serial: 1, refresh: 1, retry: 1,
                    expire: 1, minimum: 30), ttl: 30)
            ]))
            let gone = NSCDRequest(type: .getHostByName, key: Array("gone.test\0".utf8))
            let reply = try await Self.ask(socket, gone)
            #expect(NSCDHostReply.parseHostEnt(reply, family: 2) == .notFound(error: 1))
            #expect(try await Self.eventually { Self.mapped(door, gone) != nil })
            #expect(Self.mapped(door, gone) == reply)
            // The upstream times out: the socket closes (glibc resolves by itself), the map gets nothing.
            let down = NSCDRequest(type: .getHostByName, key: Array("down.test\0".utf8))
            #expect(try await Self.ask(socket, down).isEmpty)
            try await Task.sleep(nanoseconds: 50_000_000)
            #expect(Self.mapped(door, down) == nil)
        }
    }

    @Test func theRecordGoesAtItsDeadlineAndAPrefetchedAnswerReplacesIt() async throws {
        try await Self.withDoor { socket, upstream, door, clock in
            upstream.answer("short.test", .a, [.a("short.test", IPv4Bytes(192, 0, 2, 1), ttl: 5)])
            let short = NSCDRequest(type: .getHostByName, key: Array("short.test\0".utf8))
            _ = try await Self.ask(socket, short)
            #expect(try await Self.eventually { Self.mapped(door, short) != nil })
            // TTL 5 is below the prefetch minimum (10 s): nothing refreshes it, it goes at the deadline.
            clock.advance(seconds: 4.99)
            door.sharedMap?.publish(SharedMapKey(type: 0, key: [0]), SharedMapRecord(deadline: .max, refreshAt: nil,
                variants: 1, negative: false, fingerprint: [], render: { _ in [0] }), now: clock.now, wall: 0)  // wakes the timer
            try await Task.sleep(nanoseconds: 50_000_000)
            #expect(Self.mapped(door, short) != nil, "still usable 10 ms before the deadline")
            clock.advance(seconds: 0.01)
            #expect(try await Self.eventually { Self.mapped(door, short) == nil }, "unusable at the deadline")

            // TTL 30: at 27 s (the last 10%) the map asks the engine, whose prefetch fetches the new answer; at the
            // deadline the map publishes it without any client asking the socket.
            upstream.answer("hot.test", .a, [.a("hot.test", IPv4Bytes(192, 0, 2, 1), ttl: 30)])
            let hot = NSCDRequest(type: .getHostByName, key: Array("hot.test\0".utf8))
            let first = try await Self.ask(socket, hot)
            #expect(try await Self.eventually { Self.mapped(door, hot) == first })
            upstream.answer("hot.test", .a, [.a("hot.test", IPv4Bytes(192, 0, 2, 2), ttl: 30)])
            let requestsBefore = door.statistics.requests()[.getHostByName] ?? 0
            clock.advance(seconds: 27.5)
            #expect(try await Self.eventually { upstream.count("hot.test", .a) == 2 }, "prefetch started by the map")
            #expect(Self.mapped(door, hot) == first, "the old answer is still true until its deadline")
            clock.advance(seconds: 2.5)
            #expect(try await Self.eventually {
                Self.mapped(door, hot).map { NSCDHostReply.parseHostEnt($0, family: 2) }
                    == .addresses(canonicalName: "hot.test", aliases: [], addresses: [NSCDAddress(family: 2, bytes: [192, 0, 2, 2])])
            })
            #expect(door.statistics.requests()[.getHostByName] ?? 0 == requestsBefore, "no client needed the socket")
        }
    }

    @Test func getfdhstSendsTheKeyTheSizeAndOneReadOnlyDescriptor() async throws {
        try await Self.withDoor { socket, _, door, _ in
            let received = try await offloaded { try receiveMapping(socket) }
            defer { close(received.descriptor) }
            #expect(Array(received.bytes.prefix(6)) == Array("hosts\0".utf8))
            #expect(received.bytes.count == 14)
            let mapSize = received.bytes[6..<14].enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
            #expect(received.controlLength == 20, "cmsg_len = CMSG_LEN(sizeof(int)), as glibc requires")
            var status = stat()
            #expect(fstat(received.descriptor, &status) == 0 && Int(status.st_size) >= mapSize)
            let base = try #require(mmap(nil, mapSize, PROT_READ, MAP_SHARED, received.descriptor, 0))
            #expect(base != MAP_FAILED)
            defer { munmap(base, mapSize) }
            let header = MapReader(bytes: Array(UnsafeRawBufferPointer(start: base, count: 128)))
            #expect(header.version == 2 && header.headerSize == 120 && header.module == 211)
            #expect(mapSize >= 968 + header.dataSize)
            #expect(door.sharedMap?.statistics.handouts.load(ordering: .relaxed) == 1)
        }
    }
}

/// Sends GETFDHST and receives the reply as glibc's `__nscd_get_mapping` does (recvmsg with room for one fd).
func receiveMapping(_ path: String) throws -> (bytes: [UInt8], descriptor: Int32, controlLength: Int) {
    let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw TestFailure("socket") }
    defer { close(fd) }
    var address = sockaddr_un()
    address.sun_family = sa_family_t(AF_UNIX)
    withUnsafeMutableBytes(of: &address.sun_path) { buffer in
        for (i, byte) in path.utf8.enumerated() { buffer[i] = byte }
    }
    let connected = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
    }
    guard connected == 0 else { throw TestFailure("connect") }
    let request = NSCDRequest(type: .getHostsMapping, key: Array("hosts\0".utf8)).encode()
    guard request.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, 0) }) == request.count else { throw TestFailure("send") }
    var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
    guard poll(&poller, 1, 3000) == 1 else { throw TestFailure("no reply") }
    var data = [UInt8](repeating: 0, count: 64)
    // struct cmsghdr on x86_64: size_t cmsg_len, int level, int type, then the data: 16 + 4, in a 24-octet buffer.
    var control = [UInt8](repeating: 0, count: 24)
    let count = data.withUnsafeMutableBytes { dataBuffer in
        control.withUnsafeMutableBytes { controlBuffer in
            var vector = iovec(iov_base: dataBuffer.baseAddress, iov_len: dataBuffer.count)
            return withUnsafeMutablePointer(to: &vector) { vectorPointer in
                var message = msghdr()
                message.msg_iov = vectorPointer
                message.msg_iovlen = 1
                message.msg_control = controlBuffer.baseAddress
                message.msg_controllen = 20
                return recvmsg(fd, &message, Int32(MSG_CMSG_CLOEXEC))
            }
        }
    }
    guard count > 0 else { throw TestFailure("recvmsg: \(count)") }
    let length = control.withUnsafeBytes { $0.load(as: Int.self) }
    let level = control.withUnsafeBytes { $0.load(fromByteOffset: 8, as: Int32.self) }
    let type = control.withUnsafeBytes { $0.load(fromByteOffset: 12, as: Int32.self) }
    let descriptor = control.withUnsafeBytes { $0.load(fromByteOffset: 16, as: Int32.self) }
    guard level == SOL_SOCKET, type == Int32(SCM_RIGHTS) else { throw TestFailure("no SCM_RIGHTS message") }
    return (Array(data[0..<count]), descriptor, length)
}
