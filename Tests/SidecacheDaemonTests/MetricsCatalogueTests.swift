import MetricCatalogue
import ResolverConfiguration
import SidecacheDaemon
import Testing

/// docs/metrics.md and `SidecacheMetrics.catalogue` list the same metrics, and every name follows the Prometheus
/// naming rules this project uses. (The webhook's rows, `sidecache_webhook_*`, are the webhook's test's.)
struct MetricsCatalogueTests {
    @Test func documentAndCatalogueAgree() throws {
        let document = try TextFile.read("\(repositoryRoot)/docs/metrics.md")
        let documented = MetricDescription.documentedNames(in: document).filter { !$0.hasPrefix("sidecache_webhook_") }
        #expect(Set(documented) == Set(SidecacheMetrics.catalogue.map(\.name)))
        #expect(documented.count == SidecacheMetrics.catalogue.count)
    }

    @Test(arguments: SidecacheMetrics.catalogue)
    func namesFollowTheRules(metric: SidecacheMetrics.Metric) {
        #expect(metric.namingProblems.isEmpty, "\(metric.namingProblems)")
    }
}
