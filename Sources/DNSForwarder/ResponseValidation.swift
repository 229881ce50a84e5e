import DNSCache
import DNSWire

/// Why a reply was not accepted.
enum ReplyRejection: Error {
    case malformed(DNSWireError)
    case wrongID
    case wrongQuestion
    case notAResponse
}

/// The anti-spoofing check on every upstream reply (RFC 5452 4): a response bit, our ID, and exactly our question
/// (name compared ignoring case, type, class). The source address and port are checked by the caller.
func validateReply(_ bytes: [UInt8], id: UInt16, key: CacheKey) -> Result<DNSMessage, ReplyRejection> {
    let message: DNSMessage
    do {
        message = try DNSMessage(decoding: bytes)
    } catch {
        return .failure(.malformed(error))
    }
    guard message.header.id == id else { return .failure(.wrongID) }
    guard message.header.isResponse else { return .failure(.notAResponse) }
    // Some servers answer FORMERR, NOTIMP or REFUSED without echoing the question. With our ID (16 random bits on a
    // connected socket) that is still their answer; it can only fail the question, never put data in the cache.
    let rcode = message.responseCode
    if message.questions.isEmpty && message.answers.isEmpty
        && (rcode == .formatError || rcode == .notImplemented || rcode == .refused || rcode == .serverFailure)
    {
        return .success(message)
    }
    guard message.questions.count == 1, let question = message.questions.first,
        question.type == key.type, question.class == key.class, question.name.lowercased().wire == key.name
    else { return .failure(.wrongQuestion) }
    return .success(message)
}

extension ForwarderStatistics {
    func count(_ rejection: ReplyRejection) {
        switch rejection {
        case .malformed, .notAResponse: bump(droppedMalformed)
        case .wrongID: bump(droppedWrongID)
        case .wrongQuestion: bump(droppedWrongQuestion)
        }
    }
}

/// The query we send upstream for a key: RD set, EDNS0 with our payload size and the key's DO bit, CD as the key says.
func upstreamQuery(for key: CacheKey, id: UInt16, ednsUDPSize: UInt16) -> [UInt8] {
    var edns = EDNS(udpPayloadSize: ednsUDPSize)
    edns.dnssecOK = key.dnssecOK
    var message = DNSMessage.query(id: id, name: key.question.name, type: key.type, class: key.class, edns: edns)
    message.header.checkingDisabled = key.checkingDisabled
    return (try? message.encode()) ?? []
}
