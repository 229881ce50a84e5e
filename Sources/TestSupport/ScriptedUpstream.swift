import DNSCache
import DNSWire
import Synchronization

/// An upstream whose replies a test scripts per question, and which counts what it was asked.
public final class ScriptedUpstream: Upstream {
    public enum Behaviour: Sendable {
        /// Answer with these records (and authority records) under this RCODE.
        case reply(rcode: DNSResponseCode, answers: [DNSResourceRecord], authorities: [DNSResourceRecord])
        /// A whole message as the upstream would send it.
        case message(DNSMessage)
        case fail(UpstreamFailure)
        /// Never answer until cancelled, then fail with `.cancelled`... or answer after a delay.
        case delay(nanoseconds: UInt64, then: Box)
    }

    /// Indirection so `Behaviour` can nest.
    public final class Box: Sendable {
        public let behaviour: Behaviour
        public init(_ behaviour: Behaviour) { self.behaviour = behaviour }
    }

    private struct State {
        var script: [CacheKey: Behaviour] = [:]
        var fallback: Behaviour = .fail(.timeout)
        var queries: [CacheKey] = []
    }
    private let state = Mutex(State())

    public init() {}

    public func set(_ name: DNSName, _ type: DNSType, _ behaviour: Behaviour) {
        state.withLock { $0.script[CacheKey(name: name, type: type)] = behaviour }
    }

    /// Convenience: a NOERROR reply.
    public func answer(_ name: DNSName, _ type: DNSType, _ records: [DNSResourceRecord]) {
        set(name, type, .reply(rcode: .noError, answers: records, authorities: []))
    }

    public func setFallback(_ behaviour: Behaviour) {
        state.withLock { $0.fallback = behaviour }
    }

    /// Every question asked so far, in order.
    public var queries: [CacheKey] { state.withLock { $0.queries } }

    public func count(_ name: DNSName, _ type: DNSType) -> Int {
        let key = CacheKey(name: name, type: type)
        return state.withLock { $0.queries.filter { $0 == key }.count }
    }

    public func resolve(_ key: CacheKey) async -> UpstreamResult {
        let behaviour = state.withLock { state in
            state.queries.append(key)
            var plain = key
            plain.dnssecOK = false
            plain.checkingDisabled = false
            return state.script[key] ?? state.script[plain] ?? state.fallback
        }
        return await perform(behaviour, key)
    }

    private func perform(_ behaviour: Behaviour, _ key: CacheKey) async -> UpstreamResult {
        switch behaviour {
        case .reply(let rcode, let answers, let authorities):
            var header = DNSHeader(id: 1)
            header.isResponse = true
            header.recursionDesired = true
            header.recursionAvailable = true
            var message = DNSMessage(header: header, questions: [key.question], answers: answers, authorities: authorities)
            message.responseCode = rcode
            return .response(message)
        case .message(let message):
            return .response(message)
        case .fail(let failure):
            return .failure(failure)
        case .delay(let nanoseconds, let then):
            do {
                try await Task.sleep(nanoseconds: nanoseconds)
            } catch {
                return .failure(.cancelled)
            }
            return await perform(then.behaviour, key)
        }
    }
}

extension ResponseCache {
    /// Runs `body` with the engine's job loop running, then stops it.
    public func withRunning<T: Sendable>(_ body: @Sendable (ResponseCache) async throws -> T) async throws -> T {
        try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask {
                await self.run()
                return nil
            }
            let result = try await body(self)
            group.cancelAll()
            return result
        }
    }
}
