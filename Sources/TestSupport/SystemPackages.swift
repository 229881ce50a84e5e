import Foundation

/// The Debian packages the integration tests use (knotd, dig, musl-gcc, go, umoci, crun, ...), installed by the
/// test run itself so that the README's `swift build && swift test` needs no set-up step on a bare machine.
///
/// `ensureInstalled()` runs `.ci/install-deps` at most once per test process, under an exclusive `flock` on
/// `/tmp/sidecache-install-deps.lock`, so parallel tests (and parallel test processes) never run apt at the same
/// time; install-deps does nothing, without the network, when every package is already there. As root it installs
/// what is missing; otherwise it uses `sudo -n` if that works, else it prints the packages it needs, and that
/// message is what a test that needs one of the tools fails with (the root-only suites skip before asking).
public enum SystemPackages {
    /// The repository root, from this file's path (Sources/TestSupport/SystemPackages.swift).
    public static let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().path

    private static let lock = NSLock()
    nonisolated(unsafe) private static var outcome: Outcome?

    /// What install-deps said, once it has run.
    public struct Outcome: Sendable {
        public var succeeded: Bool
        public var output: String
    }

    /// Runs `.ci/install-deps` the first time it is called in this process (every later call returns the first
    /// outcome). Blocks while apt runs.
    @discardableResult
    public static func ensureInstalled() -> Outcome {
        lock.lock()
        defer { lock.unlock() }
        if let outcome { return outcome }
        let script = "\(repositoryRoot)/.ci/install-deps"
        let result: Outcome
        // Full paths, so that finding them cannot come back here (ExternalProcess.which installs on a miss).
        let bash = ExternalProcess.lookUp("bash") ?? "/bin/bash"
        let command = ExternalProcess.lookUp("flock").map { ($0, ["/tmp/sidecache-install-deps.lock", bash, script]) }
            ?? (bash, [script])
        do {
            let run = try ExternalProcess.run(command.0, command.1)
            result = Outcome(succeeded: run.status == 0, output: run.output)
        } catch {
            result = Outcome(succeeded: false, output: "cannot run \(script): \(error)")
        }
        // Shown in the test log: what was installed, or what is needed.
        FileHandle.standardError.write(Data(result.output.utf8))
        outcome = result
        return result
    }
}
