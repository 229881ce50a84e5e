// libFuzzer harness for the DNSWire decoders.
//
// Not a SwiftPM target: Tests/Fuzz/run.sh compiles this file together with Sources/DNSWire/*.swift into one module
// (so there is no `import DNSWire`) with `-sanitize=fuzzer,address`.
//
// Every input goes to each decoder entry point. Decoding untrusted bytes must never trap, and the decoders must
// agree with one another; when the full decode succeeds the message must survive encode -> decode unchanged. Any
// disagreement is reported with `fatalError`, which libFuzzer catches as a crash and saves as an artifact.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let buffer = UnsafeRawBufferPointer(start: data, count: size)

    let view: DNSQueryView? = try? DNSQueryView(buffer)
    let layout: DNSMessageLayout? = try? DNSMessageLayout(scanning: buffer)

    let message: DNSMessage
    do throws(DNSWireError) {
        message = try DNSMessage(decoding: buffer)
    } catch {
        return 0
    }

    // The layout scan validates every name and length a full decode does, so it cannot fail where the decode passed.
    guard let layout else {
        let error = Result { () throws(DNSWireError) in try DNSMessageLayout(scanning: buffer) }
        fuzzFail("DNSMessageLayout(scanning:) failed on a message DNSMessage decoded: \(error)", buffer)
    }
    checkLayout(layout, against: message, length: buffer.count, buffer)
    if !message.questions.isEmpty {
        guard let view else {
            let error = Result { () throws(DNSWireError) in try DNSQueryView(buffer) }
            fuzzFail("DNSQueryView failed on a message DNSMessage decoded: \(error)", buffer)
        }
        checkView(view, against: message, layout: layout, buffer)
    }

    // Semantic round trip: encode, decode again, compare.
    let encoded: [UInt8]
    do throws(DNSWireError) {
        encoded = try message.encode()
    } catch {
        // Decompressing names the encoder does not compress (SRV targets) can legitimately outgrow 65535 octets.
        if error.code == .messageTooLarge { return 0 }
        fuzzFail("encode() of a decoded message threw \(error)", buffer)
    }
    let again: DNSMessage
    do throws(DNSWireError) {
        again = try DNSMessage(decoding: encoded)
    } catch {
        fuzzFail("re-decoding the encoded message threw \(error); encoded=\(hex(encoded))", buffer)
    }
    guard again == message else {
        fuzzFail("round trip changed the message:\n first: \(message)\n again: \(again)\n encoded=\(hex(encoded))", buffer)
    }
    guard again.hashValue == message.hashValue else {
        fuzzFail("equal messages hash differently after a round trip", buffer)
    }
    let layoutAgain: DNSMessageLayout
    do throws(DNSWireError) {
        layoutAgain = try DNSMessageLayout(scanning: encoded)
    } catch {
        fuzzFail("DNSMessageLayout(scanning:) failed on the encoder's output: \(error); encoded=\(hex(encoded))", buffer)
    }
    checkLayout(layoutAgain, against: again, length: encoded.count, buffer)
    // The encoder is deterministic and decoding its output loses nothing it writes, so a second encode is identical.
    do throws(DNSWireError) {
        let reencoded = try again.encode()
        guard reencoded == encoded else {
            fuzzFail("encode(decode(encode(m))) != encode(m):\n \(hex(encoded))\n \(hex(reencoded))", buffer)
        }
    } catch {
        fuzzFail("second encode threw \(error)", buffer)
    }
    return 0
}

/// The slots must list every record of the decoded message, in order, section by section (OPT included), and tile
/// the `length` octets of the scanned message after the question section. `input` is only for the report.
private func checkLayout(
    _ layout: DNSMessageLayout, against message: DNSMessage, length: Int, _ input: UnsafeRawBufferPointer
) {
    let expected =
        message.answers.count + message.authorities.count + message.additionals.count + (message.edns == nil ? 0 : 1)
    guard layout.slots.count == expected else {
        fuzzFail("layout has \(layout.slots.count) slots, message has \(expected) records", input)
    }
    func types(_ section: DNSMessageLayout.Section) -> [DNSType] {
        layout.slots.filter { $0.section == section }.map(\.type)
    }
    let additionalTypes = types(.additional)
    guard types(.answer) == message.answers.map(\.type), types(.authority) == message.authorities.map(\.type),
        additionalTypes.filter({ $0 != .opt }) == message.additionals.map(\.type),
        additionalTypes.filter({ $0 == .opt }).count == (message.edns == nil ? 0 : 1)
    else {
        fuzzFail("layout slot types disagree with the decoded sections", input)
    }
    var previousEnd = layout.questionEnd
    for slot in layout.slots {
        guard Int(slot.nameOffset) >= previousEnd, slot.ttlOffset > slot.nameOffset,
            slot.rdataOffset == slot.ttlOffset + 6, Int(slot.end) <= length
        else {
            fuzzFail("layout slot \(slot) out of order or out of bounds (previous end \(previousEnd))", input)
        }
        previousEnd = Int(slot.end)
    }
    guard previousEnd == length else { fuzzFail("layout ends at \(previousEnd), message at \(length)", input) }
}

/// The in-place query view must agree with the full decode about the header and the first question.
private func checkView(
    _ view: DNSQueryView, against message: DNSMessage, layout: DNSMessageLayout, _ buffer: UnsafeRawBufferPointer
) {
    let first = message.questions[0]
    guard view.header == message.header, Int(view.questionCount) == message.questions.count,
        Int(view.answerCount) == message.answers.count, Int(view.authorityCount) == message.authorities.count,
        Int(view.additionalCount) == message.additionals.count + (message.edns == nil ? 0 : 1),
        view.type == first.type, view.class == first.class, view.nameRange.lowerBound == 12,
        view.nameRange.upperBound <= view.questionEnd, view.questionEnd <= buffer.count
    else {
        fuzzFail("DNSQueryView disagrees with DNSMessage: \(view) vs \(first)", buffer)
    }
    let nameWire = Array(buffer[view.nameRange])
    guard let name = try? DNSName(wire: nameWire), name == first.name else {
        fuzzFail("DNSQueryView.nameRange \(view.nameRange) is not the first question's name \(first.name)", buffer)
    }
    if message.questions.count == 1 {
        guard view.questionEnd == layout.questionEnd else {
            fuzzFail("questionEnd: view \(view.questionEnd), layout \(layout.questionEnd)", buffer)
        }
    }
}

private func hex(_ bytes: some Sequence<UInt8>) -> String {
    let digits = Array("0123456789abcdef".utf8)
    var out: [UInt8] = []
    for byte in bytes {
        out.append(digits[Int(byte >> 4)])
        out.append(digits[Int(byte & 0x0F)])
    }
    return String(decoding: out, as: UTF8.self)
}

private func fuzzFail(_ what: String, _ input: UnsafeRawBufferPointer, file: StaticString = #file, line: UInt = #line)
    -> Never
{
    fatalError("DNSWire fuzz invariant: \(what)\n input=\(hex(input))", file: file, line: line)
}
