import DNSWire

/// An upstream reply reduced to what may be cached and served for one question.
struct ClassifiedReply: Sendable {
    var replyClass: ReplyClass
    /// The message to store and serve: the question, the CNAME chain and the final RRset (positive) or the chain and
    /// the SOA (negative). Records outside the chain are dropped (RFC 2181 5.4.1: they are not answers to this
    /// question, and caching them would let an upstream plant data for names it was not asked about).
    var message: DNSMessage
    /// How long the whole answer may be served, in seconds: the smallest TTL of any RRset it holds.
    var lifetime: UInt32
}

enum ReplyClassifier {
    /// The longest CNAME chain followed; longer chains are treated as a server error (RFC 1034 3.6.2 warns of loops).
    static let maximumChainLength = 16

    static func classify(_ response: DNSMessage, for key: CacheKey, policy: TTLPolicy) -> ClassifiedReply {
        let question = key.question
        var header = DNSHeader(id: 0)
        header.isResponse = true
        header.recursionAvailable = true
        header.checkingDisabled = key.checkingDisabled
        // AD is meaningful only to a client that asked for DNSSEC (RFC 6840 5.8).
        header.authenticData = key.dnssecOK && response.header.authenticData
        var message = DNSMessage(header: header, questions: [question])

        if response.header.isTruncated {
            message.responseCode = .serverFailure
            return ClassifiedReply(replyClass: .truncated, message: message, lifetime: 0)
        }
        let rcode = response.responseCode
        guard rcode == .noError || rcode == .nameError else {
            message.responseCode = rcode == .notImplemented || rcode == .refused ? rcode : .serverFailure
            return ClassifiedReply(replyClass: .serverError, message: message, lifetime: 0)
        }

        // Follow the CNAME chain from the question name through the answer section.
        var chain: [DNSResourceRecord] = []
        var chainNames: [DNSName] = [question.name]
        var current = question.name
        if question.type != .cname && question.type != .any {
            while let link = response.answers.first(where: {
                $0.type == .cname && $0.class == question.class && $0.name == current
            }) {
                guard case .cname(let target) = link.data else { break }
                if chainNames.contains(target) || chain.count >= maximumChainLength {
                    message.responseCode = .serverFailure
                    return ClassifiedReply(replyClass: .serverError, message: message, lifetime: 0)
                }
                chain.append(link)
                chainNames.append(target)
                current = target
            }
        }
        let final = response.answers.filter {
            $0.name == current && $0.class == question.class
                && ($0.type == question.type || (question.type == .any && $0.type != .rrsig))
        }
        var signatures: [DNSResourceRecord] = []
        if key.dnssecOK {
            signatures = response.answers.filter { record in
                guard record.type == .rrsig, chainNames.contains(record.name),
                    case .opaque(let rdata) = record.data, rdata.count >= 2
                else { return false }
                let covered = DNSType(UInt16(rdata[0]) << 8 | UInt16(rdata[1]))
                return covered == .cname || covered == question.type || question.type == .any
            }
        }

        var rrsets = normalize(chain, policy: policy)
        if rcode == .noError && !final.isEmpty {
            rrsets += normalize(final, policy: policy)
            message.answers = rrsets + normalize(signatures, policy: policy)
            message.responseCode = .noError
            return ClassifiedReply(replyClass: .positive, message: message, lifetime: minimumTTL(message.answers))
        }

        let soa = response.authorities.first { $0.type == .soa }
        if rcode == .noError && soa == nil && chain.isEmpty
            && response.authorities.contains(where: { $0.type == .ns })
        {
            message.responseCode = .noError
            message.answers = []
            return ClassifiedReply(replyClass: .referral, message: message, lifetime: 0)
        }
        // NXDOMAIN or NODATA, possibly at the end of a chain (RFC 2308 2.1, 2.2).
        let replyClass: ReplyClass = rcode == .nameError ? .nameError : .noData
        var soaMinimum: UInt32? = nil
        if case .soa(let data)? = soa?.data { soaMinimum = data.minimum }
        var negativeTTL = policy.negativeTTL(soaRecordTTL: soa?.ttl, soaMinimum: soaMinimum)
        message.answers = rrsets + normalize(signatures, policy: policy)
        if let soa, soaMinimum != nil {
            // RFC 2308 3: the SOA goes back with the negative TTL and counts down with it.
            var stored = soa
            stored.ttl = negativeTTL
            message.authorities = [stored]
            if key.dnssecOK {
                message.authorities += response.authorities.filter {
                    $0.type == .nsec || $0.type == DNSType(50) || $0.type == .rrsig
                }.map { var r = $0; r.ttl = min(r.ttl, negativeTTL); return r }
            }
        }
        if rcode == .noError && soa == nil && !chain.isEmpty {
            // A CNAME chain whose end this upstream does not answer and no SOA (an authoritative server whose
            // alias points out of its zones). The chain itself is positive data with its own TTLs: the reply is
            // kept for as long as the chain is, instead of costing a query per lookup.
            negativeTTL = min(minimumTTL(rrsets), policy.maximumNegativeTTL)
        } else if !message.answers.isEmpty {
            negativeTTL = min(negativeTTL, minimumTTL(message.answers))
        }
        message.responseCode = rcode
        return ClassifiedReply(replyClass: replyClass, message: message, lifetime: negativeTTL)
    }

    /// Gives every record of an RRset the smallest TTL in the set (RFC 2181 5.2), clamped by the policy,
    /// and keeps records of one RRset together, in the order the set first appeared.
    static func normalize(_ records: [DNSResourceRecord], policy: TTLPolicy) -> [DNSResourceRecord] {
        var order: [(DNSName, DNSType, DNSClass)] = []
        var sets: [[DNSResourceRecord]] = []
        for record in records {
            if let index = order.firstIndex(where: { $0.0 == record.name && $0.1 == record.type && $0.2 == record.class }) {
                if !sets[index].contains(where: { $0.data == record.data }) { sets[index].append(record) }
            } else {
                order.append((record.name, record.type, record.class))
                sets.append([record])
            }
        }
        return sets.flatMap { set in
            let ttl = policy.positiveTTL(set.map(\.ttl).min() ?? 0)
            return set.map { var r = $0; r.ttl = ttl; return r }
        }
    }

    static func minimumTTL(_ records: [DNSResourceRecord]) -> UInt32 {
        records.map(\.ttl).min() ?? 0
    }
}
