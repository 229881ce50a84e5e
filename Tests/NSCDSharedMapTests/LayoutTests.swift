import Foundation
import NSCDSharedMap
import NSCDWire
import TestSupport
import Testing

/// Byte-exact layout against nscd-protocol.md 5.3-5.4 (glibc 2.36, x86_64) and the live dump of real nscd.
struct LayoutTests {
    @Test(arguments: [
        ("multi.test", UInt32(0xdd8c_c139), 159), ("example.com", 0x3265_19c3, 36), ("localhost", 0xe728_a60d, 167),
    ])
    func sdbmHashMatchesTheSpecVectors(name: String, hash: UInt32, bucket: Int) {
        let key = Array(name.utf8) + [0]
        #expect(SharedMapLayout.hash(key) == hash)
        #expect(SharedMapLayout.bucket(key, module: 211) == bucket)
    }

    @Test func sizesMatchRealNscd() {
        #expect(SharedMapLayout.dataAreaOffset(module: 211) == 968)
        // Real nscd's GETFDHST answer announced 217032 = 120 + 848 + 211 * 1024.
        #expect(SharedMapLayout.mappingSize(module: 211, dataSize: 211 * 1024) == 217_032)
        #expect(SharedMapLayout.allocation(recordLength: 62, keyLength: 11) == (packet: 104, total: 136))
    }

    /// The GETAI record of `multi.test` (2 x IPv4 + 1 x IPv6, canon) as real nscd laid it out: data head at 0
    /// (allocsize 97, recsize 62, usable 1), key at 86, hash entry at 104 in bucket 159.
    @Test func firstRecordIsLaidOutAsRealNscdDoes() throws {
        let directory = try makeScratchDirectory("map-layout")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let map = try SharedHostsMap(
            configuration: SharedMapConfiguration(path: directory + "/private/hosts.map", dataSize: 211 * 1024),
            wall: 1_700_000_000)
        let record = NSCDAddressInfoResponse.found(
            addresses: [
                NSCDAddress(family: 2, bytes: [192, 0, 2, 1]), NSCDAddress(family: 2, bytes: [192, 0, 2, 2]),
                NSCDAddress(family: 10, bytes: [UInt8](hex: "20010db8000000000000000000000001")),
            ], canonicalName: "multi.test")
        #expect(record.count == 62)
        let key = Array("multi.test".utf8) + [0]
        let now: UInt64 = 5_000 * 1_000_000_000
        let outcome = map.publish(
            SharedMapKey(type: 14, key: key),
            SharedMapRecord(deadline: now + 3600 * 1_000_000_000, refreshAt: nil, variants: 1, negative: false,
                fingerprint: record, render: { _ in record }),
            now: now, wall: 1_700_000_000)
        #expect(outcome == .published)
        let bytes = try #require(map.snapshot())
        let header = [UInt8](
            hex: """
                02000000 78000000 00000000 00000000
                00f15365 00000000
                00000000 00000000 00000000 00000000
                d3000000 004c0300 88000000
                01000000 00000000 00000000
                """ + String(repeating: "00", count: 56))
        #expect(Array(bytes[0..<120]) == header)
        for bucket in 0..<211 {
            let head = Array(bytes[(120 + bucket * 4)..<(124 + bucket * 4)])
            #expect(head == (bucket == 159 ? [0x68, 0, 0, 0] : [0xff, 0xff, 0xff, 0xff]), "bucket \(bucket)")
        }
        #expect(Array(bytes[964..<968]) == [0, 0, 0, 0], "padding after the buckets")
        let data = [UInt8](
            hex: """
                61000000 3e000000 10ff5365 00000000 00 00 01 00 100e0000
                """ + record.hexString + """
                6d756c74692e7465737400 00000000000000
                0e 01 0000 0b000000 56000000 ffffffff ffffffff 00000000 0000000000000000
                """)
        #expect(Array(bytes[968..<(968 + 136)]) == data)
        #expect(MapReader(bytes: bytes).lookup(type: 14, key: key) == record)
    }

    @Test func theClientsDescriptorIsReadOnlyAndCoversTheAnnouncedSize() throws {
        let directory = try makeScratchDirectory("map-fd")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let map = try SharedHostsMap(configuration: SharedMapConfiguration(path: directory + "/hosts.map", dataSize: 64 << 10), wall: 1)
        let (fd, size) = try #require(map.handout())
        defer { close(fd) }
        var status = stat()
        #expect(fstat(fd, &status) == 0)
        #expect(Int(status.st_size) >= size, "never announce more than the file holds (SIGBUS)")
        #expect(size >= SharedMapLayout.mappingSize(module: 211, dataSize: 64 << 10) + 2, "room for two retirements")
        #expect(fcntl(fd, F_GETFL) & O_ACCMODE == O_RDONLY)
        let writable = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
        #expect(writable == MAP_FAILED, "a client must not be able to map the file writable")
        let readable = mmap(nil, size, PROT_READ, MAP_SHARED, fd, 0)
        #expect(readable != MAP_FAILED)
        if let readable, readable != MAP_FAILED { munmap(readable, size) }
    }
}
