import ResolverConfiguration
import SidecacheDaemon
import Testing

/// docs/metrics.md and `SidecacheMetrics.catalogue` list the same metrics, and every name follows the Prometheus
/// naming rules this project uses.
struct MetricsCatalogueTests {
    @Test func documentAndCatalogueAgree() throws {
        let document = try TextFile.read("\(repositoryRoot)/docs/metrics.md")
        let documented = document.split(separator: "\n").filter { $0.hasPrefix("| `sidecache_") }.compactMap { line in
            line.split(separator: "`").dropFirst().first.map(String.init)
        }
        #expect(Set(documented) == Set(SidecacheMetrics.catalogue.map(\.name)))
        #expect(documented.count == SidecacheMetrics.catalogue.count)
    }

    @Test(arguments: SidecacheMetrics.catalogue)
    func namesFollowTheRules(metric: SidecacheMetrics.Metric) {
        let name = metric.name
        #expect(name.wholeMatch(of: /sidecache_[a-z]+_[a-z0-9_]+/) != nil, "\(name)")
        #expect(!name.contains("__"))
        switch metric.kind {
        case .counter: #expect(name.hasSuffix("_total"), "\(name): counters end in _total")
        case .gauge: #expect(!name.hasSuffix("_total"), "\(name): only counters end in _total")
        case .histogram:
            #expect(name.hasSuffix("_seconds") || name.hasSuffix("_bytes"), "\(name): histograms carry a base unit")
        }
        for label in metric.labels {
            #expect(label.wholeMatch(of: /[a-z_][a-z0-9_]*/) != nil && !label.hasPrefix("__"), "\(name) label \(label)")
        }
        #expect(!metric.help.isEmpty)
    }
}
