// swift-tools-version:6.1
import PackageDescription

// Module layout (docs/architecture.md): wire codecs carry no I/O; imports point one way:
// DNSWire <- DNSCache <- DNSForwarder / DNSFrontend <- SidecacheDaemon <- sidecache.
let package = Package(
    name: "sidecache",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "sidecache", targets: ["sidecache"]),
        // `sidecache inject` execs this sibling binary: it needs Yams and so Foundation, which the daemon avoids.
        .executable(name: "sidecache-inject", targets: ["sidecache-inject"]),
        .library(name: "DNSWire", targets: ["DNSWire"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
    ],
    targets: [
        // The DNS message model and codec (RFC 1035, 3596, 6891). No I/O, no dependencies.
        .target(name: "DNSWire"),
        // The cache engine: keys, reply classes, TTL policy, negative/stale/prefetch, coalescing, shuffle.
        .target(name: "DNSCache", dependencies: ["DNSWire"]),
        // resolv.conf parsing, shared by the forwarder (nameservers) and the nscd door (search, ndots).
        .target(name: "ResolverConfiguration", dependencies: ["DNSWire"]),
        // DNS over TCP framing shared by the forwarder and the DNS door (NIOCore only).
        .target(name: "DNSTransport", dependencies: [.product(name: "NIOCore", package: "swift-nio")]),
        // Talking to upstream servers over UDP and TCP.
        .target(
            name: "DNSForwarder",
            dependencies: [
                "DNSWire", "DNSCache", "ResolverConfiguration", "DNSTransport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The 127.0.0.1:53 UDP/TCP door.
        .target(
            name: "DNSFrontend",
            dependencies: [
                "DNSWire", "DNSCache", "DNSTransport", "CPosixShims",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // accept4, pipe2, SO_PEERCRED and recvmmsg/sendmmsg, which Swift's Glibc module does not export.
        .target(name: "CPosixShims"),
        // glibc nscd protocol v2, byte-exact, no I/O.
        .target(name: "NSCDWire"),
        // The shared-memory hosts map glibc clients get with GETFDHST: byte-exact layout, one serial writer.
        .target(
            name: "NSCDSharedMap",
            dependencies: ["CPosixShims", .product(name: "Logging", package: "swift-log")]
        ),
        // The Unix-socket door: nscd host requests <-> DNS questions through the cache; search list; hosts file.
        .target(
            name: "NSCDFrontend",
            dependencies: [
                "NSCDWire", "DNSWire", "DNSCache", "ResolverConfiguration", "CPosixShims", "NSCDSharedMap",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // The metric catalogue's entry type and naming rules, shared by the daemon and the webhook (no dependencies).
        .target(name: "MetricCatalogue"),
        // The admin listener: /metrics, /healthz, /readyz, /stats over HTTP/1.1.
        .target(
            name: "AdminHTTP",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // Composition root, a library so tests can run the whole daemon in-process.
        .target(
            name: "SidecacheDaemon",
            dependencies: [
                "DNSWire", "DNSCache", "DNSForwarder", "DNSFrontend", "ResolverConfiguration", "NSCDWire",
                "NSCDFrontend", "NSCDSharedMap", "AdminHTTP", "DNSTransport", "MetricCatalogue",
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ]
        ),
        .executableTarget(
            name: "sidecache",
            dependencies: [
                "SidecacheDaemon", "DNSWire", "NSCDWire", "DNSForwarder",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            // A position-dependent executable: with the Swift runtime linked statically (as the image ships it), a
            // PIE has some 57,000 relative relocations that the loader applies at every start, dirtying 1.2 MiB of
            // data pages and faulting in code around them (idle RSS 17.1 -> 15.9 MiB measured, start faster). The
            // cost: the daemon's own code loads at a fixed address (libraries, heap and stacks stay randomised), as
            // for the Go binaries of CoreDNS and NodeLocal DNSCache. docs/benchmarks.md, "Idle memory".
            linkerSettings: [.unsafeFlags(["-Xlinker", "--no-pie"], .when(platforms: [.linux]))]
        ),
        // Adds the sidecache sidecar to Kubernetes pod templates (docs/kubernetes.md). Yams brings Foundation, so this
        // lives apart from the daemon: only the sidecache-inject executable links it.
        .target(name: "SidecacheInject", dependencies: [.product(name: "Yams", package: "Yams")]),
        // `sidecache webhook`: the injector as a mutating admission webhook over TLS (docs/kubernetes.md). Foundation
        // (JSON) and TLS, so it too is linked only into sidecache-inject.
        .target(
            name: "SidecacheWebhook",
            dependencies: [
                "SidecacheInject", "MetricCatalogue",
                .product(name: "Yams", package: "Yams"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ]),
        .executableTarget(
            name: "sidecache-inject",
            dependencies: [
                "SidecacheInject", "SidecacheWebhook",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        // Benchmarks of the hot paths (swift run -c release sidecache-bench).
        .executableTarget(
            name: "sidecache-bench",
            dependencies: [
                "DNSWire", "DNSCache", "DNSForwarder", "CHeapStatistics",
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
            ],
            path: "bench/Sources/sidecache-bench"),
        // glibc's allocator statistics for the memory benchmark (mallinfo2 is not in Swift's Glibc module).
        .target(name: "CHeapStatistics", path: "bench/Sources/CHeapStatistics"),

        // Shared by the test targets: manual clock, scripted upstream, message builders, process helpers.
        .target(name: "TestSupport", dependencies: ["DNSWire", "DNSCache", "CPosixShims"]),
        .testTarget(name: "DNSWireTests", dependencies: ["DNSWire", "TestSupport"]),
        .testTarget(name: "DNSCacheTests", dependencies: ["DNSCache", "DNSWire", "TestSupport"]),
        .testTarget(name: "NSCDWireTests", dependencies: ["NSCDWire", "TestSupport"]),
        .testTarget(
            name: "NSCDFrontendTests",
            dependencies: ["NSCDFrontend", "NSCDWire", "DNSCache", "DNSWire", "TestSupport"]),
        .testTarget(
            name: "NSCDSharedMapTests",
            dependencies: ["NSCDSharedMap", "NSCDFrontend", "NSCDWire", "DNSCache", "DNSWire", "TestSupport"]),
        .testTarget(name: "ResolverConfigurationTests", dependencies: ["ResolverConfiguration"]),
        .testTarget(name: "DNSForwarderTests", dependencies: ["DNSForwarder", "DNSWire", "DNSCache", "TestSupport"]),
        .testTarget(
            name: "DNSFrontendTests",
            dependencies: [
                "DNSFrontend", "DNSWire", "DNSCache", "TestSupport",
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
            ]),
        .testTarget(
            name: "SidecacheDaemonTests",
            dependencies: [
                "SidecacheDaemon", "DNSWire", "DNSForwarder", "ResolverConfiguration", "NSCDWire", "NSCDFrontend",
                "TestSupport", "MetricCatalogue",
            ]),
        .testTarget(name: "SidecacheInjectTests", dependencies: ["SidecacheInject"], exclude: ["Golden"]),
        .testTarget(
            name: "SidecacheWebhookTests",
            dependencies: [
                "SidecacheWebhook", "SidecacheInject", "TestSupport", "MetricCatalogue",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
            ],
            exclude: ["Fixtures"]),
    ],
    swiftLanguageModes: [.v6]
)
