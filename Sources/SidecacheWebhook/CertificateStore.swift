import Foundation
import NIOSSL
import Synchronization

/// The serving certificate and key, read from PEM files and read again when they change, as cert-manager (or any
/// Secret update) rotates them: kubelet writes a new timestamped directory and swaps the `..data` symlink, so the
/// files' device, inode, size or mtime (stat follows the links) change although their paths do not.
///
/// New connections take `context` at accept time, so a rotation never disturbs a connection in progress. A new
/// pair that cannot be used (half written, mismatched, expired) is logged by the caller and the old one is kept;
/// the next change of either file is tried again.
public final class CertificateStore: Sendable {
    public struct Loaded: Sendable {
        public var context: NIOSSLContext
        public var notValidAfter: Int
        var fingerprint: [FileFingerprint]
    }

    /// What a poll found.
    public enum Change: Sendable, Equatable {
        case unchanged
        case reloaded(notValidAfter: Int)
        case failed(WebhookError)
    }

    struct FileFingerprint: Equatable, Sendable {
        var device: UInt64
        var inode: UInt64
        var size: Int64
        var modified: timespec
        var changed: timespec

        static func == (a: Self, b: Self) -> Bool {
            a.device == b.device && a.inode == b.inode && a.size == b.size
                && a.modified.tv_sec == b.modified.tv_sec && a.modified.tv_nsec == b.modified.tv_nsec
                && a.changed.tv_sec == b.changed.tv_sec && a.changed.tv_nsec == b.changed.tv_nsec
        }
    }

    public let certificatePath: String
    public let keyPath: String
    private let state: Mutex<(loaded: Loaded, lastTried: [FileFingerprint]?)>

    /// Reads and checks the pair; throws a `badCertificate` error naming the file and the problem.
    public init(certificatePath: String, keyPath: String, now: Int = Int(time(nil))) throws {
        self.certificatePath = certificatePath
        self.keyPath = keyPath
        let loaded = try Self.load(certificatePath: certificatePath, keyPath: keyPath, now: now)
        state = Mutex((loaded, nil))
    }

    public var current: Loaded { state.withLock { $0.loaded } }

    /// Looks at the files and reloads when either changed since the pair in use (or since the last failed try).
    public func poll(now: Int = Int(time(nil))) -> Change {
        let (inUse, lastTried) = state.withLock { ($0.loaded.fingerprint, $0.lastTried) }
        let seen = [Self.fingerprint(certificatePath), Self.fingerprint(keyPath)].compactMap { $0 }
        // A file missing for a moment (mid-swap) is not a change worth a failed reload; wait for both.
        guard seen.count == 2, seen != inUse, seen != lastTried else { return .unchanged }
        do {
            let loaded = try Self.load(certificatePath: certificatePath, keyPath: keyPath, now: now)
            state.withLock { $0 = (loaded, nil) }
            return .reloaded(notValidAfter: loaded.notValidAfter)
        } catch let error as WebhookError {
            state.withLock { $0.lastTried = seen }
            return .failed(error)
        } catch {
            state.withLock { $0.lastTried = seen }
            return .failed(WebhookError(.badCertificate, "\(error)"))
        }
    }

    static func load(certificatePath: String, keyPath: String, now: Int) throws -> Loaded {
        // Fingerprints first: if a file changes while it is read, the next poll sees a difference and reads again.
        let fingerprint = [Self.fingerprint(certificatePath), Self.fingerprint(keyPath)].compactMap { $0 }
        let certificateBytes = try read(certificatePath, setting: "tls-cert")
        let keyBytes = try read(keyPath, setting: "tls-key")
        let chain: [NIOSSLCertificate]
        do {
            chain = try NIOSSLCertificate.fromPEMBytes(certificateBytes)
        } catch {
            throw WebhookError(.badCertificate, "tls-cert: \(certificatePath) holds no PEM certificate (\(error))")
        }
        guard let leaf = chain.first else {
            throw WebhookError(.badCertificate, "tls-cert: \(certificatePath) holds no PEM certificate")
        }
        let key: NIOSSLPrivateKey
        do {
            key = try NIOSSLPrivateKey(bytes: keyBytes, format: .pem)
        } catch {
            throw WebhookError(.badCertificate, "tls-key: \(keyPath) holds no unencrypted PEM private key (\(error))")
        }
        let notValidAfter = Int(leaf.notValidAfter)
        let notValidBefore = Int(leaf.notValidBefore)
        if now >= notValidAfter {
            throw WebhookError(
                .badCertificate, "tls-cert: \(certificatePath) expired at \(Self.timestamp(notValidAfter)); renew it (cert-manager, or the openssl recipe in docs/kubernetes.md)")
        }
        if now < notValidBefore {
            throw WebhookError(
                .badCertificate, "tls-cert: \(certificatePath) is not valid before \(Self.timestamp(notValidBefore)) (is the clock right?)")
        }
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
        configuration.minimumTLSVersion = .tlsv12
        do {
            let context = try NIOSSLContext(configuration: configuration)
            return Loaded(context: context, notValidAfter: notValidAfter, fingerprint: fingerprint)
        } catch {
            // NIOSSL sets the chain, then the key; BoringSSL refuses a key that is not the leaf certificate's.
            throw WebhookError(
                .badCertificate, "tls-key: \(keyPath) is not the key of the certificate in \(certificatePath) (\(error))")
        }
    }

    private static func read(_ path: String, setting: String) throws -> [UInt8] {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else {
            throw WebhookError(.badCertificate, "\(setting): cannot read \(path): \(String(cString: strerror(errno)))")
        }
        defer { close(descriptor) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16384)
        // A certificate file is a few KiB; 1 MiB is far beyond any real chain and bounds the loop.
        while bytes.count < 1 << 20 {
            let count = chunk.withUnsafeMutableBytes { Glibc.read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count >= 0 else {
                throw WebhookError(.badCertificate, "\(setting): cannot read \(path): \(String(cString: strerror(errno)))")
            }
            if count == 0 { return bytes }
            bytes += chunk[0..<count]
        }
        throw WebhookError(.badCertificate, "\(setting): \(path) is larger than 1 MiB: not a certificate file")
    }

    static func fingerprint(_ path: String) -> FileFingerprint? {
        var information = stat()
        guard stat(path, &information) == 0 else { return nil }
        return FileFingerprint(
            device: UInt64(information.st_dev), inode: UInt64(information.st_ino), size: Int64(information.st_size),
            modified: information.st_mtim, changed: information.st_ctim)
    }

    static func timestamp(_ seconds: Int) -> String {
        let formatter = ISO8601DateFormatter()
        return formatter.string(from: Date(timeIntervalSince1970: TimeInterval(seconds)))
    }
}
