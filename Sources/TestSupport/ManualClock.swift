import DNSCache
import Synchronization

/// A clock that moves only when a test says so.
public final class ManualClock: CacheClock {
    private let value: Atomic<UInt64>

    public init(start: Nanoseconds = 1_000 * .second) {
        value = Atomic(start)
    }

    public var now: Nanoseconds { value.load(ordering: .acquiring) }

    public func advance(by nanoseconds: Nanoseconds) {
        value.wrappingAdd(nanoseconds, ordering: .releasing)
    }

    public func advance(seconds: Double) {
        advance(by: Nanoseconds(seconds * 1e9))
    }

    public func set(_ instant: Nanoseconds) {
        value.store(instant, ordering: .releasing)
    }
}
