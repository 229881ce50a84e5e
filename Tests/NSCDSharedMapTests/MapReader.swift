/// A reader of the mapped hosts database that follows glibc 2.36's `__nscd_cache_search` (nscd-protocol.md 5.5):
/// walk the bucket chain, match type, length and key, skip unusable entries, bound every offset by `data_size`.
/// Tests read the writer's file through it as a client would.
struct MapReader {
    let bytes: [UInt8]

    func u32(_ offset: Int) -> UInt32 {
        UInt32(bytes[offset]) | UInt32(bytes[offset + 1]) << 8 | UInt32(bytes[offset + 2]) << 16 | UInt32(bytes[offset + 3]) << 24
    }

    var version: UInt32 { u32(0) }
    var headerSize: UInt32 { u32(4) }
    var gcCycle: UInt32 { u32(8) }
    var module: Int { Int(u32(40)) }
    var dataSize: Int { Int(u32(44)) }
    var timestamp: UInt64 { UInt64(u32(16)) | UInt64(u32(20)) << 32 }
    var dataStart: Int { 120 + (module * 4 + 15) / 16 * 16 }

    /// The record octets for (type, key), or nil (no usable entry: the client would ask the socket).
    func lookup(type: UInt8, key: [UInt8]) -> [UInt8]? {
        guard version == 2, headerSize == 120, module > 0, gcCycle & 1 == 0 else { return nil }
        var h: UInt32 = 0
        for byte in key { h = h &* 65599 &+ UInt32(byte) }
        var ref = u32(120 + Int(h % UInt32(module)) * 4)
        var steps = 0
        while ref != .max, Int(ref) + 28 <= dataSize, steps < dataSize / 40 {
            steps += 1
            let entry = dataStart + Int(ref)
            let keyRef = Int(u32(entry + 8))
            let length = Int(u32(entry + 4))
            let packet = Int(u32(entry + 20))
            if bytes[entry] == type, length == key.count, keyRef + length <= dataSize,
                Array(bytes[(dataStart + keyRef)..<(dataStart + keyRef + length)]) == key, packet + 24 <= dataSize
            {
                let head = dataStart + packet
                let allocated = Int(u32(head))
                let recordLength = Int(u32(head + 4))
                if bytes[head + 18] != 0, packet + allocated <= dataSize {
                    return Array(bytes[(head + 24)..<(head + 24 + recordLength)])
                }
            }
            ref = u32(entry + 16)
        }
        return nil
    }

    /// Every entry reachable from the buckets (for chain checks).
    var reachableEntries: Int {
        var count = 0
        for bucket in 0..<module {
            var ref = u32(120 + bucket * 4)
            while ref != .max && count < 1_000_000 {
                count += 1
                ref = u32(dataStart + Int(ref) + 16)
            }
        }
        return count
    }
}
