import CPosixShims
import Foundation

/// A program a test starts and stops by its own PID, never by name.
///
/// Started with posix_spawn (CPosixShims), not Foundation's `Process`: that one reads /proc/self/fd while starting a
/// child and crashed the test process (a wild memcpy) while another test opened and closed thousands of sockets.
/// The child gets only standard input, output and error, an empty signal mask and default signal dispositions.
public final class ExternalProcess: @unchecked Sendable {
    public let pid: Int32
    public let name: String
    /// The read end of the pipe that holds the child's standard output and error.
    private let output: Int32
    private let lock = NSLock()
    private var exitStatus: Int32? = nil

    /// Starts `executable` with `arguments`; stdout and stderr go to a pipe read on `stop`. `environment` replaces
    /// the test's own environment when given.
    public init(_ executable: String, _ arguments: [String], environment: [String: String]? = nil) throws {
        name = executable
        let (pid, output) = try Self.spawn(try Self.which(executable), arguments, environment: environment, input: nil)
        self.pid = pid
        self.output = output
    }

    /// Spawns the program; returns its PID and the read end of its output pipe (and writes `input`, if any, to its
    /// standard input, then closes that).
    static func spawn(_ path: String, _ arguments: [String], environment: [String: String]?, input: String?) throws -> (
        Int32, Int32
    ) {
        var outputPipe: [Int32] = [-1, -1]
        var inputPipe: [Int32] = [-1, -1]
        guard sidecache_pipe2(&outputPipe, O_CLOEXEC) == 0, sidecache_pipe2(&inputPipe, O_CLOEXEC) == 0 else {
            throw SpawnError(program: path, code: errno)
        }
        let argv = ([path] + arguments).map { strdup($0) } + [nil]
        let variables = environment.map { $0.map { "\($0.key)=\($0.value)" } }
        let envp = variables.map { $0.map { strdup($0) } + [nil] }
        defer {
            argv.forEach { free($0) }
            envp?.forEach { free($0) }
        }
        var pid: Int32 = 0
        let code = argv.withUnsafeBufferPointer { arguments in
            if let envp {
                return envp.withUnsafeBufferPointer {
                    sidecache_spawn(path, arguments.baseAddress, $0.baseAddress, inputPipe[0], outputPipe[1], &pid)
                }
            }
            return sidecache_spawn(path, arguments.baseAddress, environ, inputPipe[0], outputPipe[1], &pid)
        }
        close(outputPipe[1])
        close(inputPipe[0])
        guard code == 0 else {
            close(outputPipe[0])
            close(inputPipe[1])
            throw SpawnError(program: path, code: code)
        }
        if let input {
            let bytes = Array(input.utf8)
            var written = 0
            while written < bytes.count {
                let count = bytes[written...].withUnsafeBytes { write(inputPipe[1], $0.baseAddress, $0.count) }
                if count < 0 && errno == EINTR { continue }
                if count <= 0 { break }
                written += count
            }
        }
        close(inputPipe[1])
        return (pid, outputPipe[0])
    }

    /// Reads a descriptor to its end, then closes it.
    static func drain(_ fd: Int32) -> String {
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            if count <= 0 { break }
            bytes += chunk[0..<count]
        }
        close(fd)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Reaps the child if it has exited (blocking when `wait`); its exit status then, or nil while it runs.
    private func reap(wait: Bool) -> Int32? {
        lock.lock()
        defer { lock.unlock() }
        if let exitStatus { return exitStatus }
        var status: Int32 = 0
        var result: Int32
        repeat { result = waitpid(pid, &status, wait ? 0 : WNOHANG) } while result < 0 && errno == EINTR
        guard result == pid else { return nil }
        exitStatus = Self.exitCode(status)
        return exitStatus
    }

    /// A wait status as a shell reports it: the exit status (WIFEXITED: the low 7 bits are 0, the status is bits
    /// 8-15), or 128 + the signal that ended the process.
    static func exitCode(_ status: Int32) -> Int32 {
        status & 0x7f == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
    }

    public var isRunning: Bool { reap(wait: false) == nil }

    /// SIGTERM, then SIGKILL after `grace` seconds; returns what the process printed.
    @discardableResult
    public func stop(grace: Double = 3) -> String {
        if isRunning {
            kill(pid, SIGTERM)
            let until = Date().addingTimeInterval(grace)
            while isRunning && Date() < until { usleep(10_000) }
            if isRunning { kill(pid, SIGKILL) }
        }
        _ = reap(wait: true)
        lock.lock()
        defer { lock.unlock() }
        guard !outputClosed else { return "" }
        outputClosed = true
        return Self.drain(output)
    }
    private var outputClosed = false

    public func signal(_ signal: Int32) { kill(pid, signal) }

    deinit {
        if reap(wait: false) == nil {
            kill(pid, SIGKILL)
            _ = reap(wait: true)
        }
        if !outputClosed { close(output) }
    }

    /// The full path of a program on PATH (or the path itself). A program not found there makes the test run
    /// install its Debian packages (`SystemPackages`, once per process) and look again; if it is still missing, the
    /// error says why (install-deps' own words: which packages, and that it needs root).
    public static func which(_ program: String) throws -> String {
        if let path = lookUp(program) { return path }
        let installation = SystemPackages.ensureInstalled()
        if let path = lookUp(program) { return path }
        throw MissingTool(program: program, installation: installation)
    }

    /// The full path of a program on PATH, /usr/sbin or /sbin (or the path itself), or nil.
    public static func lookUp(_ program: String) -> String? {
        if program.contains("/") { return program }
        let searchPath = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin") + ":/usr/sbin:/sbin"
        for directory in searchPath.split(separator: ":").map(String.init) {
            let path = "\(directory)/\(program)"
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        return nil
    }

    /// Runs a command to completion and returns its exit status and output.
    @discardableResult
    public static func run(_ executable: String, _ arguments: [String], input: String? = nil) throws -> (
        status: Int32, output: String
    ) {
        let (pid, output) = try spawn(try which(executable), arguments, environment: nil, input: input ?? "")
        let text = drain(output)
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        return (exitCode(status), text)
    }
}

/// A program that could not be started.
public struct SpawnError: Error, CustomStringConvertible {
    public var program: String
    public var code: Int32
    public var description: String { "cannot start \(program): \(String(cString: strerror(code)))" }
}

public struct MissingTool: Error, CustomStringConvertible {
    public var program: String
    /// What the test run's own `.ci/install-deps` said.
    public var installation: SystemPackages.Outcome
    public var description: String {
        let said = installation.output.split(separator: "\n").suffix(3).joined(separator: "\n")
        return installation.succeeded
            ? "\(program) is not installed, and .ci/install-deps does not install it: add its Debian package there"
            : "\(program) is not installed, and the test run could not install the test packages (as root it does; "
                + "or run `bash .ci/install-deps` as root once). install-deps said:\n\(said)"
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
