import DNSCache
import DNSWire
import TestSupport

func makeCache(
    _ upstream: ScriptedUpstream, clock: ManualClock, configure: (inout CacheConfiguration) -> Void = { _ in }
) -> ResponseCache {
    var configuration = CacheConfiguration()
    configure(&configuration)
    return ResponseCache(configuration: configuration, upstream: upstream, clock: clock, seed: 42)
}

func key(_ name: DNSName, _ type: DNSType = .a) -> CacheKey { CacheKey(name: name, type: type) }

func decode(_ answer: CacheAnswer) throws -> DNSMessage { try DNSMessage(decoding: answer.wire) }

let soa = DNSRecordData.SOA(
    mname: "ns1.example.test", rname: "hostmaster.example.test", serial: 1, refresh: 3600, retry: 600,
    expire: 86400, minimum: 60)
