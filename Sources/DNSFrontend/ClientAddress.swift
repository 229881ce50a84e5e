import Synchronization
import NIOCore

#if canImport(Glibc)
import Glibc
#endif

/// A client's IP address and port (one client socket): the unit the DNS door limits pending misses by.
struct ClientAddress: Hashable, Sendable {
    /// The address's octets (IPv4 in the first four), the port and the family.
    private var high: UInt64 = 0
    private var low: UInt64 = 0
    private var port: UInt16 = 0
    private var family: UInt16 = 0

    /// From a struct sockaddr of `length` octets; nil for anything but IPv4 and IPv6.
    init?(_ address: UnsafeRawPointer, length: Int) {
        guard length >= 2 else { return nil }
        let raw = UnsafeRawBufferPointer(start: address, count: length)
        family = raw.loadUnaligned(as: UInt16.self)
        switch Int32(family) {
        case AF_INET where length >= MemoryLayout<sockaddr_in>.size:
            port = raw.loadUnaligned(fromByteOffset: 2, as: UInt16.self)
            high = UInt64(raw.loadUnaligned(fromByteOffset: 4, as: UInt32.self))
        case AF_INET6 where length >= MemoryLayout<sockaddr_in6>.size:
            port = raw.loadUnaligned(fromByteOffset: 2, as: UInt16.self)
            high = raw.loadUnaligned(fromByteOffset: 8, as: UInt64.self)
            low = raw.loadUnaligned(fromByteOffset: 16, as: UInt64.self)
        default:
            return nil
        }
    }

    init?(_ address: SocketAddress?) {
        guard let address else { return nil }
        guard let client = address.withSockAddr({ ClientAddress(UnsafeRawPointer($0), length: $1) }) else { return nil }
        self = client
    }
}

/// Pending misses per client, under one lock (taken on misses only, never on the hit path).
final class PendingMissesByClient: Sendable {
    private let counts = Mutex<[ClientAddress: Int]>([:])

    /// Counts one more miss for `client` unless it already has `limit`.
    func admit(_ client: ClientAddress, limit: Int) -> Bool {
        counts.withLock { counts in
            let pending = counts[client, default: 0]
            guard pending < limit else { return false }
            counts[client] = pending + 1
            return true
        }
    }

    func release(_ client: ClientAddress) {
        counts.withLock { counts in
            guard let pending = counts[client] else { return }
            if pending <= 1 { counts[client] = nil } else { counts[client] = pending - 1 }
        }
    }
}
