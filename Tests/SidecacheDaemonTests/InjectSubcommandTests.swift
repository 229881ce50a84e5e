import Foundation
import TestSupport
import Testing

/// `swift run sidecache inject` in a fresh clone: `swift run` builds only the sidecache product, and `sidecache
/// inject` must build the missing sidecache-inject itself (Sources/sidecache/main.swift, buildInjectorInPackage).
/// Here the daemon binary is copied into a throwaway package's build directory, where a one-line sidecache-inject
/// that prints its arguments is not built yet; `sidecache inject` must build it there and run it.
@Suite struct InjectSubcommandTests {
    @Test func injectBuildsAMissingInjectorInItsPackage() async throws {
        let package = try makeScratchDirectory("inject-build")
        defer { try? FileManager.default.removeItem(atPath: package) }
        try """
            // swift-tools-version:6.1
            import PackageDescription
            let package = Package(name: "fake", targets: [.executableTarget(name: "sidecache-inject")])
            """.write(toFile: "\(package)/Package.swift", atomically: true, encoding: .utf8)
        try FileManager.default.createDirectory(
            atPath: "\(package)/Sources/sidecache-inject", withIntermediateDirectories: true)
        try #"print("fake injector:", CommandLine.arguments.dropFirst().joined(separator: " "))"#
            .write(toFile: "\(package)/Sources/sidecache-inject/main.swift", atomically: true, encoding: .utf8)
        // The layout `swift build` makes: SCRATCH/TRIPLE/CONFIG, the daemon where the injector belongs beside it.
        let directory = "\(package)/.build/x86_64-unknown-linux-gnu/debug"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: try sidecacheBinary(), toPath: "\(directory)/sidecache")

        let first = try await ExternalProcess.run(
            "timeout", ["300", "\(directory)/sidecache", "inject", "--upstream", "10.96.0.10", "-"])
        #expect(first.status == 0, "\(first.output)")
        #expect(first.output.contains("sidecache-inject is not built yet; building it: swift build --package-path \(package)"))
        #expect(first.output.contains("fake injector: --upstream 10.96.0.10 -"), "\(first.output)")
        #expect(FileManager.default.isExecutableFile(atPath: "\(directory)/sidecache-inject"))

        // Built once: the second call runs it at once, without building.
        let second = try await ExternalProcess.run("\(directory)/sidecache", ["inject", "--help"])
        #expect(second.output == "fake injector: --help\n", "\(second.output)")
    }

    @Test func outsideABuildDirectoryAMissingInjectorIsReported() async throws {
        let directory = try makeScratchDirectory("inject-installed")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try FileManager.default.copyItem(atPath: try sidecacheBinary(), toPath: "\(directory)/sidecache")
        let result = try await ExternalProcess.run("\(directory)/sidecache", ["inject", "--help"])
        #expect(result.status == 127)
        #expect(result.output.contains("\(directory)/sidecache-inject is missing"), "\(result.output)")
    }
}
