import Synchronization

/// Counters of the forwarder (relaxed atomics). Metrics read them; tests assert on them.
public final class ForwarderStatistics: Sendable {
    /// Queries sent to upstreams, every try counted.
    public let queriesSent = Atomic<Int>(0)
    public let responses = Atomic<Int>(0)
    public let timeouts = Atomic<Int>(0)
    /// Connection refused/reset, network unreachable.
    public let networkErrors = Atomic<Int>(0)
    /// Replies with the wrong ID (dropped; the real reply may still come).
    public let droppedWrongID = Atomic<Int>(0)
    /// Replies whose question does not match ours (dropped).
    public let droppedWrongQuestion = Atomic<Int>(0)
    /// Replies from an unexpected address (dropped; a connected UDP socket has the kernel drop most of these).
    public let droppedWrongSource = Atomic<Int>(0)
    /// Bytes that did not decode as a DNS response (dropped).
    public let droppedMalformed = Atomic<Int>(0)
    /// UDP replies with TC=1 retried over TCP.
    public let truncatedRetries = Atomic<Int>(0)
    public let tcpConnectionsOpened = Atomic<Int>(0)
    public static let latencyBucketBounds: [Double] = [0.5, 1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500]

    /// Latency of successful tries per upstream (by its ADDRESS:PORT): counts by bucket upper bound in milliseconds
    /// (`latencyBucketBounds`, then +Inf), and the sum in microseconds.
    public struct LatencyHistogram: Sendable, Hashable {
        public var buckets: [Int] = Array(repeating: 0, count: ForwarderStatistics.latencyBucketBounds.count + 1)
        public var sumMicroseconds = 0
        public var count: Int { buckets.reduce(0, +) }
    }
    private let latency = Mutex<[String: LatencyHistogram]>([:])

    public init() {}

    /// Upstream (ADDRESS:PORT) -> its histogram, for every upstream that has answered.
    public func latencyHistograms() -> [String: LatencyHistogram] { latency.withLock { $0 } }

    func bump(_ counter: borrowing Atomic<Int>) { counter.wrappingAdd(1, ordering: .relaxed) }

    func recordLatency(upstream: String, nanoseconds: Int64) {
        let ms = Double(nanoseconds) / 1e6
        let bucket = Self.latencyBucketBounds.firstIndex { ms <= $0 } ?? Self.latencyBucketBounds.count
        latency.withLock { histograms in
            histograms[upstream, default: LatencyHistogram()].buckets[bucket] += 1
            histograms[upstream, default: LatencyHistogram()].sumMicroseconds += Int(nanoseconds / 1000)
        }
    }
}
