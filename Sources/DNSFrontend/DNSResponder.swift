import DNSCache
import DNSWire
import NIOCore

/// Turns the engine's answer into the reply for one client: its question case, its EDNS0, and a size it accepts.
public enum DNSResponder {
    /// The UDP payload size we advertise in our OPT (DNS flag day 2020).
    public static let advertisedUDPSize: UInt16 = 1232
    /// The octets our OPT record adds.
    static let optLength = 11

    /// Finishes, in place, an answer of `length` octets at the start of `buffer` (which has room for `optLength`
    /// more): the client's spelling of the name, TC and a clean cut when over `limit`, and our OPT when the client
    /// sent one. Returns the final length.
    ///
    /// The stored answer's question is the lower-cased name, the same length as the client's by construction.
    static func finish(
        _ buffer: UnsafeMutableRawBufferPointer, length: Int, request: DNSRequest, clientName: UnsafeRawBufferPointer,
        limit: Int?
    ) -> Int {
        let questionEnd = 12 + clientName.count + 4
        guard length >= questionEnd else { return length }
        buffer.baseAddress!.advanced(by: 12).copyMemory(from: clientName.baseAddress!, byteCount: clientName.count)
        var length = length
        let extra = request.edns == nil ? 0 : optLength
        if let limit, length + extra > limit {
            // Too big for this client: header and question only, TC set (RFC 2181 9: never a partial RRset).
            length = questionEnd
            buffer[2] |= 0x02
            for i in 6..<12 { buffer[i] = 0 }
        }
        if let edns = request.edns {
            // Our OPT: root owner, our payload size, version 0, DO echoed (RFC 3225 3), no options.
            let opt = UnsafeMutableRawBufferPointer(rebasing: buffer[length..<(length + optLength)])
            opt[0] = 0
            DNSWirePatch.setUInt16(DNSType.opt.rawValue, at: 1, in: opt)
            DNSWirePatch.setUInt16(advertisedUDPSize, at: 3, in: opt)
            DNSWirePatch.setTTL(edns.dnssecOK ? 0x8000 : 0, at: 5, in: opt)
            DNSWirePatch.setUInt16(0, at: 9, in: opt)
            let count = DNSWirePatch.uint16(at: 10, in: UnsafeRawBufferPointer(buffer)) &+ 1
            DNSWirePatch.setUInt16(count, at: 10, in: buffer)
            length += optLength
        }
        return length
    }

    /// The finished reply as an array (misses, tests).
    public static func finish(_ answer: [UInt8], for request: DNSRequest, clientName: [UInt8], limit: Int?) -> [UInt8] {
        var length = 0
        var reply = [UInt8](unsafeUninitializedCapacity: answer.count + optLength) { buffer, count in
            let raw = UnsafeMutableRawBufferPointer(buffer)
            answer.withUnsafeBytes { raw.baseAddress!.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
            length = clientName.withUnsafeBytes {
                finish(raw, length: answer.count, request: request, clientName: $0, limit: limit)
            }
            count = answer.count + optLength
        }
        reply.removeLast(reply.count - length)
        return reply
    }

    /// The hit path: renders a fresh entry (`ResponseCache.withFreshEntry`) into `out` (a UDP thread's send slot, or
    /// a TCP send buffer) and finishes it there. Returns the reply's length, 0 if it cannot fit `out` even cut to the
    /// question. No allocation unless the stored answer is larger than `out` (then it is rendered aside and cut to
    /// what the client accepts).
    static func render(
        _ entry: CacheEntry, now: Nanoseconds, seed: UInt64, for request: DNSRequest, packet: UnsafeRawBufferPointer,
        limit: Int?, into out: UnsafeMutableRawBufferPointer
    ) -> Int {
        let clientName = UnsafeRawBufferPointer(rebasing: packet[request.nameRange])
        let needed = entry.count + optLength
        var rng = SplitMix64(seed: seed)
        if needed <= out.count {
            entry.render(
                into: out, id: request.id, recursionDesired: request.recursionDesired, now: now, stale: false,
                using: &rng)
            return finish(out, length: entry.count, request: request, clientName: clientName, limit: limit)
        }
        return withUnsafeTemporaryAllocation(byteCount: needed, alignment: 1) { aside in
            entry.render(
                into: aside, id: request.id, recursionDesired: request.recursionDesired, now: now, stale: false,
                using: &rng)
            let length = finish(aside, length: entry.count, request: request, clientName: clientName, limit: limit)
            guard length <= out.count else { return 0 }
            out.baseAddress!.copyMemory(from: aside.baseAddress!, byteCount: length)
            return length
        }
    }

    /// The TCP hit path: the reply rendered into a new send buffer after its two-octet length prefix. One
    /// allocation: the buffer.
    static func writeLengthPrefixed(
        _ entry: CacheEntry, now: Nanoseconds, seed: UInt64, for request: DNSRequest, packet: UnsafeRawBufferPointer,
        allocator: ByteBufferAllocator
    ) -> ByteBuffer {
        let capacity = 2 + entry.count + optLength
        var buffer = allocator.buffer(capacity: capacity)
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: capacity) { out in
            let length = render(
                entry, now: now, seed: seed, for: request, packet: packet, limit: nil,
                into: UnsafeMutableRawBufferPointer(rebasing: out[2..<capacity]))
            DNSWirePatch.setUInt16(UInt16(length), at: 0, in: out)
            return 2 + length
        }
        return buffer
    }
}
