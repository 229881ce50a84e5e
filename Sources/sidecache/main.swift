import ArgumentParser
import Logging
import SidecacheDaemon

#if canImport(Glibc)
import Glibc
#endif

/// Writes a line to standard error.
func printError(_ text: String) {
    let line = Array((text + "\n").utf8)
    _ = line.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
}

/// The process environment, from `environ`.
func processEnvironment() -> [String: String] {
    var result: [String: String] = [:]
    var pointer = environ
    while let entry = pointer.pointee {
        let text = String(cString: entry)
        if let equals = text.firstIndex(of: "=") {
            result[String(text[..<equals])] = String(text[text.index(after: equals)...])
        }
        pointer += 1
    }
    return result
}

@main
struct SidecacheCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sidecache",
        abstract: "A DNS cache sidecar: glibc's nscd protocol and plain DNS on 127.0.0.1:53 from one cache.",
        subcommands: [Serve.self],
        defaultSubcommand: Serve.self)
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the daemon.",
        discussion: "Every setting is a flag --NAME VALUE or an environment variable SIDECACHE_NAME; the flag wins.\n\n"
            + SidecacheConfiguration.settings.map {
                "  \($0.flag)\($0.repeatable ? " (repeatable)" : "")  [\($0.environmentVariable), default \($0.defaultValue)]\n      \($0.help)"
            }.joined(separator: "\n"))

    @Argument(parsing: .captureForPassthrough, help: "Settings, e.g. --upstream 10.96.0.10 --dns-listen 127.0.0.1:53")
    var settings: [String] = []

    func run() async throws {
        if settings.contains("--help") || settings.contains("-h") {
            print(Serve.helpMessage())
            return
        }
        let configuration: SidecacheConfiguration
        do {
            configuration = try SidecacheConfiguration.resolve(
                flags: try SidecacheConfiguration.parseFlags(settings), environment: processEnvironment())
        } catch let error as ConfigurationError {
            printError("sidecache: \(error)")
            throw ExitCode(2)
        }
        let level = configuration.logLevel
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "sidecache")
        let daemon: Sidecache
        do {
            daemon = try await Sidecache(configuration: configuration, logger: logger)
        } catch let error as ConfigurationError {
            printError("sidecache: \(error)")
            throw ExitCode(2)
        } catch {
            printError("sidecache: \(error)")
            if geteuid() != 0 {
                printError(
                    "hint: without root, listen on a high port: swift run sidecache serve --dns-listen 127.0.0.1:5353 --upstream <server>")
            }
            throw ExitCode(1)
        }
        try await daemon.run()
    }
}
