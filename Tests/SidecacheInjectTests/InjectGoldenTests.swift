import Foundation
import Testing

@testable import SidecacheInject

/// One golden case: `Golden/<name>.in.yaml` injected with `options` must give `Golden/<name>.out.yaml`, or, for
/// an input inject must refuse, fail with `Golden/<name>.err.txt` (the message) and `code`.
struct GoldenCase: CustomStringConvertible, Sendable {
    let name: String
    let options: SidecarOptions
    let code: InjectError.Code?
    let warnings: Int

    init(_ name: String, warnings: Int = 0, _ configure: (inout SidecarOptions) -> Void = { _ in }) {
        var options = SidecarOptions()
        options.upstreams = ["10.96.0.10"]
        configure(&options)
        self.name = name
        self.options = options
        self.code = nil
        self.warnings = warnings
    }

    init(_ name: String, fails code: InjectError.Code, _ configure: (inout SidecarOptions) -> Void = { _ in }) {
        self.init(name, configure)
        self = GoldenCase(name: name, options: options, code: code)
    }

    private init(name: String, options: SidecarOptions, code: InjectError.Code) {
        self.name = name
        self.options = options
        self.code = code
        self.warnings = 0
    }

    var description: String { name }
}

let goldenCases: [GoldenCase] = [
    GoldenCase("deployment-native"),
    GoldenCase("deployment-classic") { $0.mode = .classic },
    GoldenCase("every-kind") { $0.namespace = "batch-jobs" },
    GoldenCase("existing-volumes"),
    GoldenCase("existing-volumes-classic", warnings: 1) { $0.mode = .classic },
    GoldenCase("existing-dnsconfig-clusterfirst"),
    GoldenCase("existing-dnsconfig-none", warnings: 1),
    GoldenCase("non-pod-documents"),
    GoldenCase("list"),
    GoldenCase("already-injected"),
    GoldenCase("mode-switch") { $0.mode = .classic },
    GoldenCase("custom-options") {
        $0.image = "registry.example/platform/sidecache:1.2.3"
        $0.imagePullPolicy = "Always"
        $0.upstreams = ["10.0.0.10", "[fd00:10:96::a]:53"]
        $0.clusterDomain = "corp.internal"
        $0.ndots = 2
        $0.requests = ["cpu": "50m", "memory": "48Mi"]
        $0.limits = ["cpu": "500m", "memory": "96Mi"]
        $0.cacheSize = "32MiB"
        $0.adminPort = 9353
        $0.threads = 2
        $0.prometheusAnnotations = true
    },
    GoldenCase("bad-indentation", fails: .invalidYAML),
    GoldenCase("bad-duplicate-key", fails: .invalidYAML),
    GoldenCase("bad-template-syntax", fails: .invalidYAML),
    GoldenCase("bad-not-an-object", fails: .notAnObject),
    GoldenCase("bad-no-kind", fails: .notAnObject),
    GoldenCase("bad-no-template", fails: .malformedPodSpec),
    GoldenCase("bad-containers-shape", fails: .malformedPodSpec),
    GoldenCase("bad-host-network", fails: .unsupported),
    GoldenCase("bad-socket-path-taken", fails: .unsupported),
    GoldenCase("bad-no-namespace", fails: .invalidOption),
]

/// Tests/SidecacheInjectTests/Golden, found from this file's path (the goldens are not bundle resources).
let goldenDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Golden")

func golden(_ name: String) throws -> String {
    try String(contentsOf: goldenDirectory.appendingPathComponent(name), encoding: .utf8)
}

/// SIDECACHE_UPDATE_GOLDEN=1 swift test --filter SidecacheInjectTests rewrites the expected files (review the diff).
let updatingGoldens = ProcessInfo.processInfo.environment["SIDECACHE_UPDATE_GOLDEN"] == "1"

func writeGolden(_ name: String, _ text: String) throws {
    try text.write(to: goldenDirectory.appendingPathComponent(name), atomically: true, encoding: .utf8)
}

@Suite("inject golden files")
struct InjectGoldenTests {
    @Test("injecting gives the golden output, and injecting that again changes nothing", arguments: goldenCases.filter { $0.code == nil })
    func injects(_ golden: GoldenCase) throws {
        let input = try SidecacheInjectTests.golden("\(golden.name).in.yaml")
        let injector = try ManifestInjector(options: golden.options)
        let output = try injector.inject(input, source: "\(golden.name).in.yaml")
        if updatingGoldens { try writeGolden("\(golden.name).out.yaml", output.yaml) }
        let expected = try SidecacheInjectTests.golden("\(golden.name).out.yaml")
        #expect(output.yaml == expected)
        #expect(output.warnings.count == golden.warnings, "\(output.warnings)")

        if golden.name == "already-injected" {
            // Its input is an earlier output (plus a comment): nothing may change.
            let uncommented = input.split(separator: "\n", omittingEmptySubsequences: false)
                .drop { $0.hasPrefix("#") }.joined(separator: "\n")
            #expect(output.yaml == uncommented)
        }

        let again = try injector.inject(output.yaml, source: "\(golden.name).out.yaml")
        #expect(again.yaml == output.yaml, "inject(inject(x)) must equal inject(x)")
    }

    @Test("input inject cannot understand fails with a clear message", arguments: goldenCases.filter { $0.code != nil })
    func refuses(_ golden: GoldenCase) throws {
        let input = try SidecacheInjectTests.golden("\(golden.name).in.yaml")
        let injector = try ManifestInjector(options: golden.options)
        let error = #expect(throws: InjectError.self) {
            try injector.inject(input, source: "\(golden.name).in.yaml")
        }
        if updatingGoldens, let error { try writeGolden("\(golden.name).err.txt", error.message + "\n") }
        let expected = try SidecacheInjectTests.golden("\(golden.name).err.txt")
        #expect(error?.code == golden.code)
        #expect(error.map { $0.message + "\n" } == expected)
    }

    @Test("every golden input has a case in the table, and every case its files")
    func tableCoversTheFolder() throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: goldenDirectory.path)
        let inputs = Set(files.filter { $0.hasSuffix(".in.yaml") }.map { String($0.dropLast(".in.yaml".count)) })
        #expect(inputs == Set(goldenCases.map(\.name)))
        for golden in goldenCases {
            let expected = "\(golden.name).\(golden.code == nil ? "out.yaml" : "err.txt")"
            #expect(files.contains(expected), "missing \(expected)")
        }
    }
}
