// libFuzzer harness for the nscd request parser and the host-reply readers (Tests/Fuzz/run.sh builds it together
// with Sources/NSCDWire). Every input must be accepted or refused with an NSCDWireError, never trap; an accepted
// request must encode back to the bytes it came from.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: data, count: size)
    if let request = try? NSCDRequest(parsing: bytes) {
        let encoded = request.encode()
        guard encoded.count <= size, Array(bytes[0..<encoded.count]) == encoded else {
            fatalError("request did not round-trip: \(Array(bytes)) -> \(encoded)")
        }
        guard let again = try? encoded.withUnsafeBytes({ try NSCDRequest(parsing: $0) }), again == request else {
            fatalError("re-encoded request did not parse back")
        }
    }
    _ = try? NSCDRequest.parseHeader(bytes)
    let array = Array(bytes)
    _ = NSCDHostReply.parseAddressInfo(array)
    _ = NSCDHostReply.parseHostEnt(array, family: 2)
    _ = NSCDHostReply.parseHostEnt(array, family: 10)
    return 0
}
