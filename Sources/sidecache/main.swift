import ArgumentParser
import Logging
import NSCDFrontend
import NSCDWire
import SidecacheDaemon
import DNSWire

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
        subcommands: [Serve.self, Query.self],
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
                    "hint: without root, use a high port and your own socket path: swift run sidecache serve --dns-listen 127.0.0.1:5353 --nscd-socket /tmp/sidecache/socket --upstream <server>")
            }
            throw ExitCode(1)
        }
        try await daemon.run()
    }
}

/// Asks the nscd socket as glibc would: GETAI (any family), GETHOSTBYNAME (4), GETHOSTBYNAMEv6 (6), or
/// GETHOSTBYADDR/v6 for an address. Prints one line per address, like `getent ahosts`.
struct Query: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Look a name or address up through the nscd socket, as glibc does.")

    @Option(help: "The nscd socket.")
    var socket = "/var/run/nscd/socket"

    @Option(help: "4 (GETHOSTBYNAME), 6 (GETHOSTBYNAMEv6) or any (GETAI).")
    var family = "any"

    @Argument(help: "A host name, or an IPv4/IPv6 address for a reverse lookup.")
    var target: String

    func validate() throws {
        guard ["4", "6", "any"].contains(family) else { throw ValidationError("--family must be 4, 6 or any") }
    }

    func run() throws {
        let request: NSCDRequest
        let replyFamily: UInt8
        if let v4 = IPv4Bytes(target) {
            request = NSCDRequest(type: .getHostByAddress, key: v4.bytes)
            replyFamily = NSCDAddress.inet
        } else if let v6 = IPv6Bytes(target) {
            request = NSCDRequest(type: .getHostByAddressV6, key: v6.bytes)
            replyFamily = NSCDAddress.inet6
        } else {
            let key = Array(target.utf8) + [0]
            switch family {
            case "4": request = NSCDRequest(type: .getHostByName, key: key)
            case "6": request = NSCDRequest(type: .getHostByNameV6, key: key)
            default: request = NSCDRequest(type: .getAddressInfo, key: key)
            }
            replyFamily = family == "6" ? NSCDAddress.inet6 : NSCDAddress.inet
        }
        let reply: [UInt8]
        do {
            reply = try NSCDClient.exchange(request, socketPath: socket)
        } catch {
            printError("sidecache query: \(error)")
            throw ExitCode(2)
        }
        let parsed = request.type == .getAddressInfo
            ? NSCDHostReply.parseAddressInfo(reply) : NSCDHostReply.parseHostEnt(reply, family: replyFamily)
        switch parsed {
        case .addresses(let canonical, let aliases, let addresses)?:
            for address in addresses {
                let text = address.family == NSCDAddress.inet
                    ? IPv4Bytes(address.bytes[0], address.bytes[1], address.bytes[2], address.bytes[3]).description
                    : IPv6Bytes(bytes: address.bytes).description
                print(([text, canonical ?? ""] + aliases).filter { !$0.isEmpty }.joined(separator: " "))
            }
        case .notFound(let error)?:
            printError("\(target): not found (\(request.type), error \(error))")
            throw ExitCode(1)
        case .notServed?:
            printError("\(target): the daemon does not serve this (found = -1); glibc would resolve it itself")
            throw ExitCode(3)
        case .closed?:
            printError("\(target): closed without an answer (temporary failure); glibc would resolve it itself")
            throw ExitCode(3)
        case nil:
            printError("\(target): malformed reply of \(reply.count) octets")
            throw ExitCode(2)
        }
    }
}
