import Synchronization

/// Counters of the engine, updated with relaxed atomics on the hot path. Metrics and `sidecache stats` read them.
public final class CacheStatistics: Sendable {
    public let misses = Atomic<Int>(0)
    public let staleServed = Atomic<Int>(0)
    public let prefetches = Atomic<Int>(0)
    /// Callers that joined an upstream query already in flight instead of sending their own.
    public let coalesced = Atomic<Int>(0)
    public let evictions = Atomic<Int>(0)
    public let upstreamQueries = Atomic<Int>(0)
    public let upstreamFailures = Atomic<Int>(0)
    public let overloaded = Atomic<Int>(0)
    public let failureBackoffs = Atomic<Int>(0)

    public init() {}

    @inline(__always)
    func bump(_ counter: borrowing Atomic<Int>, by amount: Int = 1) {
        counter.wrappingAdd(amount, ordering: .relaxed)
    }

    public struct Snapshot: Sendable, Hashable {
        public var hits, misses, staleServed, prefetches, coalesced, evictions, upstreamQueries, upstreamFailures,
            overloaded, failureBackoffs: Int
        public var entries, bytes, negativeBytes: Int
    }
}
