import ArgumentParser
import Logging
import NSCDFrontend
import NSCDWire
import SidecacheDaemon
import DNSForwarder
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
        subcommands: [Serve.self, Query.self, Check.self, Stats.self, Dump.self, Flush.self, Config.self, Inject.self, Webhook.self],
        defaultSubcommand: Serve.self)
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the daemon.",
        discussion: "Every setting is a flag --NAME VALUE, an environment variable SIDECACHE_NAME, or a line NAME = VALUE "
            + "of the --config file; a flag wins over a variable, a variable over the file.\n\n"
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
        let flags: [String: [String]]
        let environment = processEnvironment()
        do {
            flags = try SidecacheConfiguration.parseFlags(settings)
            configuration = try SidecacheConfiguration.resolve(flags: flags, environment: environment)
        } catch let error as ConfigurationError {
            printError("sidecache: \(error)")
            throw ExitCode(2)
        }
        let control = LogLevelControl(configuration.logLevel)
        let limiter = LogRateLimiter()
        LoggingSystem.bootstrap { label in SidecacheLogHandler(label: label, control: control, limiter: limiter) }
        let logger = Logger(label: "sidecache")
        let daemon: Sidecache
        do {
            daemon = try await Sidecache(
                configuration: configuration, logger: logger,
                reloadSource: { try SidecacheConfiguration.resolve(flags: flags, environment: environment) },
                onLogLevel: { control.level = $0 })
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

/// An exec probe that asks the doors themselves: a DNS STATUS query (opcode 2) over UDP, which the door answers with
/// NOTIMP without touching the cache or the upstream, and an nscd GETPWBYNAME, which the nscd door answers with its
/// "not served" header. Exit 0 when every door asked answered, 1 otherwise.
struct Check: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Probe the running daemon's doors (for exec probes).")

    @Option(help: "The DNS door to ask, ADDRESS:PORT, or 'off'.")
    var dns = "127.0.0.1:53"

    @Option(help: "The nscd socket to ask, or 'off'.")
    var socket = "/var/run/nscd/socket"

    @Option(help: "How long to wait for each door, in milliseconds.")
    var timeout: Int32 = 1000

    @Option(help: "Keep asking until every door answers or this many milliseconds have passed (0: ask once).")
    var wait: Int32 = 0

    func run() throws {
        var start = timespec()
        clock_gettime(CLOCK_MONOTONIC, &start)
        while true {
            let results = askDoors()
            var now = timespec()
            clock_gettime(CLOCK_MONOTONIC, &now)
            let elapsed = Int64(now.tv_sec - start.tv_sec) * 1000 + Int64(now.tv_nsec - start.tv_nsec) / 1_000_000
            if results.allSatisfy(\.ok) || elapsed >= Int64(wait) {
                for result in results {
                    if result.ok { print(result.line) } else { printError(result.line) }
                }
                if results.allSatisfy(\.ok) { return }
                throw ExitCode(1)
            }
            usleep(100_000)
        }
    }

    /// One line per door asked, and whether it answered.
    func askDoors() -> [(ok: Bool, line: String)] {
        var results: [(ok: Bool, line: String)] = []
        if dns != "off" {
            if let problem = checkDNS() {
                results.append((false, "dns \(dns): \(problem)"))
            } else {
                results.append((true, "dns \(dns): ok"))
            }
        }
        if socket != "off" {
            do {
                let reply = try NSCDClient.exchange(
                    NSCDRequest(type: .getPasswordByName, key: Array("root\0".utf8)), socketPath: socket,
                    timeoutMilliseconds: timeout)
                if reply.count >= 8 && reply.nscdInt32(at: 4) == -1 {
                    results.append((true, "nscd \(socket): ok"))
                } else {
                    results.append((false, "nscd \(socket): unexpected reply of \(reply.count) octets"))
                }
            } catch {
                results.append((false, "nscd \(socket): \(error)"))
            }
        }
        return results
    }

    /// nil when the DNS door answered the STATUS query with our ID.
    func checkDNS() -> String? {
        guard let address = UpstreamAddress(parsing: dns) else { return "not ADDRESS:PORT with a numeric address" }
        var header = DNSHeader(id: UInt16.random(in: .min ... .max))
        header.opcode = .status
        guard let query = try? DNSMessage(header: header).encode() else { return "cannot encode" }
        let family = address.host.contains(":") ? AF_INET6 : AF_INET
        let fd = Glibc.socket(family, Int32(SOCK_DGRAM.rawValue), 0)
        guard fd >= 0 else { return "socket failed" }
        defer { close(fd) }
        var storage = sockaddr_storage()
        var length: socklen_t = 0
        if family == AF_INET {
            var v4 = sockaddr_in()
            v4.sin_family = sa_family_t(AF_INET)
            v4.sin_port = in_port_t(UInt16(address.port).bigEndian)
            inet_pton(AF_INET, address.host, &v4.sin_addr)
            withUnsafeBytes(of: v4) { bytes in withUnsafeMutableBytes(of: &storage) { $0.copyMemory(from: bytes) } }
            length = socklen_t(MemoryLayout<sockaddr_in>.size)
        } else {
            var v6 = sockaddr_in6()
            v6.sin6_family = sa_family_t(AF_INET6)
            v6.sin6_port = in_port_t(UInt16(address.port).bigEndian)
            inet_pton(AF_INET6, address.host, &v6.sin6_addr)
            withUnsafeBytes(of: v6) { bytes in withUnsafeMutableBytes(of: &storage) { $0.copyMemory(from: bytes) } }
            length = socklen_t(MemoryLayout<sockaddr_in6>.size)
        }
        let connected = withUnsafePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, length) }
        }
        guard connected == 0 else { return "connect: \(String(cString: strerror(errno)))" }
        guard query.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, 0) }) == query.count else { return "send failed" }
        var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&poller, 1, timeout) > 0 else { return "no answer within \(timeout) ms" }
        var reply = [UInt8](repeating: 0, count: 512)
        let count = reply.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        guard count >= 12 else { return "no answer (\(String(cString: strerror(errno))))" }
        guard reply[0] == query[0] && reply[1] == query[1] && reply[2] & 0x80 != 0 else { return "a reply that is not ours" }
        return nil
    }
}

/// Fetches a page of the admin listener and prints it (plain HTTP/1.0 over a TCP socket; no client library needed).
func fetchAdminPage(_ admin: String, _ path: String) throws -> String {
    guard let address = UpstreamAddress(parsing: admin, defaultPort: 9253) else {
        throw ValidationError("--admin must be ADDRESS[:PORT] with a numeric address")
    }
    let family = address.host.contains(":") ? AF_INET6 : AF_INET
    let fd = Glibc.socket(family, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw ValidationError("socket failed") }
    defer { close(fd) }
    let socketAddress = try address.socketAddress()
    let connected = socketAddress.withSockAddr { connect(fd, $0, socklen_t($1)) }
    guard connected == 0 else {
        throw ValidationError("cannot reach the admin listener at \(admin): \(String(cString: strerror(errno)))")
    }
    let request = Array("GET \(path) HTTP/1.0\r\nHost: \(admin)\r\n\r\n".utf8)
    _ = request.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    var response: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65536)
    while true {
        var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&poller, 1, 5000) > 0 else { throw ValidationError("no answer from \(admin)") }
        let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if count <= 0 { break }
        response += chunk[0..<count]
    }
    let text = String(decoding: response, as: UTF8.self)
    guard let split = text.firstRange(of: "\r\n\r\n") else { throw ValidationError("malformed answer from \(admin)") }
    return String(text[split.upperBound...])
}

/// Counters like `nscd -g`, from the admin listener's /stats.
struct Stats: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print the daemon's counters (like nscd -g).")
    @Option(help: "The admin listener, ADDRESS[:PORT].")
    var admin = "127.0.0.1:9253"
    func run() throws { print(try fetchAdminPage(admin, "/stats"), terminator: "") }
}

/// Every cache entry with its remaining TTL, from the admin listener's /dump.
struct Dump: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print every cache entry with its remaining TTL.")
    @Option(help: "The admin listener, ADDRESS[:PORT].")
    var admin = "127.0.0.1:9253"
    func run() throws { print(try fetchAdminPage(admin, "/dump"), terminator: "") }
}

/// Flushes the cache, or one name, over the nscd socket (root only, like `nscd -i hosts`).
struct Flush: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Flush the whole cache, or every entry of one name (root only, through the nscd socket).")
    @Option(help: "The nscd socket.")
    var socket = "/var/run/nscd/socket"
    @Argument(help: "A name whose entries to flush; without it, everything.")
    var name: String?

    func run() throws {
        let key = Array((name ?? "hosts").utf8) + [0]
        let reply: [UInt8]
        do {
            reply = try NSCDClient.exchange(NSCDRequest(type: .invalidate, key: key), socketPath: socket)
        } catch {
            printError("sidecache flush: \(error)")
            throw ExitCode(2)
        }
        guard reply.count == 4, reply.nscdInt32(at: 0) == 0 else {
            printError("sidecache flush: refused (the daemon accepts it from root only)")
            throw ExitCode(1)
        }
        print(name.map { "flushed \($0)" } ?? "flushed the cache")
    }
}

/// `sidecache config check [FILE]`: the configuration the daemon would run with.
struct Config: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Work with the configuration.", subcommands: [ConfigCheck.self])
}

struct ConfigCheck: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Validate a config file (with the SIDECACHE_* variables over it) and print the effective configuration.",
        discussion: "Exit 0 and the effective settings, each with where it came from; exit 2 and the setting at fault "
            + "otherwise. Without FILE, SIDECACHE_CONFIG names the file, if set.")

    @Argument(help: "The config file.")
    var file: String?

    func run() throws {
        do {
            let flags: [String: [String]] = file.map { ["config": [$0]] } ?? [:]
            let configuration = try SidecacheConfiguration.resolve(flags: flags, environment: processEnvironment())
            print(configuration.effectiveConfiguration(), terminator: "")
            if configuration.upstreams.isEmpty {
                let upstreams = try Sidecache.plannedUpstreams(for: configuration)
                print("# upstreams from \(configuration.resolvConf): \(upstreams.map(\.description).joined(separator: ","))")
            }
        } catch let error as ConfigurationError {
            printError("sidecache: \(error)")
            throw ExitCode(2)
        }
    }
}

/// `sidecache inject ...` runs the `sidecache-inject` binary installed next to this one, with the same arguments
/// (git-subcommand style). The injector needs a YAML library and with it Foundation; keeping it in its own binary
/// keeps Foundation out of the daemon (and its idle memory).
struct Inject: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Add the sidecache sidecar to Kubernetes YAML (runs sidecache-inject; see sidecache inject --help).")

    @Argument(parsing: .captureForPassthrough, help: "Arguments for sidecache-inject, e.g. --upstream 10.96.0.10 deploy.yaml")
    var arguments: [String] = []

    func run() throws {
        try execInjector(command: "inject", arguments)
    }
}

/// `sidecache webhook ...` runs `sidecache-inject webhook ...`: the admission webhook shares the injector (and needs
/// Foundation for JSON and TLS besides), so it lives in the same binary.
struct Webhook: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the mutating admission webhook that injects the sidecar (runs sidecache-inject webhook; see sidecache webhook --help).")

    @Argument(parsing: .captureForPassthrough, help: "Settings for the webhook, e.g. --upstream 10.96.0.10 --tls-cert tls.crt --tls-key tls.key")
    var arguments: [String] = []

    func run() throws {
        try execInjector(command: "webhook", ["webhook"] + arguments)
    }
}

/// Replaces this process with the sibling `sidecache-inject`, passing `arguments`. Returns only by throwing.
func execInjector(command: String, _ arguments: [String]) throws {
    let injector = siblingExecutable("sidecache-inject")
    if let injector, access(injector, X_OK) != 0 {
        try buildInjectorInPackage(injector)
    }
    guard let injector, access(injector, X_OK) == 0 else {
        printError(
            "sidecache \(command): \(injector ?? "sidecache-inject") is missing: it is built with sidecache (swift build) and must be installed in the same directory")
        throw ExitCode(127)
    }
    var argv: [UnsafeMutablePointer<CChar>?] = ([injector] + arguments).map { strdup($0) }
    argv.append(nil)
    execv(injector, argv)
    printError("sidecache \(command): cannot run \(injector): \(String(cString: strerror(errno)))")
    throw ExitCode(126)
}


/// `swift run sidecache inject ...` in a fresh clone: `swift run` builds the sidecache product only, not the injector.
/// SwiftPM cannot make it build both without linking the injector's libraries (Yams, Foundation) into the daemon: an
/// executable target that depends on another links that one's library dependencies, and a plugin's tool is built
/// under another name. So when the missing injector's place is a SwiftPM build directory (`SCRATCH/TRIPLE/CONFIG`
/// or `SCRATCH/CONFIG`, with Package.swift beside SCRATCH), build it there with the same configuration, the
/// compiler's output on standard error so that standard output stays the YAML. Anywhere else (an installed binary,
/// the image) nothing happens and the caller reports the missing file.
func buildInjectorInPackage(_ injector: String) throws {
    func parent(_ path: String) -> String? {
        guard let slash = path.lastIndex(of: "/"), slash != path.startIndex else { return nil }
        return String(path[..<slash])
    }
    guard let directory = parent(injector) else { return }
    let configuration = String(directory[directory.index(after: directory.lastIndex(of: "/") ?? directory.startIndex)...])
    guard configuration == "debug" || configuration == "release" else { return }
    var scratch = directory
    for _ in 0..<2 {
        guard let up = parent(scratch) else { return }
        if access(up + "/Package.swift", R_OK) == 0 { break }
        scratch = up
    }
    guard let root = parent(scratch), access(root + "/Package.swift", R_OK) == 0 else { return }
    let arguments = [
        "swift", "build", "--package-path", root, "--scratch-path", scratch, "-c", configuration,
        "--product", "sidecache-inject",
    ]
    printError("sidecache inject: sidecache-inject is not built yet; building it: \(arguments.joined(separator: " "))")
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_adddup2(&actions, 2, 1)
    var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
    defer { argv.forEach { free($0) } }
    var pid: pid_t = 0
    let code = posix_spawnp(&pid, "swift", &actions, nil, argv, environ)
    guard code == 0 else {
        printError("sidecache inject: cannot run swift to build sidecache-inject: \(String(cString: strerror(code)))")
        throw ExitCode(127)
    }
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    guard status == 0 else {
        printError("sidecache inject: building sidecache-inject failed")
        throw ExitCode(1)
    }
}

/// `NAME` in the directory of the running executable (/proc/self/exe), or nil when that cannot be read.
func siblingExecutable(_ name: String) -> String? {
    var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
    let count = readlink("/proc/self/exe", &buffer, buffer.count - 1)
    guard count > 0 else { return nil }
    let path = String(decoding: buffer[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    guard let slash = path.lastIndex(of: "/") else { return nil }
    return String(path[...slash]) + name
}
