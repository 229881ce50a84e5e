import Foundation

/// A program a test starts and stops by its own PID, never by name.
public final class ExternalProcess: @unchecked Sendable {
    public let process: Process
    public let name: String
    private let output: Pipe

    /// Starts `executable` with `arguments`; stdout and stderr go to a pipe read on `stop`.
    public init(_ executable: String, _ arguments: [String], environment: [String: String]? = nil) throws {
        process = Process()
        name = executable
        process.executableURL = URL(fileURLWithPath: try ExternalProcess.which(executable))
        process.arguments = arguments
        if let environment { process.environment = environment }
        output = Pipe()
        process.standardOutput = output
        process.standardError = output
        process.standardInput = FileHandle.nullDevice
        try process.run()
    }

    public var pid: Int32 { process.processIdentifier }
    public var isRunning: Bool { process.isRunning }

    /// SIGTERM, then SIGKILL after `grace` seconds; returns what the process printed.
    @discardableResult
    public func stop(grace: Double = 3) -> String {
        if process.isRunning {
            kill(pid, SIGTERM)
            let until = Date().addingTimeInterval(grace)
            while process.isRunning && Date() < until { usleep(10_000) }
            if process.isRunning { kill(pid, SIGKILL) }
        }
        process.waitUntilExit()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        return String(decoding: data, as: UTF8.self)
    }

    public func signal(_ signal: Int32) { kill(pid, signal) }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }

    /// The full path of a program on PATH (or the path itself), or an error naming the Debian package to install.
    public static func which(_ program: String) throws -> String {
        if program.contains("/") { return program }
        let searchPath = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin") + ":/usr/sbin:/sbin"
        for directory in searchPath.split(separator: ":").map(String.init) {
            let path = "\(directory)/\(program)"
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        throw MissingTool(program: program)
    }

    /// Runs a command to completion and returns its exit status and output.
    @discardableResult
    public static func run(_ executable: String, _ arguments: [String], input: String? = nil) throws -> (
        status: Int32, output: String
    ) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try which(executable))
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        let inputPipe = Pipe()
        process.standardInput = input == nil ? FileHandle.nullDevice : inputPipe
        try process.run()
        if let input {
            inputPipe.fileHandleForWriting.write(Data(input.utf8))
            try? inputPipe.fileHandleForWriting.close()
        }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}

public struct MissingTool: Error, CustomStringConvertible {
    public var program: String
    public var description: String {
        "\(program) is not installed: run `bash .ci/install-deps` (as root) to install the test dependencies"
    }
}

/// True when tests that need root (namespaces, port 53, real servers) can run. CI runs as root.
public var runningAsRoot: Bool { geteuid() == 0 }

/// A fresh scratch directory under /tmp.
public func makeScratchDirectory(_ prefix: String) throws -> String {
    let path = NSTemporaryDirectory() + "\(prefix)-\(getpid())-\(UInt32.random(in: 0 ... .max))"
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

/// A random loopback address 127.x.y.z (x in 100...199), so concurrent tests never share a socket.
public func randomLoopbackAddress() -> String {
    "127.\(UInt8.random(in: 100...199)).\(UInt8.random(in: 1...254)).\(UInt8.random(in: 1...254))"
}

/// Runs blocking work (waiting for a child process, sleeping between polls) on a thread of its own, so it never
/// holds one of the few cooperative threads that an in-process daemon under test needs to answer.
public func offloaded<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        let thread = Thread {
            continuation.resume(with: Result { try body() })
        }
        thread.start()
    }
}

extension ExternalProcess {
    /// `run` for async tests: the wait happens off the cooperative pool.
    public static func run(_ executable: String, _ arguments: [String], input: String? = nil) async throws -> (
        status: Int32, output: String
    ) {
        try await offloaded { try ExternalProcess.run(executable, arguments, input: input) as (status: Int32, output: String) }
    }
}

extension KnotServer {
    /// Starts Knot DNS off the cooperative pool (start-up polls with dig).
    public static func launch(zones: [String: String], address: String = randomLoopbackAddress(), port: Int = 53535)
        async throws -> KnotServer
    {
        try await offloaded { try KnotServer(zones: zones, address: address, port: port) }
    }

    public func updateZone(_ origin: String, _ text: String) async throws {
        try await offloaded { try self.updateZone(origin, text) as Void }
    }

    public func start() async throws {
        try await offloaded { try self.start() as Void }
    }
}
