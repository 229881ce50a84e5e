import NSCDWire

#if canImport(Glibc)
import Glibc
#endif

/// Speaks the protocol as glibc's client does (nscd_helper.c): connect, send the request in one write, read the
/// reply until the server closes. For `sidecache query` and tests.
public enum NSCDClient {
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    /// Sends `request` to the socket at `path` and returns every octet of the reply (empty if the server closed
    /// without answering). Waits at most `timeoutMilliseconds` for each read, as glibc waits 5 s.
    public static func exchange(_ request: NSCDRequest, socketPath path: String, timeoutMilliseconds: Int32 = 5000)
        throws -> [UInt8]
    {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "socket: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        guard path.utf8.count < 108 else { throw Failure(description: "\(path): path too long") }
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            for (i, byte) in path.utf8.enumerated() { buffer[i] = byte }
        }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard connected == 0 else { throw Failure(description: "\(path): \(String(cString: strerror(errno)))") }
        let bytes = request.encode()
        guard bytes.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }) == bytes.count else {
            throw Failure(description: "send: \(String(cString: strerror(errno)))")
        }
        var reply: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&poller, 1, timeoutMilliseconds) > 0 else {
                throw Failure(description: "no reply within \(timeoutMilliseconds) ms")
            }
            let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count <= 0 { break }
            reply += chunk[0..<count]
        }
        return reply
    }
}
