import CPosixShims

#if canImport(Glibc)
import Glibc
#endif

/// A plain POSIX thread for the blocking accept loop (NIO's channel-per-connection machinery costs more than the
/// whole nscd exchange; see docs/architecture.md).
enum PosixThread {
    private final class Box {
        let body: () -> Void
        init(_ body: @escaping () -> Void) { self.body = body }
    }

    static func spawn(_ body: @escaping @Sendable () -> Void) -> pthread_t? {
        var thread = pthread_t()
        let box = Unmanaged.passRetained(Box(body)).toOpaque()
        let result = pthread_create(&thread, nil, { argument in
            let box = Unmanaged<Box>.fromOpaque(argument!).takeRetainedValue()
            box.body()
            return nil
        }, box)
        if result != 0 {
            Unmanaged<Box>.fromOpaque(box).release()
            return nil
        }
        return thread
    }

    static func join(_ thread: pthread_t) {
        pthread_join(thread, nil)
    }
}

/// Low-level socket helpers, each one system call.
enum Socket {
    /// Writes all of `bytes`, waiting at most `timeoutMilliseconds` in total when the socket buffer is full.
    /// glibc reads the header with one read(), so the reply goes out in one send when it fits (it always does).
    @discardableResult
    static func sendAll(_ fd: Int32, _ bytes: [UInt8], timeoutMilliseconds: Int32 = 200) -> Bool {
        var offset = 0
        var waited: Int32 = 0
        while offset < bytes.count {
            let sent = bytes.withUnsafeBytes { buffer in
                send(fd, buffer.baseAddress! + offset, buffer.count - offset, Int32(MSG_NOSIGNAL))
            }
            if sent > 0 {
                offset += sent
                continue
            }
            if sent < 0 && errno == EINTR { continue }
            guard sent < 0 && (errno == EAGAIN || errno == EWOULDBLOCK), waited < timeoutMilliseconds else { return false }
            var poller = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
            _ = poll(&poller, 1, 20)
            waited += 20
        }
        return true
    }

    /// The peer's uid (SO_PEERCRED), or nil.
    static func peerUID(_ fd: Int32) -> UInt32? {
        let uid = sidecache_peer_uid(fd)
        return uid < 0 ? nil : UInt32(uid)
    }

    static func monotonicMilliseconds() -> Int64 {
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return Int64(spec.tv_sec) * 1000 + Int64(spec.tv_nsec) / 1_000_000
    }
}
