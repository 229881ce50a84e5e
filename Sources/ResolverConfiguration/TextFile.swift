#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads small configuration files (resolv.conf, hosts) with plain system calls: the daemon does not link
/// Foundation, which would cost megabytes of resident memory in every pod.
public enum TextFile {
    public struct ReadError: Error, CustomStringConvertible {
        public var path: String
        public var errno: Int32
        public var description: String { "\(path): \(String(cString: strerror(errno)))" }
    }

    /// The whole file as UTF-8 text (invalid bytes replaced). Refuses files over `limit` octets.
    public static func read(_ path: String, limit: Int = 1 << 20) throws(ReadError) -> String {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw ReadError(path: path, errno: errno) }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while bytes.count <= limit {
            let count = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw ReadError(path: path, errno: errno)
            }
            if count == 0 { break }
            bytes.append(contentsOf: chunk[0..<count])
        }
        guard bytes.count <= limit else { throw ReadError(path: path, errno: EFBIG) }
        return String(decoding: bytes, as: UTF8.self)
    }
}

extension ResolvConf {
    /// Reads and parses a resolv.conf file.
    public init(contentsOf path: String) throws(TextFile.ReadError) {
        self.init(parsing: try TextFile.read(path))
    }
}

/// A file's identity, size and modification time as last seen, to re-read it only when it changed (checked at most
/// once a second unless forced). The identity (device, inode) catches a file replaced by rename or by a Kubernetes
/// ConfigMap's symlink swap even when size and time agree.
public struct FileStamp: Sendable {
    var device: UInt64 = 0
    var inode: UInt64 = 0
    var modified = timespec()
    var size = -1
    var checkedAt = -1

    public init() {}

    /// Records the file's current stamp; true when it differs from the last one (or `force`).
    public mutating func changed(_ path: String, force: Bool = false) -> Bool {
        let now = Int(time(nil))
        if !force && checkedAt == now { return false }
        checkedAt = now
        var status = stat()
        let exists = stat(path, &status) == 0
        let fresh = (
            device: exists ? UInt64(status.st_dev) : 0, inode: exists ? UInt64(status.st_ino) : 0,
            size: exists ? Int(status.st_size) : -1, modified: exists ? status.st_mtim : timespec())
        defer {
            (device, inode, size, modified) = (fresh.device, fresh.inode, fresh.size, fresh.modified)
        }
        return force || fresh.size != size || fresh.device != device || fresh.inode != inode
            || fresh.modified.tv_sec != modified.tv_sec || fresh.modified.tv_nsec != modified.tv_nsec
    }
}
