import CPosixShims
import DNSCache
import DNSWire
import Logging
import NSCDSharedMap
import NSCDWire
import ServiceLifecycle
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The nscd door: glibc's nscd protocol on a Unix socket, answered from the cache engine.
///
/// One request per connection. Accept threads run a blocking loop: `accept4`, read the request (glibc has written it
/// before `accept4` returns, so it is usually there at once), answer a cached name inline with one `send`, close.
/// A request that is not complete yet goes to the slow lane (one thread polling all such connections with a deadline),
/// so a client that sends nothing never holds an accept thread. A name that is not cached goes to the door's task
/// group, which asks the engine and answers when it has the result.
public final class NSCDDoor: Service, Sendable {
    public let configuration: NSCDFrontendConfiguration
    public let resolver: HostResolver
    public let statistics = NSCDStatistics()
    public let cache: ResponseCache
    /// The shared-memory hosts map handed out on GETFDHST, unless `--shared-map off` (docs/nscd.md).
    public let sharedMap: SharedHostsMap?
    /// Where miss lookups run (nil: the cooperative pool).
    let lookupExecutor: (any TaskExecutor)?
    let logger: Logger
    let onShutdownRequest: @Sendable () -> Void

    private let listener = Atomic<Int32>(-1)
    private let stopping = Atomic<Bool>(false)
    private let pendingLookups = Atomic<Int>(0)
    private let lookups: AsyncStream<PendingLookup>
    private let lookupSink: AsyncStream<PendingLookup>.Continuation
    let slowLane: SlowLane

    struct PendingLookup: Sendable {
        var fd: Int32
        var request: NSCDRequest
    }

    public init(
        configuration: NSCDFrontendConfiguration, resolver: HostResolver, cache: ResponseCache,
        sharedMap: SharedHostsMap? = nil, lookupExecutor: (any TaskExecutor)? = nil,
        logger: Logger = Logger(label: "sidecache.nscd"), onShutdownRequest: @escaping @Sendable () -> Void = {}
    ) {
        self.configuration = configuration
        self.lookupExecutor = lookupExecutor
        self.resolver = resolver
        self.cache = cache
        self.sharedMap = sharedMap
        self.logger = logger
        self.onShutdownRequest = onShutdownRequest
        (lookups, lookupSink) = AsyncStream.makeStream(bufferingPolicy: .unbounded)
        slowLane = SlowLane(
            deadlineMilliseconds: configuration.readDeadlineMilliseconds, capacity: configuration.maximumSlowConnections)
    }

    /// Creates the socket: parent directory if missing, bound under a temporary name, mode 0666, then renamed over
    /// the path, so a stale socket of a previous run is replaced atomically and clients never see a missing file.
    public func bind() throws(NSCDDoorError) {
        let path = configuration.socketPath
        let directory = path.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
        if !directory.isEmpty { try Self.makeDirectories(directory) }
        let temporary = "\(directory.isEmpty ? "." : directory)/.sidecache-\(getpid()).sock"
        guard temporary.utf8.count < 108, path.utf8.count < 108 else {
            throw NSCDDoorError(path: path, reason: "socket path longer than 107 octets")
        }
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw NSCDDoorError(path: path, reason: "socket: \(Self.lastError())") }
        unlink(temporary)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            for (i, byte) in temporary.utf8.enumerated() { buffer[i] = byte }
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard bound == 0 else {
            let reason = Self.lastError()
            close(fd)
            throw NSCDDoorError(path: path, reason: "bind: \(reason)")
        }
        // Any process in the pod may connect (nscd.tmpfiles makes the socket 0666 too).
        chmod(temporary, 0o666)
        guard listen(fd, SOMAXCONN) == 0, rename(temporary, path) == 0 else {
            let reason = Self.lastError()
            close(fd)
            unlink(temporary)
            throw NSCDDoorError(path: path, reason: "listen/rename: \(reason)")
        }
        listener.store(fd, ordering: .releasing)
        logger.info("nscd door listening", metadata: ["socket": "\(path)"])
        // Only now, with the socket listening, may a predecessor's clients be sent to re-request the map.
        sharedMap?.takeOver()
    }

    static func makeDirectories(_ path: String) throws(NSCDDoorError) {
        var current = path.hasPrefix("/") ? "" : "."
        for component in path.split(separator: "/") {
            current += "/" + component
            if mkdir(current, 0o755) != 0 && errno != EEXIST {
                throw NSCDDoorError(path: path, reason: "mkdir \(current): \(lastError())")
            }
        }
    }

    static func lastError() -> String { String(cString: strerror(errno)) }

    /// Runs the accept threads and the slow lane, and answers misses, until graceful shutdown or cancellation.
    /// Then stops accepting, answers the lookups already taken, and removes the socket file.
    public func run() async throws {
        if listener.load(ordering: .acquiring) < 0 { try bind() }
        let fd = listener.load(ordering: .acquiring)
        var threads: [pthread_t] = []
        for index in 0..<max(1, configuration.acceptThreads) {
            if let thread = PosixThread.spawn({ self.acceptLoop(fd, preferred: index == 0) }) { threads.append(thread) }
        }
        if let thread = PosixThread.spawn({ self.slowLane.run(self) }) { threads.append(thread) }
        if let map = sharedMap, let thread = PosixThread.spawn({ self.runSharedMap(map) }) { threads.append(thread) }
        await withGracefulShutdownHandler {
            await withTaskCancellationHandler {
                // On the lookup executor (the daemon gives an event loop) when there is one: a miss's walk then
                // resumes on the thread its upstream replies arrive on (EventLoopTaskExecutor).
                await withTaskExecutorPreference(self.lookupExecutor) {
                    await withDiscardingTaskGroup { group in
                        for await lookup in self.lookups {
                            group.addTask { await self.answer(lookup) }
                        }
                    }
                }
            } onCancel: {
                self.stop()
            }
        } onGracefulShutdown: {
            self.stop()
        }
        for thread in threads { PosixThread.join(thread) }
        unlink(configuration.socketPath)
        logger.info("nscd door stopped")
    }

    var isStopping: Bool { stopping.load(ordering: .relaxed) }

    /// Stops accepting: wakes the accept threads, ends the lookup stream once they are gone.
    func stop() {
        guard !stopping.exchange(true, ordering: .acquiringAndReleasing) else { return }
        let fd = listener.load(ordering: .acquiring)
        // shutdown() wakes threads blocked in accept(); the descriptor is closed once they have left.
        shutdown(fd, Int32(SHUT_RDWR))
        slowLane.stop()
        sharedMap?.interruptSleep()
        lookupSink.finish()
    }

    // MARK: - Accept path

    /// How long an accept thread waits for a request that has not arrived at accept time, while the slow lane is
    /// quiet (`SlowLane.isQuiet`), before handing the connection over.
    static let inlineReadWaitMicroseconds = 500

    /// One accept thread. The `preferred` one waits for connections with epoll (EPOLLEXCLUSIVE) before accepting,
    /// which puts it ahead of the others: a connection goes to it whenever it is idle, and to a thread blocked in
    /// accept4 only while it is busy. Blocking in accept4 alone, the threads would take turns (the kernel wakes its
    /// accept waiters in FIFO order), so a client making one call after another would wake a different, colder
    /// thread each time: measured with one getaddrinfo thread, 1-1.3 ms p99 against 0.2-0.4 ms with one preferred
    /// thread. The others still take the overflow when several clients call at once.
    private func acceptLoop(_ listenFD: Int32, preferred: Bool) {
        var buffer = [UInt8](repeating: 0, count: NSCDProtocol.requestHeaderSize + NSCDProtocol.maximumKeyLength)
        let poller = preferred ? sidecache_exclusive_listener(listenFD) : -1
        defer { if poller >= 0 { close(poller) } }
        while !stopping.load(ordering: .relaxed) {
            if poller >= 0 && sidecache_wait_exclusive(poller) < 0 { break }
            let fd = sidecache_accept4(listenFD, Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue))
            if fd < 0 {
                if errno == EINTR || errno == ECONNABORTED { continue }
                if errno == EMFILE || errno == ENFILE {
                    // Out of descriptors: back off instead of spinning; waiting clients time out and fall back.
                    usleep(10_000)
                    continue
                }
                break
            }
            statistics.bump(statistics.connections)
            var count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && slowLane.isQuiet
                && sidecache_wait_readable(fd, Self.inlineReadWaitMicroseconds) == 1
            {
                // accept4 returned before the client's request arrived: most often the client was descheduled
                // between connect and send (the woken accept thread took its core). Wait for it here, briefly,
                // instead of handing the connection to the slow lane: that hand-over costs two more thread wake-ups
                // and was the 1-2 ms tail of a one-thread getaddrinfo loop. Only while the slow lane is nearly
                // empty, so a flood of silent connections still costs the accept thread nothing.
                count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            }
            if count > 0, let request = completeRequest(buffer, count: count) {
                handle(fd, request)
            } else if count > 0 && count < buffer.count && requestIsIncomplete(buffer, count: count) {
                slowLane.add(fd, bytes: Array(buffer[0..<count]))
            } else if count < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) {
                slowLane.add(fd, bytes: [])
            } else {
                statistics.bump(statistics.malformed)
                close(fd)
            }
        }
    }

    /// The request if `count` octets hold a whole one; nil if more is needed or it is malformed (see
    /// `requestIsIncomplete`).
    func completeRequest(_ buffer: [UInt8], count: Int) -> NSCDRequest? {
        buffer.withUnsafeBytes { raw in
            try? NSCDRequest(parsing: UnsafeRawBufferPointer(rebasing: raw[0..<count]))
        }
    }

    /// True when the first `count` octets of `buffer` are a valid beginning of a request that is not complete yet.
    /// Reads nothing past `count` (the slow lane's buffers hold exactly what arrived).
    func requestIsIncomplete(_ buffer: [UInt8], count: Int) -> Bool {
        let count = min(count, buffer.count)
        if count < NSCDProtocol.requestHeaderSize {
            // Judge the header fields that have arrived: version, then type.
            if count >= 4 && buffer.nscdInt32(at: 0) != NSCDProtocol.version { return false }
            if count >= 8 && NSCDRequestType(rawValue: buffer.nscdInt32(at: 4)) == nil { return false }
            return true
        }
        return buffer.withUnsafeBytes { raw in
            guard let (_, keyLength) = try? NSCDRequest.parseHeader(UnsafeRawBufferPointer(rebasing: raw[0..<count]))
            else { return false }
            return count < NSCDProtocol.requestHeaderSize + keyLength
        }
    }

    /// Answers one complete request on the calling thread if it can; otherwise queues the lookup.
    func handle(_ fd: Int32, _ request: NSCDRequest) {
        statistics.count(request.type)
        switch request.type {
        case .getAddressInfo, .getHostByName, .getHostByNameV6, .getHostByAddress, .getHostByAddressV6:
            if let lookup = cachedLookup(request) {
                reply(fd, request, lookup)
                return
            }
            guard pendingLookups.wrappingAdd(1, ordering: .relaxed).newValue <= configuration.maximumPendingLookups,
                !stopping.load(ordering: .relaxed)
            else {
                pendingLookups.wrappingSubtract(1, ordering: .relaxed)
                statistics.bump(statistics.fallbacks)
                close(fd)
                return
            }
            if case .terminated = lookupSink.yield(PendingLookup(fd: fd, request: request)) {
                // Stopping raced the check above: close, so the client resolves by itself at once.
                pendingLookups.wrappingSubtract(1, ordering: .relaxed)
                statistics.bump(statistics.fallbacks)
                close(fd)
            }
        case .invalidate:
            // Root only. A database name (`nscd -i hosts`) flushes everything; any other key is taken as a host
            // name whose entries alone are flushed (`sidecache flush NAME`, an extension of the protocol).
            if Socket.peerUID(fd) == 0 {
                let key = request.keyString
                let databases: Set<String> = ["hosts", "passwd", "group", "services", "netgroup"]
                let name = databases.contains(key) ? nil : try? DNSName(key)
                let removed = databases.contains(key) || name == nil ? cache.flush() : cache.flush(name: name)
                invalidateSharedMap(databases.contains(key) || name == nil ? nil : key)
                logger.notice(
                    "cache invalidated by nscd INVALIDATE", metadata: ["key": "\(key)", "entries": "\(removed)"])
                Socket.sendAll(fd, [0, 0, 0, 0])
            }
            close(fd)
        case .shutdown:
            let root = Socket.peerUID(fd) == 0
            close(fd)
            if root {
                logger.notice("shutdown requested over the nscd socket (nscd -K)")
                onShutdownRequest()
            }
        case .getStatistics:
            // `nscd -g` expects nscd's own statistics layout; sidecache's are on the admin endpoint instead.
            close(fd)
        default:
            if request.type == .getHostsMapping, sharedMap != nil {
                // On the accept path, never behind lookups: a GETFD that takes 5 s costs the client its map for life.
                sendMapping(fd)
            } else if request.type.isMappingRequest {
                // No shared-memory map: close at once, the client falls back to the socket for good.
                close(fd)
            } else if let notServed = NSCDNotServedResponse.reply(for: request.type) {
                // passwd, group, services, netgroup: found = -1, the client reads its own files.
                Socket.sendAll(fd, notServed)
                close(fd)
            } else {
                close(fd)
            }
        }
    }

    func cachedLookup(_ request: NSCDRequest) -> TimedHostLookup? {
        switch request.type {
        case .getAddressInfo: resolver.cachedTimedLookup(request.keyString, families: .both)
        case .getHostByName: resolver.cachedTimedLookup(request.keyString, families: .v4)
        case .getHostByNameV6: resolver.cachedTimedLookup(request.keyString, families: .v6)
        case .getHostByAddress, .getHostByAddressV6: resolver.cachedTimedReverse(request.key)
        default: nil
        }
    }

    private func answer(_ pending: PendingLookup) async {
        let request = pending.request
        let lookup: TimedHostLookup
        switch request.type {
        case .getAddressInfo: lookup = await resolver.timedLookup(request.keyString, families: .both)
        case .getHostByName: lookup = await resolver.timedLookup(request.keyString, families: .v4)
        case .getHostByNameV6: lookup = await resolver.timedLookup(request.keyString, families: .v6)
        default: lookup = await resolver.timedReverse(request.key)
        }
        reply(pending.fd, request, lookup)
        pendingLookups.wrappingSubtract(1, ordering: .relaxed)
    }

    /// Writes the reply for a finished lookup (header and payload in one send) and closes. A temporary failure is
    /// answered by closing without a byte: glibc then resolves this call by itself instead of caching a false
    /// "no such host" (docs/nscd.md, "Temporary failures"). Then, with the client served, the same answer goes
    /// into the shared map.
    func reply(_ fd: Int32, _ request: NSCDRequest, _ timed: TimedHostLookup) {
        logger.debug(
            "nscd request answered",
            metadata: ["type": "\(request.type)", "key": "\(request.keyString)", "outcome": "\(timed.lookup.logSummary)"])
        if let bytes = Self.encode(request, timed.lookup) {
            if !Socket.sendAll(fd, bytes) { statistics.bump(statistics.writeFailures) }
        } else {
            statistics.bump(statistics.fallbacks)
        }
        close(fd)
        publish(request, timed)
    }

    /// The reply bytes, or nil for "close without replying".
    public static func encode(_ request: NSCDRequest, _ lookup: HostLookup) -> [UInt8]? {
        switch lookup {
        case .temporaryFailure:
            return nil
        case .notFound(let noData):
            let error: NSCDHostError = noData ? .noData : .hostNotFound
            return request.type == .getAddressInfo
                ? NSCDAddressInfoResponse.notFound(error: error) : NSCDHostEntResponse.notFound(error: error)
        case .found(let answer):
            switch request.type {
            case .getAddressInfo:
                let addresses = answer.v4.map { NSCDAddress(family: NSCDAddress.inet, bytes: $0) }
                    + answer.v6.map { NSCDAddress(family: NSCDAddress.inet6, bytes: $0) }
                guard !addresses.isEmpty else { return NSCDAddressInfoResponse.notFound(error: .noData) }
                return NSCDAddressInfoResponse.found(addresses: addresses, canonicalName: answer.canonicalName)
            case .getHostByName, .getHostByAddress:
                let addresses = request.type == .getHostByAddress ? [request.key] : answer.v4
                guard !addresses.isEmpty else { return NSCDHostEntResponse.notFound(error: .noData) }
                return NSCDHostEntResponse.found(
                    name: answer.canonicalName, aliases: answer.aliases, family: Int32(NSCDAddress.inet),
                    addressLength: 4, addresses: addresses)
            default:
                // The v6 types always answer AF_INET6 with 16-octet addresses (nscd-protocol.md 3.4).
                let addresses = request.type == .getHostByAddressV6 ? [request.key] : answer.v6
                guard !addresses.isEmpty else { return NSCDHostEntResponse.notFound(error: .noData) }
                return NSCDHostEntResponse.found(
                    name: answer.canonicalName, aliases: answer.aliases, family: Int32(NSCDAddress.inet6),
                    addressLength: 16, addresses: addresses)
            }
        }
    }
}

/// The socket could not be created: names the setting and the path.
public struct NSCDDoorError: Error, CustomStringConvertible {
    public var path: String
    public var reason: String
    public var description: String { "nscd-socket: cannot listen on \(path): \(reason)" }
}

/// Counters of the nscd door.
public final class NSCDStatistics: Sendable {
    public let connections = Atomic<Int>(0)
    /// Requests closed without a reply because the name could not be resolved now (the client falls back).
    public let fallbacks = Atomic<Int>(0)
    public let malformed = Atomic<Int>(0)
    public let slowClosed = Atomic<Int>(0)
    public let writeFailures = Atomic<Int>(0)
    private let byType = Mutex<[Int]>(Array(repeating: 0, count: 22))

    func bump(_ counter: borrowing Atomic<Int>) { counter.wrappingAdd(1, ordering: .relaxed) }
    func count(_ type: NSCDRequestType) { byType.withLock { $0[Int(type.rawValue)] += 1 } }

    /// Requests by type.
    public func requests() -> [NSCDRequestType: Int] {
        let counts = byType.withLock { $0 }
        var result: [NSCDRequestType: Int] = [:]
        for type in NSCDRequestType.allCases where counts[Int(type.rawValue)] > 0 {
            result[type] = counts[Int(type.rawValue)]
        }
        return result
    }
}
