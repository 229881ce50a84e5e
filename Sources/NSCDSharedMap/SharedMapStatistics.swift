import Synchronization

/// Counters of the map, read by the metrics collector.
public final class SharedMapStatistics: Sendable {
    /// Records written (new keys, new content, rotations, rewrites in a swap).
    public let publishes = Atomic<Int>(0)
    /// Records made unusable at their deadline (or by an invalidation).
    public let flips = Atomic<Int>(0)
    /// Republications in a new address order.
    public let rotations = Atomic<Int>(0)
    /// Generation swaps.
    public let swaps = Atomic<Int>(0)
    /// In-place compactions (when no new file could be made).
    public let compactions = Atomic<Int>(0)
    /// GETFDHST requests answered with a descriptor.
    public let handouts = Atomic<Int>(0)
    /// New names not published because the live set filled its share of the area.
    public let refusedFull = Atomic<Int>(0)
    /// Records that could not be written for lack of space even after reclaiming.
    public let writeFailures = Atomic<Int>(0)
    /// Predecessor files retired at start-up.
    public let takeovers = Atomic<Int>(0)
    public let disabled = Atomic<Bool>(false)

    func bump(_ counter: borrowing Atomic<Int>) { counter.wrappingAdd(1, ordering: .relaxed) }
}
