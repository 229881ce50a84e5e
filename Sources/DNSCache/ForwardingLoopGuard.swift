import DNSWire
import Synchronization

/// Detects a forwarding loop at run time: the forwarder sends one probe question with a random name upstream; if that
/// same question reaches one of our own front doors, our upstream forwards back to us (resolv.conf pointing at
/// ourselves through another address, or an upstream configured to forward to the pod). Both the forwarder and the
/// DNS door hold this object; the door asks `isProbe` for every miss.
public final class ForwardingLoopGuard: Sendable {
    /// `sidecache-loop-probe-<16 hex>.invalid.` (RFC 6761 6.4: `.invalid` is never resolved for real).
    public let probeName: DNSName
    private let lowercasedWire: [UInt8]
    private let detectedFlag = Atomic<Bool>(false)

    public init(token: UInt64 = UInt64.random(in: .min ... .max)) {
        let hex = String(token, radix: 16)
        let label = "sidecache-loop-probe-" + String(repeating: "0", count: 16 - hex.count) + hex
        probeName = (try? DNSName(label + ".invalid.")) ?? .root
        lowercasedWire = probeName.lowercased().wire
    }

    /// True when `nameBytes` (a lower-cased wire name, as in a `CacheKey`) is our probe.
    @inline(__always)
    public func isProbe(_ key: CacheKey) -> Bool {
        key.name.count == lowercasedWire.count && key.name == lowercasedWire
    }

    /// Called by a front door that received the probe.
    public func markDetected() { detectedFlag.store(true, ordering: .releasing) }

    public var detected: Bool { detectedFlag.load(ordering: .acquiring) }
}
