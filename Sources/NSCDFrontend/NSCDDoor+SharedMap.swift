import CPosixShims
import DNSCache
import NSCDSharedMap
import NSCDWire

#if canImport(Glibc)
import Glibc
#endif

/// The nscd door's side of the shared-memory hosts map (docs/nscd.md, "Shared-memory map"): GETFDHST replies,
/// publishing what the socket answered, and the map's timer thread.
extension NSCDDoor {
    /// Answers GETFDHST: one sendmsg with the key echoed (`hosts\0`), the 8-octet map size, and the read-only
    /// descriptor in one SCM_RIGHTS message (nscd-protocol.md 5.1). Non-blocking: a client that never reads costs
    /// one queued message, which the kernel drops with the connection.
    func sendMapping(_ fd: Int32) {
        guard let map = sharedMap, let (descriptor, mapSize) = map.handout() else {
            close(fd)
            return
        }
        var message: [UInt8] = Array("hosts".utf8) + [0]
        withUnsafeBytes(of: UInt64(mapSize).littleEndian) { message += $0 }
        let sent = message.withUnsafeBytes { sidecache_send_descriptor(fd, $0.baseAddress, $0.count, descriptor) }
        if sent != message.count { statistics.bump(statistics.writeFailures) }
        close(descriptor)
        close(fd)
    }

    /// Puts what the socket just answered into the map, if it may go there: a fresh answer with a deadline
    /// (never stale data, never a temporary failure; a negative only for a real NXDOMAIN or NODATA).
    func publish(_ request: NSCDRequest, _ timed: TimedHostLookup) {
        guard let map = sharedMap, let record = Self.mapRecord(request, timed, publishing: map.configuration.publishing)
        else { return }
        map.publish(
            SharedMapKey(type: UInt8(request.type.rawValue), key: request.key), record, now: cache.now, wall: Int64(time(nil)))
    }

    /// The map record for an answer, rendered by the socket's own encoder in every order it can take; nil when the
    /// answer may not go into the map (a failure, no deadline, or several addresses under `.singleAddress`).
    static func mapRecord(_ request: NSCDRequest, _ timed: TimedHostLookup, publishing: SharedMapPublishing)
        -> SharedMapRecord?
    {
        guard let deadline = timed.timing.deadline else { return nil }
        let lookup = timed.lookup
        let variants: Int
        let negative: Bool
        switch lookup {
        case .temporaryFailure:
            return nil
        case .notFound:
            variants = 1
            negative = true
        case .found(let answer):
            negative = false
            // Distinct addresses: `localhost` from the hosts file is 127.0.0.1 twice for AF_INET, one order only.
            let v4 = Set(answer.v4).count, v6 = Set(answer.v6).count
            switch request.type {
            case .getAddressInfo: variants = max(v4, v6)
            case .getHostByName: variants = v4
            case .getHostByNameV6: variants = v6
            default: variants = 1
            }
        }
        // A mapped record has one order until the next rotation; only the socket shuffles per call.
        if variants > 1 && publishing == .singleAddress { return nil }
        guard let fingerprint = encode(request, lookup.canonicallyOrdered) else { return nil }
        return SharedMapRecord(
            deadline: deadline, refreshAt: timed.timing.refreshAt, variants: variants, negative: negative,
            fingerprint: fingerprint, render: { step in encode(request, lookup.rotated(by: step)) })
    }

    /// What the cache holds for a map key now (nil if nothing fresh): the map's refresh at a deadline or at the
    /// prefetch point. A hit here is what starts the engine's prefetch for names served from the map.
    func currentRecord(_ key: SharedMapKey) -> SharedMapRecord? {
        guard let type = NSCDRequestType(rawValue: Int32(key.type)) else { return nil }
        let request = NSCDRequest(type: type, key: key.key)
        guard let map = sharedMap, let timed = cachedLookup(request) else { return nil }
        return Self.mapRecord(request, timed, publishing: map.configuration.publishing)
    }

    /// Removes records from the map: all (`name == nil`) or those of one host name, whatever the request type —
    /// and the records of every shorter name that the search list may have expanded to it (flushing
    /// `foo.ns.svc.cluster.local` also drops `foo` and `foo.ns`, whose answers may have come from it).
    func invalidateSharedMap(_ name: String?) {
        guard let map = sharedMap else { return }
        func folded<S: Sequence<UInt8>>(_ bytes: S) -> [UInt8] {
            var result = bytes.map { $0 >= 0x41 && $0 <= 0x5A ? $0 | 0x20 : $0 }
            while result.last == 0 || result.last == UInt8(ascii: ".") { result.removeLast() }
            return result
        }
        let wanted = name.map { folded($0.utf8) }
        _ = map.invalidate { key in
            guard let wanted else { return true }
            let candidate = folded(key.key)
            guard !candidate.isEmpty, candidate.count <= wanted.count else { return false }
            return wanted.starts(with: candidate)
                && (candidate.count == wanted.count || wanted[candidate.count] == UInt8(ascii: "."))
        }
    }

    /// The map's timer thread: deadlines, refreshes, rotation, timestamps, reclamation, until the door stops.
    func runSharedMap(_ map: SharedHostsMap) {
        while !isStopping {
            let next = map.tick(now: cache.now, wall: Int64(time(nil)), refresh: { self.currentRecord($0) })
            map.sleep(until: next, now: cache.now)
        }
    }
}

extension HostLookup {
    /// The addresses sorted: one form per content, whatever order the engine's shuffle or the rotation gave.
    var canonicallyOrdered: HostLookup {
        guard case .found(var answer) = self else { return self }
        answer.v4.sort { $0.lexicographicallyPrecedes($1) }
        answer.v6.sort { $0.lexicographicallyPrecedes($1) }
        return .found(answer)
    }

    /// Rotation step `step`: each family's list rotated left by `step` (modulo its length), so that over a full
    /// cycle every address is first equally often.
    func rotated(by step: Int) -> HostLookup {
        guard case .found(var answer) = self else { return self }
        func rotate(_ list: [[UInt8]]) -> [[UInt8]] {
            guard list.count > 1 else { return list }
            let shift = step % list.count
            return Array(list[shift...] + list[..<shift])
        }
        answer.v4 = rotate(answer.v4)
        answer.v6 = rotate(answer.v6)
        return .found(answer)
    }
}
