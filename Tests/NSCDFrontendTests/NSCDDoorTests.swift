import DNSCache
import DNSWire
import Foundation
import NSCDFrontend
import NSCDWire
import TestSupport
import Testing

/// The nscd door in-process, on a socket in a scratch directory, in front of a scripted upstream.
@Suite(.serialized)
struct NSCDDoorTests {
    static func withDoor(
        hosts: String = "", resolv: String = "nameserver 192.0.2.53\nsearch ns.svc.cluster.local svc.cluster.local\noptions ndots:5\n",
        _ body: @Sendable (String, ScriptedUpstream, NSCDDoor) async throws -> Void
    ) async throws {
        let directory = try makeScratchDirectory("nscd")
        try hosts.write(toFile: directory + "/hosts", atomically: true, encoding: .utf8)
        try resolv.write(toFile: directory + "/resolv.conf", atomically: true, encoding: .utf8)
        let upstream = ScriptedUpstream()
        upstream.setFallback(.reply(rcode: .nameError, answers: [], authorities: [
            .soa("cluster.local", DNSRecordData.SOA(mname: "ns.cluster.local", rname: "h.cluster.local", serial: 1,
                refresh: 1, retry: 1, expire: 1, minimum: 30), ttl: 30)
        ]))
        let cache = ResponseCache(upstream: upstream)
        let resolver = HostResolver(cache: cache, hostsPath: directory + "/hosts", resolvConfPath: directory + "/resolv.conf")
        let socket = directory + "/sub/socket"
        let door = NSCDDoor(
            configuration: NSCDFrontendConfiguration(socketPath: socket, readDeadlineMilliseconds: 500),
            resolver: resolver, cache: cache)
        try door.bind()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await cache.run() }
            group.addTask { try await door.run() }
            defer { group.cancelAll() }
            try await body(socket, upstream, door)
        }
        #expect(!FileManager.default.fileExists(atPath: socket), "the socket file is removed on shutdown")
    }

    static func ask(_ socket: String, _ request: NSCDRequest) async throws -> [UInt8] {
        try await offloaded { try NSCDClient.exchange(request, socketPath: socket, timeoutMilliseconds: 3000) }
    }

    static func getai(_ name: String) -> NSCDRequest { NSCDRequest(type: .getAddressInfo, key: Array(name.utf8) + [0]) }

    @Test func socketIsCreatedWorldWritableInANewDirectory() async throws {
        try await Self.withDoor { socket, _, _ in
            var status = stat()
            #expect(stat(socket, &status) == 0)
            #expect(status.st_mode & 0o777 == 0o666)
            #expect(status.st_mode & S_IFMT == S_IFSOCK)
        }
    }

    @Test func searchListCandidatesAreAskedInGlibcOrderAndTheFirstExistingWins() async throws {
        try await Self.withDoor { socket, upstream, _ in
            upstream.answer("my-svc.svc.cluster.local", .a, [.a("my-svc.svc.cluster.local", IPv4Bytes(10, 96, 1, 1), ttl: 30)])
            upstream.answer("my-svc", .a, [.a("my-svc", IPv4Bytes(6, 6, 6, 6), ttl: 30)])
            let reply = try await Self.ask(socket, Self.getai("my-svc"))
            guard case .addresses(let canonical, _, let addresses)? = NSCDHostReply.parseAddressInfo(reply) else {
                Issue.record("no addresses: \(reply)")
                return
            }
            // glibc's walk: my-svc.ns.svc.cluster.local (NXDOMAIN), then my-svc.svc.cluster.local (found).
            #expect(canonical == "my-svc.svc.cluster.local")
            #expect(addresses == [NSCDAddress(family: 2, bytes: [10, 96, 1, 1])])
            // Exactly glibc's queries: A and AAAA of the first candidate, then of the second, which exists; the
            // bare name, which also exists, is never asked.
            #expect(upstream.queries.count == 4)
            #expect(upstream.count("my-svc", .a) == 0)
            // The second time it is a hit, answered on the accept thread: the first candidate's NXDOMAINs are cached.
            _ = try await Self.ask(socket, Self.getai("my-svc"))
            #expect(upstream.queries.count == 4)
        }
    }

    @Test func hostsFileComesFirstAndOtherDatabasesAreNotServed() async throws {
        try await Self.withDoor(hosts: "10.1.2.3 host-alias.example host-alias\n") { socket, upstream, _ in
            let reply = try await Self.ask(socket, NSCDRequest(type: .getHostByName, key: Array("host-alias\0".utf8)))
            #expect(NSCDHostReply.parseHostEnt(reply, family: 2) == .addresses(
                canonicalName: "host-alias.example", aliases: ["host-alias"], addresses: [NSCDAddress(family: 2, bytes: [10, 1, 2, 3])]))
            #expect(upstream.queries.isEmpty)
            let passwd = try await Self.ask(socket, NSCDRequest(type: .getPasswordByName, key: Array("root\0".utf8)))
            #expect(passwd.count == 36)
            #expect(passwd.nscdInt32(at: 4) == -1)
            let mapping = try await Self.ask(socket, NSCDRequest(type: .getHostsMapping, key: Array("hosts\0".utf8)))
            #expect(mapping.isEmpty)
        }
    }

    /// `nscd -i hosts` from root flushes the cache and gets the int32 0 it waits for. (Tests run as root; a
    /// non-root peer is closed without a flush, which SO_PEERCRED decides.)
    @Test func invalidateFromRootFlushesTheCache() async throws {
        guard getuid() == 0 else { return }
        try await Self.withDoor { socket, upstream, door in
            upstream.answer("cached.example.com", .a, [.a("cached.example.com", IPv4Bytes(192, 0, 2, 9), ttl: 600)])
            _ = try await Self.ask(socket, Self.getai("cached.example.com"))
            #expect(door.cache.snapshot().entries >= 1)
            let ack = try await Self.ask(socket, NSCDRequest(type: .invalidate, key: Array("hosts\0".utf8)))
            #expect(ack == [0, 0, 0, 0])
            #expect(door.cache.snapshot().entries == 0)
        }
    }

    @Test func temporaryFailureClosesInsteadOfSayingNoSuchHost() async throws {
        try await Self.withDoor { socket, upstream, door in
            upstream.setFallback(.fail(.timeout))
            let reply = try await Self.ask(socket, Self.getai("down.example.com"))
            #expect(reply.isEmpty)
            #expect(door.statistics.fallbacks.load(ordering: .relaxed) == 1)
        }
    }

    /// A first candidate that times out ends the walk as glibc's does (a temporary failure, so glibc resolves by
    /// itself), even though a later candidate would answer; one that answers SERVFAIL moves it on, as glibc's
    /// `got_servfail` does. Nothing about the name is cached as negative either way.
    @Test func aTimedOutCandidateEndsTheWalkAndASERVFAILMovesItOn() async throws {
        try await Self.withDoor { socket, upstream, _ in
            for type in [DNSType.a, .aaaa] {
                upstream.set("slow.ns.svc.cluster.local", type, .delay(nanoseconds: 100_000_000, then: .init(.fail(.timeout))))
                upstream.set("flaky.ns.svc.cluster.local", type, .reply(rcode: .serverFailure, answers: [], authorities: []))
            }
            upstream.answer("slow.svc.cluster.local", .a, [.a("slow.svc.cluster.local", IPv4Bytes(10, 96, 2, 1), ttl: 30)])
            upstream.answer("flaky.svc.cluster.local", .a, [.a("flaky.svc.cluster.local", IPv4Bytes(10, 96, 2, 2), ttl: 30)])
            #expect(try await Self.ask(socket, Self.getai("slow")).isEmpty, "a timeout is never turned into an answer")
            #expect(upstream.count("slow.svc.cluster.local", .a) == 0, "the walk stopped at the timed-out candidate")
            let reply = try await Self.ask(socket, Self.getai("flaky"))
            guard case .addresses(_, _, let addresses)? = NSCDHostReply.parseAddressInfo(reply) else {
                Issue.record("flaky: \(reply)")
                return
            }
            #expect(addresses == [NSCDAddress(family: 2, bytes: [10, 96, 2, 2])])
        }
    }

    /// glibc stops at a candidate whose reply has records but no address (an alias whose target does not resolve
    /// here) and reports HOST_NOT_FOUND; it never goes on to a later candidate that has an address.
    @Test func anAliasWithoutAddressEndsTheWalkAsNotFound() async throws {
        try await Self.withDoor { socket, upstream, _ in
            upstream.answer("ext.ns.svc.cluster.local", .a, [.cname("ext.ns.svc.cluster.local", "gone.elsewhere", ttl: 30)])
            upstream.answer("ext.svc.cluster.local", .a, [.a("ext.svc.cluster.local", IPv4Bytes(6, 6, 6, 6), ttl: 30)])
            let reply = try await Self.ask(socket, NSCDRequest(type: .getHostByName, key: Array("ext\0".utf8)))
            #expect(NSCDHostReply.parseHostEnt(reply, family: 2) == .notFound(error: 1))
            #expect(upstream.count("ext.svc.cluster.local", .a) == 0)
        }
    }

    /// A name tried as-is first (at least ndots dots) keeps that try's error: NXDOMAIN as-is, then NODATA in the
    /// search list, is HOST_NOT_FOUND, as glibc's `saved_herrno` makes it; without the as-is try first, NODATA wins.
    @Test func theAsIsFirstTryDecidesTheError() async throws {
        let resolv = "nameserver 192.0.2.53\nsearch ns.svc.cluster.local\noptions ndots:1\n"
        try await Self.withDoor(resolv: resolv) { socket, upstream, _ in
            upstream.set("a.b.ns.svc.cluster.local", .a, .reply(rcode: .noError, answers: [], authorities: [
                .soa("cluster.local", DNSRecordData.SOA(mname: "ns.cluster.local", rname: "h.cluster.local", serial: 1,
                    refresh: 1, retry: 1, expire: 1, minimum: 30), ttl: 30)]))
            upstream.set("nodots.ns.svc.cluster.local", .a, .reply(rcode: .noError, answers: [], authorities: [
                .soa("cluster.local", DNSRecordData.SOA(mname: "ns.cluster.local", rname: "h.cluster.local", serial: 1,
                    refresh: 1, retry: 1, expire: 1, minimum: 30), ttl: 30)]))
            let dotted = try await Self.ask(socket, NSCDRequest(type: .getHostByName, key: Array("a.b\0".utf8)))
            #expect(NSCDHostReply.parseHostEnt(dotted, family: 2) == .notFound(error: 1))
            let bare = try await Self.ask(socket, NSCDRequest(type: .getHostByName, key: Array("nodots\0".utf8)))
            #expect(NSCDHostReply.parseHostEnt(bare, family: 2) == .notFound(error: 4))
        }
    }

    /// 32 search domains (glibc 2.26+ keeps them all): the name that exists only as-is is found after 32 NXDOMAIN
    /// candidates, and meanwhile another miss, which exists in the first domain, is answered at once (the walks
    /// run side by side).
    @Test func aSearchListOf32DomainsIsWalkedWholeWithoutBlockingOthers() async throws {
        let domains = (1...32).map { "d\($0).example" }.joined(separator: " ")
        try await Self.withDoor(resolv: "nameserver 192.0.2.53\nsearch \(domains)\noptions ndots:5\n") { socket, upstream, _ in
            upstream.answer("quick.d1.example", .a, [.a("quick.d1.example", IPv4Bytes(10, 0, 0, 1), ttl: 60)])
            for index in 1...32 {
                upstream.set(try DNSName("far.d\(index).example"), .a, .delay(nanoseconds: 5_000_000, then: .init(.reply(rcode: .nameError, answers: [], authorities: [
                    .soa("example", DNSRecordData.SOA(mname: "ns.example", rname: "h.example", serial: 1, refresh: 1, retry: 1, expire: 1, minimum: 30), ttl: 30)]))))
            }
            upstream.answer("far", .a, [.a("far", IPv4Bytes(10, 0, 0, 33), ttl: 60)])
            async let far = Self.ask(socket, NSCDRequest(type: .getHostByName, key: Array("far\0".utf8)))
            try await Task.sleep(nanoseconds: 20_000_000)
            let started = ContinuousClock.now
            let quick = try await Self.ask(socket, NSCDRequest(type: .getHostByName, key: Array("quick\0".utf8)))
            let waited = ContinuousClock.now - started
            #expect(NSCDHostReply.parseHostEnt(quick, family: 2) != nil)
            #expect(waited < .milliseconds(100), "another miss waited \(waited) behind the long walk")
            let farReply = try await far
            guard case .addresses(_, _, let addresses)? = NSCDHostReply.parseHostEnt(farReply, family: 2) else {
                Issue.record("far: \(farReply)")
                return
            }
            #expect(addresses == [NSCDAddress(family: 2, bytes: [10, 0, 0, 33])])
            #expect((1...32).allSatisfy { upstream.count((try? DNSName("far.d\($0).example"))!, .a) == 1 })
        }
    }

    /// A name with 300 addresses: every one comes back through the socket, in one reply.
    @Test func aNameWithHundredsOfAddressesIsAnsweredWhole() async throws {
        try await Self.withDoor { socket, upstream, _ in
            let name: DNSName = "big.ns.svc.cluster.local"
            upstream.answer(name, .a, (0..<300).map { .a(name, IPv4Bytes(10, 1, UInt8($0 / 256), UInt8($0 % 256)), ttl: 30) })
            let reply = try await Self.ask(socket, NSCDRequest(type: .getHostByName, key: Array("big\0".utf8)))
            guard case .addresses(_, _, let addresses)? = NSCDHostReply.parseHostEnt(reply, family: 2) else {
                Issue.record("big: \(reply.count) octets")
                return
            }
            #expect(Set(addresses.map(\.bytes)).count == 300)
        }
    }

    @Test func malformedRequestsCloseOnlyTheirConnection() async throws {
        try await Self.withDoor { socket, upstream, door in
            upstream.answer("good.example.com", .a, [.a("good.example.com", IPv4Bytes(192, 0, 2, 7), ttl: 60)])
            let garbage: [[UInt8]] = [
                [UInt8](hex: "01000000 0e000000 02000000 6100"),  // version 1
                [UInt8](hex: "02000000 63000000 02000000 6100"),  // unknown type
                [UInt8](hex: "02000000 0e000000 ffff0000"),  // key length 65535
                [UInt8](hex: "02000000 0e000000 03000000 616263"),  // key without NUL
                [UInt8](hex: "0200"),  // half a header, then nothing
            ]
            for bytes in garbage {
                let reply = try await offloaded { try RawClient.send(bytes, to: socket) }
                #expect(reply.isEmpty)
            }
            let good = try await Self.ask(socket, Self.getai("good.example.com"))
            #expect(NSCDHostReply.parseAddressInfo(good) != nil)
            #expect(door.statistics.malformed.load(ordering: .relaxed) >= 4)
        }
    }

    /// 10,000 connections that send nothing: the slow lane holds at most its capacity and closes the rest; a good
    /// client keeps being answered at once.
    @Test func tenThousandSilentConnectionsDoNotHoldUpAGoodClient() async throws {
        try await Self.withDoor { socket, upstream, door in
            upstream.answer("good.example.com", .a, [.a("good.example.com", IPv4Bytes(192, 0, 2, 7), ttl: 600)])
            _ = try await Self.ask(socket, Self.getai("good.example.com"))
            let silent = try await offloaded { try RawClient.connectMany(10_000, to: socket) }
            defer { for fd in silent { close(fd) } }
            var slowest = 0.0
            for _ in 0..<20 {
                let started = Date()
                let reply = try await Self.ask(socket, Self.getai("good.example.com"))
                slowest = max(slowest, Date().timeIntervalSince(started))
                #expect(NSCDHostReply.parseAddressInfo(reply) != nil)
            }
            #expect(slowest < 0.5, "a good lookup took \(slowest) s")
            try await Task.sleep(nanoseconds: 800_000_000)
            // Past the read deadline every silent connection has been closed by the door.
            #expect(door.statistics.slowClosed.load(ordering: .relaxed) >= 9_000)
        }
    }
}

/// A client that sends raw bytes, for malformed-input tests.
enum RawClient {
    static func connect(_ path: String) throws -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            for (i, byte) in path.utf8.enumerated() { buffer[i] = byte }
        }
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard result == 0 else {
            close(fd)
            throw TestFailure("connect: \(errno)")
        }
        return fd
    }

    static func send(_ bytes: [UInt8], to path: String) throws -> [UInt8] {
        let fd = try connect(path)
        defer { close(fd) }
        _ = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        var reply: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1024)
        while true {
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&poller, 1, 3000) > 0 else { throw TestFailure("the door neither answered nor closed") }
            let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count <= 0 { return reply }
            reply += chunk[0..<count]
        }
    }

    static func connectMany(_ count: Int, to path: String) throws -> [Int32] {
        var fds: [Int32] = []
        for _ in 0..<count {
            guard let fd = try? connect(path) else { break }
            fds.append(fd)
        }
        guard fds.count == count else {
            for fd in fds { close(fd) }
            throw TestFailure("only \(fds.count) of \(count) connections opened")
        }
        return fds
    }
}

/// Requests that arrive in pieces go through the slow lane; a first piece shorter than the header must be judged
/// without reading past it (this once trapped).
@Suite(.serialized)
struct NSCDSlowLaneTests {
    @Test func requestsInPiecesAreAnsweredAndShortGarbageIsClosed() async throws {
        try await NSCDDoorTests.withDoor { socket, upstream, door in
            upstream.answer("piece.example.com", .a, [.a("piece.example.com", IPv4Bytes(192, 0, 2, 11), ttl: 60)])
            let request = NSCDDoorTests.getai("piece.example.com").encode()
            for split in [1, 3, 5, 9, 11, 12, 14] {
                let reply = try await offloaded { try RawClient.sendInPieces(request, splitAt: split, to: socket) }
                #expect(NSCDHostReply.parseAddressInfo(reply) != nil, "split at \(split)")
            }
            // A short first piece of garbage, then more garbage: closed, the door stays up.
            for garbage: [UInt8] in [[7], [1, 0, 0, 0, 9], [2, 0, 0, 0, 99, 0, 0]] {
                let reply = try await offloaded { try RawClient.sendInPieces(garbage + [UInt8](repeating: 0xFF, count: 40), splitAt: garbage.count, to: socket) }
                #expect(reply.isEmpty)
            }
            let good = try await NSCDDoorTests.ask(socket, NSCDDoorTests.getai("piece.example.com"))
            #expect(NSCDHostReply.parseAddressInfo(good) != nil)
            #expect(door.statistics.malformed.load(ordering: .relaxed) >= 3)
        }
    }
}

extension RawClient {
    /// Sends `bytes` in two writes 50 ms apart, so the first piece is all the door sees at accept time.
    static func sendInPieces(_ bytes: [UInt8], splitAt split: Int, to path: String) throws -> [UInt8] {
        let fd = try connect(path)
        defer { close(fd) }
        _ = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, split, Int32(MSG_NOSIGNAL)) }
        usleep(50_000)
        _ = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + split, bytes.count - split, Int32(MSG_NOSIGNAL)) }
        var reply: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1024)
        while true {
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&poller, 1, 3000) > 0 else { throw TestFailure("the door neither answered nor closed") }
            let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count <= 0 { return reply }
            reply += chunk[0..<count]
        }
    }
}
