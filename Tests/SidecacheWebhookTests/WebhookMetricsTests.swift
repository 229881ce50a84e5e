import Foundation
import MetricCatalogue
import SidecacheWebhook
import Testing

/// docs/metrics.md's webhook table and `WebhookMetrics.catalogue` list the same metrics, named by the project's
/// rules, and the registry exposes each under its catalogue kind.
struct WebhookMetricsTests {
    @Test func documentAndCatalogueAgree() throws {
        let root = fixtureDirectory.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let document = try String(contentsOf: root.appendingPathComponent("docs/metrics.md"), encoding: .utf8)
        let documented = MetricDescription.documentedNames(in: document, prefix: "sidecache_webhook_")
        #expect(documented == WebhookMetrics.catalogue.map(\.name))
    }

    @Test(arguments: WebhookMetrics.catalogue)
    func namesFollowTheRules(metric: WebhookMetrics.Metric) {
        #expect(metric.name.hasPrefix("sidecache_webhook_"))
        #expect(metric.namingProblems.isEmpty, "\(metric.namingProblems)")
    }

    @Test func registryHasEveryCatalogueMetric() {
        let text = String(decoding: WebhookMetrics().exposition(), as: UTF8.self)
        for metric in WebhookMetrics.catalogue {
            #expect(text.contains("# TYPE \(metric.name) \(metric.kind.rawValue)"), "\(metric.name)")
            #expect(text.contains("# HELP \(metric.name) \(metric.help)"), "\(metric.name)")
        }
    }
}
