import CPosixShims
import DNSCache
import DNSWire
import NIOCore
import NIOPosix
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// One UDP socket of the DNS door and the thread that serves it, outside NIO's channel pipeline.
///
/// The thread blocks in `recvmmsg` (MSG_WAITFORONE: woken by the first datagram, then it takes whatever else is
/// queued, up to `vectorReadCount`), answers every hit straight into the batch's send slots, and sends the replies
/// with one `sendmmsg`: two system calls per batch and no allocation per datagram beyond the cache key. NIO's UDP
/// channel cost an `AddressedEnvelope`, a `ByteBuffer` and the pipeline's dispatch per datagram, plus an
/// `epoll_wait` per wake-up (docs/benchmarks.md, "DNS door vs unbound").
///
/// A miss goes to the miss queue of `missLoop`; its reply is sent later from that loop with one `sendto` under
/// `socketState`, which also guards the descriptor against being closed meanwhile.
final class DatagramListener: Sendable {
    /// The bound address (with the port the kernel picked, when 0 was asked for).
    let address: SocketAddress
    /// Where each serving thread's misses go (one loop per thread).
    let missLoops: [any EventLoop]
    private let fd: Int32
    private let stopping = Atomic<Bool>(false)
    /// True once the descriptor is closed: late replies are then dropped.
    private let socketState = Mutex<Bool>(false)
    /// The thread serving the socket, once started.
    private let thread = Mutex<NIOThreadPool?>(nil)

    /// Datagrams longer than this are not queries we answer (they are dropped, counted as malformed).
    static let receiveSlotSize = 4096

    /// Opens and binds a UDP socket with SO_REUSEPORT, so that other listeners can share the address and port.
    init(binding address: SocketAddress, missLoops: [any EventLoop]) throws {
        let family: Int32
        switch address {
        case .v4: family = AF_INET
        case .v6: family = AF_INET6
        default: throw DNSDoorError(address: address, transport: "UDP", underlying: DatagramListenerError("not an IP address"))
        }
        let fd = socket(family, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw DNSDoorError(address: address, transport: "UDP", underlying: DatagramListenerError.lastError("socket")) }
        var one: Int32 = 1
        let optionSize = socklen_t(MemoryLayout<Int32>.size)
        var bound = setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, optionSize) == 0
            && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, optionSize) == 0
        if bound && family == AF_INET6 {
            bound = setsockopt(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, &one, optionSize) == 0
        }
        if bound {
            bound = address.withSockAddr { Glibc.bind(fd, $0, socklen_t($1)) } == 0
        }
        var local = sockaddr_storage()
        var localLength = socklen_t(MemoryLayout<sockaddr_storage>.size)
        if bound {
            bound = withUnsafeMutablePointer(to: &local) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &localLength) }
            } == 0
        }
        guard bound else {
            let error = DatagramListenerError.lastError("bind")
            Glibc.close(fd)
            throw DNSDoorError(address: address, transport: "UDP", underlying: error)
        }
        let port = withUnsafeBytes(of: &local) { raw -> Int in
            // sin_port and sin6_port are both at offset 2, in network order.
            Int(raw[2]) << 8 | Int(raw[3])
        }
        self.fd = fd
        self.missLoops = missLoops
        var actual = address
        actual.port = port
        self.address = actual
    }

    /// Starts the serving threads, one per miss loop.
    func start(door: DNSDoor) throws {
        let pool = NIOThreadPool(numberOfThreads: missLoops.count)
        pool.start()
        thread.withLock { $0 = pool }
        for loop in missLoops { pool.submit { _ in self.serve(door: door, missLoop: loop) } }
    }

    /// Stops the thread (shutdown(SHUT_RD) wakes it from recvmmsg), waits for it, then closes the socket. Late replies
    /// to misses are dropped from then on.
    func close() async {
        stopping.store(true, ordering: .releasing)
        socketState.withLock { closed in
            if !closed { shutdown(fd, Int32(SHUT_RD)) }
        }
        if let pool = thread.withLock({ pool in defer { pool = nil }; return pool }) {
            try? await pool.shutdownGracefully()
        }
        socketState.withLock { closed in
            if !closed { Glibc.close(fd) }
            closed = true
        }
    }

    /// Sends the reply to a miss (from the miss loop), unless the socket is closed by now.
    func sendLate(_ reply: [UInt8], to peer: DatagramPeer) {
        socketState.withLock { closed in
            guard !closed else { return }
            reply.withUnsafeBytes { bytes in
                peer.withAddress { address, length in
                    _ = sidecache_send_datagram(fd, bytes.baseAddress, bytes.count, address, UInt32(length))
                }
            }
        }
    }

    // MARK: - The serving thread

    private func serve(door: DNSDoor, missLoop: any EventLoop) {
        let configuration = door.configuration
        let sendSlotSize = max(512, configuration.maximumUDPResponseSize)
        guard
            let batch = sidecache_datagram_batch_create(
                Int32(max(1, configuration.vectorReadCount)), Self.receiveSlotSize, sendSlotSize)
        else {
            door.logger.critical("DNS door: no memory for the UDP receive buffers", metadata: ["address": "\(address)"])
            return
        }
        defer { sidecache_datagram_batch_destroy(batch) }
        let sendCapacity = sidecache_datagram_batch_reply_capacity(batch)
        var tally = DatagramTally()
        while !stopping.load(ordering: .relaxed) {
            let count = Int(sidecache_datagram_batch_receive(batch, fd))
            if stopping.load(ordering: .relaxed) { break }
            let debug = door.logger.logLevel <= .debug
            guard count > 0 else {
                if count < 0 && errno != EINTR && errno != EAGAIN {
                    // ENOMEM and the like: do not spin.
                    door.logger.warning(
                        "DNS door: recvmmsg failed", metadata: ["address": "\(address)", "errno": "\(errno)"])
                    usleep(1000)
                }
                continue
            }
            for index in 0..<Int32(count) {
                var length = 0
                var truncated: Int32 = 0
                let start = sidecache_datagram_batch_datagram(batch, index, &length, &truncated)
                tally.queries += 1
                guard truncated == 0 else {
                    // Longer than any query we accept: not worth an answer (NIO's path cut it and sent FORMERR).
                    door.statistics.bump(door.statistics.dropped)
                    continue
                }
                let packet = UnsafeRawBufferPointer(start: start, count: length)
                let out = UnsafeMutableRawBufferPointer(
                    start: sidecache_datagram_batch_reply_buffer(batch, index), count: sendCapacity)
                let replyLength = respond(
                    to: packet, into: out, door: door, missLoop: missLoop, debug: debug, tally: &tally
                ) {
                    var addressLength: UInt32 = 0
                    let source = sidecache_datagram_batch_source(batch, index, &addressLength)
                    return DatagramPeer(source!, length: addressLength)
                }
                sidecache_datagram_batch_set_reply(batch, index, replyLength)
            }
            var failed: Int32 = 0
            sidecache_datagram_batch_send(batch, fd, &failed)
            tally.sendFailures += Int(failed)
            tally.flush(into: door.statistics)
        }
    }

    /// Answers one datagram: a hit or a door-made reply is written into `out` and its length returned; a miss is
    /// queued (0 returned) and answered later through `sendLate`. `peer` is asked only for a miss, so a hit builds
    /// no closure.
    private func respond(
        to packet: UnsafeRawBufferPointer, into out: UnsafeMutableRawBufferPointer, door: DNSDoor,
        missLoop: any EventLoop, debug: Bool,
        tally: inout DatagramTally, peer: () -> DatagramPeer
    ) -> Int {
        func copy(_ reply: [UInt8]) -> Int {
            guard reply.count <= out.count else { return 0 }
            reply.withUnsafeBytes { out.baseAddress!.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
            return reply.count
        }
        let disposition = door.dispose(packet, overUDP: true, debug: debug) { entry, now, seed, request, limit in
            DNSResponder.render(entry, now: now, seed: seed, for: request, packet: packet, limit: limit, into: out)
        }
        switch disposition {
        case .drop:
            return 0
        case .reply(let reply):
            tally.replies.record(type: DNSDoor.questionType(of: packet), rcode: DNSDoor.responseCode(of: reply))
            return copy(reply)
        case .hit(let length, let type, let rcode):
            tally.replies.record(type: type, rcode: rcode)
            return length
        case .miss(let request, let limit):
            let destination = peer()
            let client = destination.withAddress { ClientAddress($0, length: $1) }
            let immediate = door.enqueue(
                request, limit: limit, packet: packet, client: client, eventLoop: missLoop
            ) { reply in
                self.sendLate(reply, to: destination)
            }
            guard let immediate else { return 0 }
            tally.replies.record(type: request.key.type, rcode: DNSDoor.responseCode(of: immediate))
            return copy(immediate)
        }
    }
}

/// A client's address, kept for the reply to its miss.
struct DatagramPeer: @unchecked Sendable {
    var storage = sockaddr_storage()
    var length: UInt32

    init(_ address: UnsafeRawPointer, length: UInt32) {
        let size = min(Int(length), MemoryLayout<sockaddr_storage>.size)
        self.length = UInt32(size)
        withUnsafeMutableBytes(of: &storage) { $0.baseAddress!.copyMemory(from: address, byteCount: size) }
    }

    func withAddress<R>(_ body: (UnsafeRawPointer, Int) -> R) -> R {
        withUnsafeBytes(of: storage) { body($0.baseAddress!, Int(length)) }
    }
}

/// A UDP thread's own counts, added to the door's shared counters once per batch rather than once per datagram (the
/// two threads would otherwise pull the same cache lines back and forth on every query).
struct DatagramTally {
    var queries = 0
    var sendFailures = 0
    var replies = ReplyTally(udp: true)

    mutating func flush(into statistics: DNSFrontendStatistics) {
        if queries > 0 { statistics.udpQueries.wrappingAdd(queries, ordering: .relaxed) }
        if sendFailures > 0 { statistics.dropped.wrappingAdd(sendFailures, ordering: .relaxed) }
        queries = 0
        sendFailures = 0
        statistics.replies.add(&replies)
    }
}

struct DatagramListenerError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }

    static func lastError(_ call: String) -> DatagramListenerError {
        DatagramListenerError("\(call): \(String(cString: strerror(errno)))")
    }
}
