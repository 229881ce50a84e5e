import ArgumentParser
import Foundation
import Logging
import SidecacheDaemon

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
                flags: try SidecacheConfiguration.parseFlags(settings), environment: ProcessInfo.processInfo.environment)
        } catch let error as ConfigurationError {
            FileHandle.standardError.write(Data("sidecache: \(error)\n".utf8))
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
            FileHandle.standardError.write(Data("sidecache: \(error)\n".utf8))
            throw ExitCode(2)
        } catch {
            FileHandle.standardError.write(Data("sidecache: \(error)\n".utf8))
            if geteuid() != 0 {
                FileHandle.standardError.write(
                    Data("hint: without root, listen on a high port: swift run sidecache serve --dns-listen 127.0.0.1:5353 --upstream <server>\n".utf8))
            }
            throw ExitCode(1)
        }
        try await daemon.run()
    }
}
