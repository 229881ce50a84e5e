#if canImport(Glibc)
import Glibc
#endif

/// One generation of the map: a file in sidecache's private directory, mapped read-write and shared by the writer,
/// plus a separate read-only descriptor that is what clients receive (a read-only descriptor cannot be mapped
/// writable, so no client can poison the map for the others; nscd-protocol.md 5.6).
///
/// The file is created under a temporary name beside the stable path and renamed over it once its contents are
/// complete (`install`), so the stable path always names the newest complete generation: that is where a restarted
/// daemon finds its predecessor's file (shared-map-design.md 8).
final class SharedMapFile: @unchecked Sendable {
    let stablePath: String
    private(set) var path: String
    let region: SharedMapRegion
    let readOnlyDescriptor: Int32
    private let writableDescriptor: Int32
    /// Octets of the file, all of it mapped: what clients are told to map (never more than the file).
    let fileSize: Int

    /// Slack after the data area: room for `data_size` to be raised (retired) twice without a client that maps
    /// the file afterwards refusing it (its check is mapsize >= header + buckets + data_size).
    static let slack = 64

    private init(stablePath: String, path: String, region: SharedMapRegion, readOnly: Int32, writable: Int32, size: Int) {
        self.stablePath = stablePath
        self.path = path
        self.region = region
        self.readOnlyDescriptor = readOnly
        self.writableDescriptor = writable
        self.fileSize = size
    }

    /// Creates, sizes and maps a new generation file next to `stablePath` with a fresh header and empty buckets.
    static func create(stablePath: String, dataSize: Int, module: Int, timestamp: Int64) throws(SharedMapError) -> SharedMapFile {
        let directory = String(stablePath.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/"))
        if !directory.isEmpty { try makeDirectories(directory) }
        var template = Array((stablePath + ".XXXXXX").utf8CString)
        let writable = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        if writable >= 0 { _ = fcntl(writable, F_SETFD, FD_CLOEXEC) }
        guard writable >= 0 else { throw SharedMapError(.cannotCreate, "mkstemp \(stablePath).XXXXXX: \(lastError())") }
        let path = template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        let mapped = SharedMapLayout.mappingSize(module: module, dataSize: dataSize)
        let size = SharedMapLayout.roundUp(mapped + slack, 4096)
        func fail(_ what: String) -> SharedMapError {
            let error = SharedMapError(.cannotCreate, "\(what) \(path): \(lastError())")
            Glibc.close(writable)
            unlink(path)
            return error
        }
        // posix_fallocate reserves the blocks now, so a full tmpfs fails here and not with SIGBUS on a later store.
        guard ftruncate(writable, off_t(size)) == 0 else { throw fail("ftruncate") }
        guard posix_fallocate(writable, 0, off_t(size)) == 0 else { throw fail("fallocate") }
        guard let base = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_SHARED, writable, 0), base != MAP_FAILED else {
            throw fail("mmap")
        }
        let readOnly = open(path, O_RDONLY | O_CLOEXEC)
        guard readOnly >= 0 else {
            munmap(base, size)
            throw fail("open read-only")
        }
        let region = SharedMapRegion(base: base, length: size, module: module)
        region.writeHeader(dataSize: dataSize, timestamp: timestamp)
        return SharedMapFile(stablePath: stablePath, path: path, region: region, readOnly: readOnly, writable: writable, size: size)
    }

    /// Renames the file over the stable path (atomic): from now on it is the one a successor takes over.
    func install() throws(SharedMapError) {
        guard path != stablePath else { return }
        guard rename(path, stablePath) == 0 else { throw SharedMapError(.cannotCreate, "rename \(path): \(Self.lastError())") }
        path = stablePath
    }

    /// Unmaps and closes. The file stays where it is unless `remove` (a file not installed, or superseded).
    func close(remove: Bool) {
        munmap(region.base, region.length)
        Glibc.close(readOnlyDescriptor)
        Glibc.close(writableDescriptor)
        if remove && path != stablePath { unlink(path) }
    }

    /// Retires the file a previous daemon left at `path`: raises its `data_size` by one, so every client still on
    /// it asks the socket (now ours) for the map at its next lookup. Only a file that looks like a map (version 2,
    /// header 120, a module, and room in the file for the raised size) is touched. Returns true if it was retired.
    static func retirePredecessor(at path: String) -> Bool {
        let fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW)
        guard fd >= 0 else { return false }
        defer { Glibc.close(fd) }
        var status = stat()
        guard fstat(fd, &status) == 0, status.st_mode & S_IFMT == S_IFREG, status.st_size >= SharedMapLayout.headerSize
        else { return false }
        let length = SharedMapLayout.headerSize
        guard let base = mmap(nil, length, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0), base != MAP_FAILED else { return false }
        defer { munmap(base, length) }
        let version = Int32(littleEndian: base.load(fromByteOffset: SharedMapLayout.versionOffset, as: Int32.self))
        let header = Int32(littleEndian: base.load(fromByteOffset: SharedMapLayout.headerSizeOffset, as: Int32.self))
        let module = Int(UInt32(littleEndian: base.load(fromByteOffset: SharedMapLayout.moduleOffset, as: UInt32.self)))
        let dataSize = Int(UInt32(littleEndian: base.load(fromByteOffset: SharedMapLayout.dataSizeOffset, as: UInt32.self)))
        guard version == SharedMapLayout.version, header == Int32(SharedMapLayout.headerSize), module > 0, module < 1 << 20,
            dataSize < 1 << 31,
            SharedMapLayout.mappingSize(module: module, dataSize: dataSize) + 1 <= Int(status.st_size)
        else { return false }
        SharedMapRegion(base: base, length: length, module: module).retire()
        return true
    }

    /// Removes `<stable path>.XXXXXX` files (mkstemp's names for generations not yet installed) left in the map's
    /// directory by a run that died before installing them. Called before this run creates its first one.
    static func removeLeftovers(stablePath: String) {
        guard let slash = stablePath.lastIndex(of: "/") else { return }
        let directory = String(stablePath[..<slash]).isEmpty ? "/" : String(stablePath[..<slash])
        let base = String(stablePath[stablePath.index(after: slash)...])
        guard let stream = opendir(directory) else { return }
        defer { closedir(stream) }
        while let entry = readdir(stream) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            guard name.count == base.count + 7, name.hasPrefix(base + ".") else { continue }
            unlink(directory + "/" + name)
        }
    }

    static func makeDirectories(_ path: String) throws(SharedMapError) {
        var current = path.hasPrefix("/") ? "" : "."
        for component in path.split(separator: "/") {
            current += "/" + component
            // 0700: the directory is sidecache's own; clients get descriptors, never paths.
            if mkdir(current, 0o700) != 0 && errno != EEXIST {
                throw SharedMapError(.cannotCreate, "mkdir \(current): \(lastError())")
            }
        }
    }

    static func lastError() -> String { String(cString: strerror(errno)) }
}
