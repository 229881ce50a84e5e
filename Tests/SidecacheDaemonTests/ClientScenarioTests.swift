import Foundation
import TestSupport
import Testing

/// The repository root, from this file's path.
let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().path

/// The daemon binary the README's test command builds (`swift build && swift test`).
func sidecacheBinary() throws -> String {
    for configuration in ["debug", "release"] {
        let path = "\(repositoryRoot)/.build/\(configuration)/sidecache"
        if FileManager.default.isExecutableFile(atPath: path) { return path }
    }
    throw TestFailure("no sidecache binary under .build: run `swift build` first (the README's test command does)")
}

/// Real clients in network+mount namespaces the scripts make (Tests/Scenarios):
/// - dns-door-clients.sh: a musl-built C program and a pure-Go program resolve through the DNS door on 127.0.0.1:53;
/// - dns-door-flood.sh: a one-socket flood of garbage, hits and misses does not starve other clients of the DNS door;
///   garbage gets FORMERR or nothing, and the door recovers after it;
/// - nscd-door-glibc.sh: real glibc (getent and a C program) through the nscd socket, compared with what glibc gets
///   without it, with a resolv.conf on which glibc's own fallback cannot succeed;
/// - ttl-exactness.sh: a TTL-2 record changed upstream is new on both doors within 50 ms of its expiry;
/// - pod-*.sh: a pod (Tests/Scenarios/pod-lib.sh: the cluster search list, ndots:5, a hostAlias, sidecache on
///   127.0.0.1:53 and /var/run/nscd/socket) whose cluster DNS (knotd) sits behind a veth in a second namespace:
///   search-list names and round robin (pod-search-list.sh), TTL exactness and the thundering herd (pod-ttl-herd.sh),
///   upstream outage, SIGKILL restart and SIGTERM drain while clients loop (pod-faults.sh); glibc, musl and Go clients;
/// - shared-map-glibc.sh: real glibc reads the shared-memory hosts map: hits send nothing to the socket, expiry within
///   50 ms, flat rotation, restart and kill -9 while clients loop, swaps, bad input;
/// - image-glibc-bullseye.sh: the sidecar image (Dockerfile.sidecar's final stage, built offline as an OCI image)
///   run by crun as uid 65532 next to a Debian 11 container whose glibc 2.31 resolves through the socket and the map.
/// The Debian packages the scripts use are installed first (SystemPackages, once per run).
@Suite(.serialized, .enabled(if: runningAsRoot, "needs root for network namespaces and port 53 (CI runs as root)"))
struct ClientScenarioTests {
    static func runScenario(_ script: String, binary: String? = nil) async throws {
        let installation = try await offloaded { SystemPackages.ensureInstalled() }
        #expect(installation.succeeded, "the test packages are not installed: \(installation.output)")
        let binary = try binary ?? sidecacheBinary()
        let result = try await ExternalProcess.run("bash", ["\(repositoryRoot)/Tests/Scenarios/\(script)", binary])
        let summary = result.output.split(separator: "\n").last { $0.hasSuffix(" failed") } ?? "no summary"
        #expect(result.status == 0, "\(result.output)")
        #expect(summary.hasSuffix(", 0 failed"), "\(result.output)")
        #expect(!summary.hasPrefix("0 passed"), "\(result.output)")
    }

    @Test func muslAndGoResolveThroughTheDNSDoor() async throws {
        try await Self.runScenario("dns-door-clients.sh")
    }

    @Test func aFloodFromOneSourceDoesNotStarveOtherClients() async throws {
        try await Self.runScenario("dns-door-flood.sh")
    }

    @Test func glibcResolvesThroughTheNSCDDoor() async throws {
        try await Self.runScenario("nscd-door-glibc.sh")
    }

    @Test func expiryIsExactOnBothDoors() async throws {
        try await Self.runScenario("ttl-exactness.sh")
    }

    @Test func podSearchListNamesMatchTheClusterDNSAndRoundRobin() async throws {
        try await Self.runScenario("pod-search-list.sh")
    }

    @Test func podTTLExactnessAndThunderingHerd() async throws {
        try await Self.runScenario("pod-ttl-herd.sh")
    }

    @Test func podSurvivesUpstreamOutageRestartAndDrain() async throws {
        try await Self.runScenario("pod-faults.sh")
    }

    @Test func glibcReadsTheSharedMap() async throws {
        try await Self.runScenario("shared-map-glibc.sh")
    }

    /// The image's binary as Dockerfile.sidecar's build stage makes it (release, Swift runtime linked statically), in
    /// the scratch path .ci/check-packaging uses; .ci/run builds it before the tests, so this is a no-op there. Not
    /// under SWIFT_LOCK: the caller of `swift test` holds it (.ci/run does), and taking it again would deadlock.
    static func staticBinary() async throws -> String {
        let scratch = "\(repositoryRoot)/.build-static"
        let result = try await ExternalProcess.run(
            "timeout",
            [
                "900", "swift", "build", "--package-path", repositoryRoot, "--scratch-path", scratch, "-c", "release",
                "--static-swift-stdlib", "--product", "sidecache",
            ])
        guard result.status == 0 else {
            throw TestFailure("the static release build failed (status \(result.status)):\n\(result.output.suffix(3000))")
        }
        return "\(scratch)/release/sidecache"
    }

    @Test func theImageServesGlibc231ThroughTheSocketAndTheMap() async throws {
        try await Self.runScenario("image-glibc-bullseye.sh", binary: try await Self.staticBinary())
    }
}
