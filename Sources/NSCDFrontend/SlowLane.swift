import CPosixShims
import NSCDWire
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Connections whose request had not fully arrived at accept time. One thread polls them all; each gets
/// `deadlineMilliseconds` to finish its request, then it is closed. At most `capacity` are held: past it the oldest
/// are closed (their clients fall back to their own resolver), so a flood of silent connections costs a bounded set
/// of descriptors, never delays the accept threads, and cannot crowd out a client that has just connected.
final class SlowLane: Sendable {
    struct Connection {
        var fd: Int32
        var bytes: [UInt8]
        var deadline: Int64
    }

    private let deadlineMilliseconds: Int64
    private let capacity: Int
    private let incoming = Mutex<[Connection]>([])
    private let wake: (read: Int32, write: Int32)
    private let stopped = Atomic<Bool>(false)
    /// Connections held (handed over and not yet answered or closed).
    private let held = Atomic<Int>(0)

    /// At most a few connections are waiting: no sign of a flood of slow or silent clients, so an accept thread may
    /// wait a moment for a late request itself (NSCDDoor.acceptLoop).
    var isQuiet: Bool { held.load(ordering: .relaxed) < 4 }

    init(deadlineMilliseconds: Int64, capacity: Int) {
        self.deadlineMilliseconds = deadlineMilliseconds
        self.capacity = capacity
        var fds: [Int32] = [-1, -1]
        sidecache_pipe2(&fds, Int32(O_CLOEXEC | O_NONBLOCK))
        wake = (fds[0], fds[1])
    }

    deinit {
        close(wake.read)
        close(wake.write)
    }

    func add(_ fd: Int32, bytes: [UInt8]) {
        held.wrappingAdd(1, ordering: .relaxed)
        incoming.withLock {
            $0.append(Connection(fd: fd, bytes: bytes, deadline: Socket.monotonicMilliseconds() + deadlineMilliseconds))
        }
        var byte: UInt8 = 1
        _ = write(wake.write, &byte, 1)
    }

    func stop() {
        stopped.store(true, ordering: .releasing)
        var byte: UInt8 = 1
        _ = write(wake.write, &byte, 1)
    }

    func run(_ door: NSCDDoor) {
        var waiting: [Connection] = []
        var chunk = [UInt8](repeating: 0, count: NSCDProtocol.requestHeaderSize + NSCDProtocol.maximumKeyLength)
        while !stopped.load(ordering: .acquiring) {
            waiting += incoming.withLock { list in
                defer { list = [] }
                return list
            }
            if waiting.count > capacity {
                // Over capacity the oldest go: they have waited longest and are the likeliest to be silent on
                // purpose, while the newest are most often a client whose request is a moment behind its connect.
                for dropped in waiting.prefix(waiting.count - capacity) {
                    door.statistics.bump(door.statistics.slowClosed)
                    close(dropped.fd)
                }
                waiting.removeFirst(waiting.count - capacity)
            }
            var pollers = [pollfd(fd: wake.read, events: Int16(POLLIN), revents: 0)]
            pollers += waiting.map { pollfd(fd: $0.fd, events: Int16(POLLIN), revents: 0) }
            let now = Socket.monotonicMilliseconds()
            let nextDeadline = waiting.map(\.deadline).min() ?? now + 1000
            _ = poll(&pollers, nfds_t(pollers.count), Int32(max(1, min(1000, nextDeadline - now))))
            if pollers[0].revents != 0 {
                while chunk.withUnsafeMutableBytes({ read(wake.read, $0.baseAddress, $0.count) }) > 0 {}
            }
            let after = Socket.monotonicMilliseconds()
            var keep: [Connection] = []
            defer { held.store(keep.count + incoming.withLock { $0.count }, ordering: .relaxed) }
            for (index, var connection) in waiting.enumerated() {
                let events = pollers[index + 1].revents
                if events != 0 {
                    let room = chunk.count - connection.bytes.count
                    let count = chunk.withUnsafeMutableBytes { recv(connection.fd, $0.baseAddress, max(1, room), 0) }
                    if count > 0 {
                        connection.bytes += chunk[0..<count]
                        if let request = door.completeRequest(connection.bytes, count: connection.bytes.count) {
                            door.handle(connection.fd, request)
                            continue
                        }
                        if !door.requestIsIncomplete(connection.bytes, count: connection.bytes.count) {
                            door.statistics.bump(door.statistics.malformed)
                            close(connection.fd)
                            continue
                        }
                    } else if count == 0 || (errno != EAGAIN && errno != EINTR) {
                        close(connection.fd)
                        continue
                    }
                }
                if after >= connection.deadline {
                    door.statistics.bump(door.statistics.slowClosed)
                    close(connection.fd)
                    continue
                }
                keep.append(connection)
            }
            waiting = keep
        }
        for connection in waiting { close(connection.fd) }
        for connection in incoming.withLock({ $0 }) { close(connection.fd) }
    }
}
