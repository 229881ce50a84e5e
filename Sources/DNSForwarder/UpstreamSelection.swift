import NIOCore

/// Which upstream a query tries first and next, and which upstreams are down: a value-type state machine whose
/// methods return what changed, so the forwarder only has to perform and log it.
public struct UpstreamSelection: Sendable {
    public enum HealthChange: Sendable, Hashable {
        case markedDown(index: Int, until: NIODeadline)
        case recovered(index: Int)
    }

    struct Health: Sendable {
        var consecutiveFailures = 0
        var downUntil: NIODeadline? = nil
    }

    public let count: Int
    public let policy: UpstreamPolicy
    let failuresBeforeDown: Int
    let downInterval: TimeAmount
    var health: [Health]
    var nextRoundRobin = 0

    public init(count: Int, policy: UpstreamPolicy, failuresBeforeDown: Int, downInterval: TimeAmount) {
        self.count = count
        self.policy = policy
        self.failuresBeforeDown = failuresBeforeDown
        self.downInterval = downInterval
        self.health = Array(repeating: Health(), count: count)
    }

    public func isDown(_ index: Int, now: NIODeadline) -> Bool {
        guard let until = health[index].downUntil else { return false }
        return now < until
    }

    /// The order in which one query tries the upstreams: healthy ones by policy, then the down ones (so that with
    /// every upstream down a query still tries, and an upstream whose down interval has passed gets its probe).
    public mutating func order<R: RandomNumberGenerator>(now: NIODeadline, using rng: inout R) -> [Int] {
        var healthy = (0..<count).filter { !isDown($0, now: now) }
        let down = (0..<count).filter { isDown($0, now: now) }
        switch policy {
        case .sequential:
            break
        case .random:
            healthy.shuffle(using: &rng)
        case .roundRobin:
            if !healthy.isEmpty {
                let start = nextRoundRobin % healthy.count
                healthy = Array(healthy[start...] + healthy[..<start])
                nextRoundRobin &+= 1
            }
        }
        return healthy + down
    }

    public mutating func recordSuccess(_ index: Int) -> HealthChange? {
        let wasDown = health[index].downUntil != nil
        health[index] = Health()
        return wasDown ? .recovered(index: index) : nil
    }

    public mutating func recordFailure(_ index: Int, now: NIODeadline) -> HealthChange? {
        health[index].consecutiveFailures += 1
        guard health[index].consecutiveFailures >= failuresBeforeDown else { return nil }
        let until = now + downInterval
        let wasDown = isDown(index, now: now)
        health[index].downUntil = until
        return wasDown ? nil : .markedDown(index: index, until: until)
    }
}
