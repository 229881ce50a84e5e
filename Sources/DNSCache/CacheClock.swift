#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Nanoseconds on a monotonic clock. Absolute expiry, prefetch and stale deadlines are all in this unit.
public typealias Nanoseconds = UInt64

/// The time source of the cache. Tests pass a manual clock; the daemon passes `MonotonicClock`.
/// Wall-clock steps (NTP, suspend of the container) must never expire or revive entries, so this is monotonic.
public protocol CacheClock: Sendable {
    var now: Nanoseconds { get }
}

/// `CLOCK_MONOTONIC`, read with one vDSO call.
public struct MonotonicClock: CacheClock {
    public init() {}

    @inline(__always)
    public var now: Nanoseconds {
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return UInt64(spec.tv_sec) &* 1_000_000_000 &+ UInt64(spec.tv_nsec)
    }
}

extension Nanoseconds {
    public static func seconds(_ value: Double) -> Nanoseconds { Nanoseconds(value * 1e9) }
    public static let second: Nanoseconds = 1_000_000_000
}
