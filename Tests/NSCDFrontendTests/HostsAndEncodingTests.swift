import DNSCache
import DNSWire
import Foundation
import NSCDFrontend
import NSCDWire
import TestSupport
import Testing

struct HostsAndEncodingTests {
    @Test func hostsFileFollowsNssFilesRules() async throws {
        let directory = try makeScratchDirectory("hosts")
        let path = directory + "/hosts"
        try """
            # comment
            127.0.0.1   localhost
            10.0.0.5    web.internal   web  # trailing comment
            fd00::5     web.internal
            10.0.0.6    WEB.internal
            not-an-address   broken
            """.write(toFile: path, atomically: true, encoding: .utf8)
        let hosts = HostsFile(path: path)
        let web = try #require(hosts.lookup(name: "WEB"))
        #expect(web.canonicalName == "web.internal")
        #expect(web.v4 == [[10, 0, 0, 5]])
        #expect(try #require(hosts.lookup(name: "web.internal.")).v4 == [[10, 0, 0, 5], [10, 0, 0, 6]])
        #expect(try #require(hosts.lookup(name: "web.internal")).v6.count == 1)
        #expect(hosts.lookup(name: "broken") == nil)
        #expect(hosts.lookup(address: [10, 0, 0, 5])?.canonicalName == "web.internal")
        #expect(hosts.lookup(address: [10, 0, 0, 5])?.aliases == ["web"])
        // Re-read when the file changes (the check runs at most once a second).
        try "10.1.1.1 other\n".write(toFile: path, atomically: true, encoding: .utf8)
        try await Task.sleep(nanoseconds: 1_100_000_000)
        #expect(hosts.lookup(name: "web") == nil)
        #expect(hosts.lookup(name: "other")?.v4 == [[10, 1, 1, 1]])
    }

    /// An AF_INET lookup reads `::1` as 127.0.0.1 and `::ffff:a.b.c.d` as a.b.c.d, line by line, repeats kept
    /// (nss_files), so `localhost` on Debian's hosts file is 127.0.0.1 twice, as glibc alone returns it.
    @Test func anIPv4LookupReadsLoopbackAndMappedIPv6LinesAsNssFilesDoes() throws {
        let directory = try makeScratchDirectory("hosts-inet")
        let path = directory + "/hosts"
        try "127.0.0.1   localhost\n::1         localhost ip6-localhost ip6-loopback\n::ffff:10.0.0.9  mapped\nfd00::9     mapped\n"
            .write(toFile: path, atomically: true, encoding: .utf8)
        let hosts = HostsFile(path: path)
        let localhost = try #require(hosts.lookup(name: "localhost"))
        #expect(localhost.inet == [[127, 0, 0, 1], [127, 0, 0, 1]])
        #expect(localhost.v4 == [[127, 0, 0, 1]])
        #expect(localhost.v6.count == 1)
        #expect(try #require(hosts.lookup(name: "ip6-localhost")).inet == [[127, 0, 0, 1]])
        #expect(try #require(hosts.lookup(name: "mapped")).inet == [[10, 0, 0, 9]])
        // A name whose first line is an IPv6 address nss_files skips for AF_INET takes its name from the next.
        try "fd00::7 first-v6 shared\n10.0.0.7 first-v4 shared\n".write(toFile: path, atomically: true, encoding: .utf8)
        let fresh = HostsFile(path: path)
        #expect(fresh.lookup(name: "shared")?.canonicalName == "first-v6")
        #expect(fresh.lookup(name: "shared")?.inetCanonicalName == "first-v4")
    }

    static let getai = NSCDRequest(type: .getAddressInfo, key: Array("svc\0".utf8))
    static let byName = NSCDRequest(type: .getHostByName, key: Array("svc\0".utf8))
    static let byName6 = NSCDRequest(type: .getHostByNameV6, key: Array("svc\0".utf8))
    static let answer = HostAnswer(
        canonicalName: "svc.ns.svc.cluster.local", aliases: ["svc-alias.ns.svc.cluster.local"],
        v4: [[10, 0, 0, 1], [10, 0, 0, 2]], v6: [[UInt8](repeating: 0, count: 15) + [1]])

    @Test func encodesFoundAnswersPerRequestType() throws {
        let ai = try #require(NSCDDoor.encode(Self.getai, .found(Self.answer)))
        guard case .addresses(let canonical, _, let addresses)? = NSCDHostReply.parseAddressInfo(ai) else {
            Issue.record("bad GETAI reply")
            return
        }
        #expect(canonical == "svc.ns.svc.cluster.local")
        #expect(addresses.map(\.family) == [2, 2, 10])
        let v4 = try #require(NSCDDoor.encode(Self.byName, .found(Self.answer)))
        #expect(NSCDHostReply.parseHostEnt(v4, family: 2) == .addresses(
            canonicalName: "svc.ns.svc.cluster.local", aliases: ["svc-alias.ns.svc.cluster.local"],
            addresses: [NSCDAddress(family: 2, bytes: [10, 0, 0, 1]), NSCDAddress(family: 2, bytes: [10, 0, 0, 2])]))
        // v6 types always answer AF_INET6 with 16-octet addresses.
        let v6 = try #require(NSCDDoor.encode(Self.byName6, .found(Self.answer)))
        #expect(v6.nscdInt32(at: 16) == 10)
        #expect(v6.nscdInt32(at: 20) == 16)
    }

    @Test func negativesKeepNODATAApartAndFailuresCloseSilently() {
        #expect(NSCDDoor.encode(Self.byName, .notFound(noData: true))?.nscdInt32(at: 28) == NSCDHostError.noData.rawValue)
        #expect(NSCDDoor.encode(Self.byName, .notFound(noData: false))?.nscdInt32(at: 28) == NSCDHostError.hostNotFound.rawValue)
        #expect(NSCDDoor.encode(Self.getai, .notFound(noData: false))?.nscdInt32(at: 4) == 0)
        // A temporary failure is never "no such host": no reply at all, glibc resolves by itself.
        #expect(NSCDDoor.encode(Self.getai, .temporaryFailure) == nil)
        #expect(NSCDDoor.encode(Self.byName, .temporaryFailure) == nil)
        // A name with only IPv6 addresses asked by GETHOSTBYNAME is NODATA.
        var v6only = Self.answer
        v6only.v4 = []
        #expect(NSCDDoor.encode(Self.byName, .found(v6only))?.nscdInt32(at: 28) == NSCDHostError.noData.rawValue)
    }
}

struct SearchPlanTests {
    /// The resolver keeps each name's search walk (candidates and cache keys) between requests; a change of
    /// resolv.conf must still reach the very next lookup after the file's stamp is checked again (once a second).
    @Test func aChangedSearchListReachesTheWalk() async throws {
        let directory = try makeScratchDirectory("plans")
        let resolv = directory + "/resolv.conf"
        try "nameserver 192.0.2.53\nsearch one.test\noptions ndots:5\n".write(toFile: resolv, atomically: true, encoding: .utf8)
        let upstream = ScriptedUpstream()
        upstream.answer("web.one.test", .a, [.a("web.one.test", IPv4Bytes(192, 0, 2, 1), ttl: 300)])
        upstream.answer("web.two.test", .a, [.a("web.two.test", IPv4Bytes(192, 0, 2, 2), ttl: 300)])
        let cache = ResponseCache(upstream: upstream)
        let resolver = HostResolver(cache: cache, hostsPath: directory + "/hosts", resolvConfPath: resolv)
        guard case .found(let first) = await resolver.lookup("web", families: .v4) else {
            Issue.record("web did not resolve through one.test")
            return
        }
        #expect(first.v4 == [[192, 0, 2, 1]])
        #expect(resolver.cachedLookup("web", families: .v4) == .found(first))
        try await Task.sleep(nanoseconds: 1_100_000_000)
        try "nameserver 192.0.2.53\nsearch two.test\noptions ndots:5\n".write(toFile: resolv, atomically: true, encoding: .utf8)
        guard case .found(let second) = await resolver.lookup("web", families: .v4) else {
            Issue.record("web did not resolve through two.test")
            return
        }
        #expect(second.v4 == [[192, 0, 2, 2]])
        #expect(resolver.cachedLookup("web", families: .v4) == .found(second))
    }
}
