import Logging
import ServiceLifecycle

/// Polls the certificate files every `interval` and swaps in a new pair when they change (see `CertificateStore`).
/// Polling rather than inotify: a Secret volume update is a symlink swap in the parent directory, which a watch on
/// the files themselves does not see, and a poll every few seconds costs nothing next to cert-manager's schedule.
struct CertificateReloader: Service {
    let store: CertificateStore
    let metrics: WebhookMetrics
    let interval: Duration
    let logger: Logger

    func run() async throws {
        // Ends with the service group: graceful shutdown cancels the sleep. Returning (not throwing) then matters:
        // a service that throws makes the group cancel the listener at once, skipping its lame duck.
        do {
            try await cancelWhenGracefulShutdown {
                while !Task.isCancelled {
                    try await Task.sleep(for: interval)
                    poll()
                }
            }
        } catch is CancellationError {
            return
        }
    }

    func poll() {
        switch store.poll() {
        case .unchanged:
            break
        case .reloaded(let notValidAfter):
            metrics.recordReload(success: true)
            metrics.recordExpiry(notValidAfter)
            logger.notice(
                "certificate reloaded; new connections use it",
                metadata: ["tls-cert": "\(store.certificatePath)", "not-after": "\(CertificateStore.timestamp(notValidAfter))"])
        case .failed(let error):
            metrics.recordReload(success: false)
            logger.error("changed certificate not used; the previous one stays", metadata: ["error": "\(error)"])
        }
    }
}
