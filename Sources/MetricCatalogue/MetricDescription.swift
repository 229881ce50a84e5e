/// One metric as docs/metrics.md lists it: the daemon's catalogue and the webhook's are lists of these, and their
/// tests hold each to the same naming rules, `sidecache_<subsystem>_<name>_<unit|total>`.
public struct MetricDescription: Sendable, Hashable {
    public enum Kind: String, Sendable { case counter, gauge, histogram }

    public var name: String
    public var kind: Kind
    public var labels: [String]
    public var help: String

    public init(name: String, kind: Kind, labels: [String], help: String) {
        self.name = name
        self.kind = kind
        self.labels = labels
        self.help = help
    }

    /// The rules this metric breaks; empty when it follows them all. Counters end in `_total`, gauges do not,
    /// histograms carry a base unit; names and labels are lower-case Prometheus identifiers.
    public var namingProblems: [String] {
        var problems: [String] = []
        if name.wholeMatch(of: /sidecache_[a-z]+_[a-z0-9_]+/) == nil || name.contains("__") {
            problems.append("\(name): not sidecache_<subsystem>_<name>_<unit|total>")
        }
        switch kind {
        case .counter where !name.hasSuffix("_total"): problems.append("\(name): counters end in _total")
        case .gauge where name.hasSuffix("_total"): problems.append("\(name): only counters end in _total")
        case .histogram where !name.hasSuffix("_seconds") && !name.hasSuffix("_bytes"):
            problems.append("\(name): histograms carry a base unit")
        default: break
        }
        for label in labels where label.wholeMatch(of: /[a-z_][a-z0-9_]*/) == nil || label.hasPrefix("__") {
            problems.append("\(name): label \(label) is not a Prometheus label name")
        }
        if help.isEmpty { problems.append("\(name): no help text") }
        return problems
    }

    /// The names in the first column of docs/metrics.md's table rows (`| \`sidecache_...\` | ...`) that start
    /// with `prefix`.
    public static func documentedNames(in document: String, prefix: String = "sidecache_") -> [String] {
        document.split(separator: "\n").filter { $0.hasPrefix("| `\(prefix)") }.compactMap { line in
            line.split(separator: "`").dropFirst().first.map(String.init)
        }
    }
}
