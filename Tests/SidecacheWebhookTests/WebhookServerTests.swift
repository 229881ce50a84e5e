import Foundation
import NIOCore
import NIOPosix
import SidecacheWebhook
import TestSupport
import Testing

/// The webhook over real TLS on loopback, with curl as the client (verifying the server against the test CA).
@Suite(.serialized)
struct WebhookServerTests {
    let uid = "705ab4f5-6393-11e8-b7cc-42010a800002"

    @Test func patchesAPodOverTLS() async throws {
        let harness = try await WebhookHarness()
        let body = try fixture("pod-web.review.json")
        let reply = try await harness.request("POST", "/mutate", body: body)
        #expect(reply.status == 200)
        let response = try response(of: reply.body, uid: uid)
        let patch = try #require(try decodedPatch(response))
        let pod = try #require(try JSONValue.parse(body)["request"]?["object"])
        #expect(try PatchApplier.apply(patch, to: pod) == (try fixtureJSON("pod-web.patched.json")))
        #expect(try await harness.metric(#"sidecache_webhook_requests_total{result="patched"}"#) == 1)
        #expect(try await harness.metric("sidecache_webhook_request_duration_seconds_count") == 1)
        await harness.stop()
    }

    /// A malformed body gets a 400 with a message, and the same server answers the next review.
    @Test func malformedBodyThenKeepsServing() async throws {
        let harness = try await WebhookHarness()
        let bad = try await harness.request("POST", "/mutate", body: Array(#"{"kind": "AdmissionReview",,"#.utf8))
        #expect(bad.status == 400)
        #expect(bad.text.contains("the body is not JSON"))
        let beta = try await harness.request("POST", "/mutate", body: try fixture("pod-web.v1beta1.review.json"))
        #expect(beta.status == 400)
        #expect(beta.text.contains("only admission.k8s.io/v1"))
        let good = try await harness.request("POST", "/mutate", body: try fixture("pod-web.review.json"))
        #expect(good.status == 200)
        #expect(try decodedPatch(try response(of: good.body, uid: uid)) != nil)
        #expect(try await harness.metric(#"sidecache_webhook_requests_total{result="rejected"}"#) == 2)
        await harness.stop()
    }

    @Test func routesMethodsAndProbes() async throws {
        let harness = try await WebhookHarness()
        #expect(try await harness.request("GET", "/healthz").status == 200)
        let ready = try await harness.request("GET", "/readyz")
        #expect(ready.status == 200 && ready.text == "ready\n")
        #expect(try await harness.request("GET", "/nowhere").status == 404)
        #expect(try await harness.request("GET", "/mutate").status == 405)
        #expect(try await harness.request("POST", "/healthz", body: Array("{}".utf8)).status == 405)
        let metrics = try await harness.request("GET", "/metrics")
        #expect(metrics.status == 200 && metrics.text.contains("# TYPE sidecache_webhook_requests_total counter"))
        await harness.stop()
    }

    /// A 10 MB body is refused with 413 from its Content-Length, before it is read.
    @Test func oversizedBodyIsRefused() async throws {
        let harness = try await WebhookHarness()
        let big = [UInt8](repeating: UInt8(ascii: " "), count: 10_000_000)
        let reply = try await harness.request("POST", "/mutate", body: big)
        #expect(reply.status == 413)
        #expect(reply.text.contains("larger than 3145728 octets"))
        #expect(try await harness.request("POST", "/mutate", body: try fixture("pod-web.review.json")).status == 200)
        await harness.stop()
    }

    /// A client that connects and sends nothing (or too slowly) is closed after the request timeout, and other
    /// clients are answered meanwhile.
    @Test func slowClientIsClosedOthersServed() async throws {
        let harness = try await WebhookHarness { $0.requestTimeout = .seconds(1) }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let started = ContinuousClock.now
        let idle = try await ClientBootstrap(group: group).connect(host: "127.0.0.1", port: harness.port).get()
        let trickle = try await ClientBootstrap(group: group).connect(host: "127.0.0.1", port: harness.port).get()
        // Half a TLS ClientHello header, then nothing more: a handshake that never finishes.
        try await trickle.writeAndFlush(ByteBuffer(bytes: [0x16, 0x03, 0x01])).get()
        for _ in 0..<3 {
            #expect(try await harness.request("GET", "/healthz").status == 200)
        }
        try await idle.closeFuture.get()
        try await trickle.closeFuture.get()
        let elapsed = ContinuousClock.now - started
        #expect(elapsed >= .milliseconds(900) && elapsed < .seconds(8), "\(elapsed)")
        #expect(try await harness.metric("sidecache_webhook_timeouts_total") == 2)
        try await group.shutdownGracefully()
        await harness.stop()
    }

    /// A rotated certificate (a Secret volume's `..data` symlink swap) is served to new connections; a bad new pair
    /// is refused and the old one kept.
    @Test func certificateRotationIsPickedUp() async throws {
        let pki = try await TestCertificates()
        let first = try await pki.issue("first")
        let second = try await pki.issue("second")
        let volume = "\(pki.directory)/volume"
        try FileManager.default.createDirectory(atPath: "\(volume)/..2026_01", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: first.certificate, toPath: "\(volume)/..2026_01/tls.crt")
        try FileManager.default.copyItem(atPath: first.key, toPath: "\(volume)/..2026_01/tls.key")
        try FileManager.default.createSymbolicLink(atPath: "\(volume)/..data", withDestinationPath: "..2026_01")
        try FileManager.default.createSymbolicLink(atPath: "\(volume)/tls.crt", withDestinationPath: "..data/tls.crt")
        try FileManager.default.createSymbolicLink(atPath: "\(volume)/tls.key", withDestinationPath: "..data/tls.key")
        let harness = try await WebhookHarness(
            pki: pki, certificatePath: "\(volume)/tls.crt", keyPath: "\(volume)/tls.key") {
                $0.reloadInterval = .milliseconds(50)
            }
        #expect(try await pki.presentedName(port: harness.port) == "first")

        // As kubelet does it: a new directory, then one rename of a new symlink over ..data.
        func publish(_ directory: String, certificate: String, key: String) throws {
            try FileManager.default.createDirectory(atPath: "\(volume)/\(directory)", withIntermediateDirectories: true)
            try FileManager.default.copyItem(atPath: certificate, toPath: "\(volume)/\(directory)/tls.crt")
            try FileManager.default.copyItem(atPath: key, toPath: "\(volume)/\(directory)/tls.key")
            try FileManager.default.createSymbolicLink(atPath: "\(volume)/..data_tmp", withDestinationPath: directory)
            #expect(rename("\(volume)/..data_tmp", "\(volume)/..data") == 0)
        }
        try publish("..2026_02", certificate: second.certificate, key: second.key)
        try await waitFor { try await harness.metric(#"sidecache_webhook_certificate_reloads_total{result="success"}"#) == 1 }
        #expect(try await pki.presentedName(port: harness.port) == "second")
        #expect(try await harness.request("POST", "/mutate", body: try fixture("pod-web.review.json")).status == 200)

        // A mismatched pair (the first key with the second certificate) is logged and the second pair stays.
        try publish("..2026_03", certificate: second.certificate, key: first.key)
        try await waitFor { try await harness.metric(#"sidecache_webhook_certificate_reloads_total{result="failure"}"#) == 1 }
        #expect(try await pki.presentedName(port: harness.port) == "second")
        #expect(try await harness.request("GET", "/readyz").status == 200)
        await harness.stop()
    }

    /// Polls `condition` every 50 ms for at most 10 s.
    func waitFor(_ condition: () async throws -> Bool) async throws {
        for _ in 0..<200 {
            if try await condition() { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        Issue.record("condition not met within 10 s")
    }
}

/// A certificate that cannot serve stops startup with a message naming the file and the problem.
struct CertificateStartupTests {
    @Test func missingCertificate() async throws {
        let pki = try await TestCertificates()
        let pair = try await pki.issue("webhook")
        let error = #expect(throws: WebhookError.self) {
            try CertificateStore(certificatePath: "\(pki.directory)/absent.crt", keyPath: pair.key)
        }
        #expect(error?.code == .badCertificate)
        #expect(error?.message == "tls-cert: cannot read \(pki.directory)/absent.crt: No such file or directory")
    }

    @Test func expiredCertificate() async throws {
        let pki = try await TestCertificates()
        let pair = try await pki.issue("expired", start: "20200101000000Z", end: "20200102000000Z")
        let error = #expect(throws: WebhookError.self) {
            try CertificateStore(certificatePath: pair.certificate, keyPath: pair.key)
        }
        #expect(error?.code == .badCertificate)
        #expect(error?.message.hasPrefix("tls-cert: \(pair.certificate) expired at 2020-01-02T00:00:00Z") == true)
    }

    @Test func mismatchedKey() async throws {
        let pki = try await TestCertificates()
        let one = try await pki.issue("one")
        let other = try await pki.issue("other")
        let error = #expect(throws: WebhookError.self) {
            try CertificateStore(certificatePath: one.certificate, keyPath: other.key)
        }
        #expect(error?.message.hasPrefix("tls-key: \(other.key) is not the key of the certificate in \(one.certificate)") == true)
    }

    @Test func notPEM() async throws {
        let pki = try await TestCertificates()
        let pair = try await pki.issue("webhook")
        let garbage = "\(pki.directory)/garbage.crt"
        try "not a certificate\n".write(toFile: garbage, atomically: true, encoding: .utf8)
        let certificateError = #expect(throws: WebhookError.self) {
            try CertificateStore(certificatePath: garbage, keyPath: pair.key)
        }
        #expect(certificateError?.message.hasPrefix("tls-cert: \(garbage) holds no PEM certificate") == true)
        let keyError = #expect(throws: WebhookError.self) {
            try CertificateStore(certificatePath: pair.certificate, keyPath: garbage)
        }
        #expect(keyError?.message.hasPrefix("tls-key: \(garbage) holds no unencrypted PEM private key") == true)
    }

    /// Root reads any file, so this runs as a non-root user only.
    @Test(.enabled(if: !runningAsRoot, "root reads any file"))
    func unreadableKeyAsNonRoot() async throws {
        let pki = try await TestCertificates()
        let pair = try await pki.issue("webhook")
        #expect(chmod(pair.key, 0) == 0)
        let error = #expect(throws: WebhookError.self) {
            try CertificateStore(certificatePath: pair.certificate, keyPath: pair.key)
        }
        #expect(error?.message == "tls-key: cannot read \(pair.key): Permission denied")
    }

    /// The whole program: `sidecache webhook` with an expired certificate exits 2 with the message.
    @Test func commandStopsOnExpiredCertificate() async throws {
        let pki = try await TestCertificates()
        let pair = try await pki.issue("expired", start: "20200101000000Z", end: "20200102000000Z")
        let binary = fixtureDirectory.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent(".build/debug/sidecache").path
        try #require(FileManager.default.isExecutableFile(atPath: binary), "swift build first")
        let result = try await ExternalProcess.run(
            binary, ["webhook", "--listen", "127.0.0.1:1", "--upstream", "10.96.0.10", "--tls-cert", pair.certificate, "--tls-key", pair.key])
        #expect(result.status == 2)
        #expect(result.output.contains("sidecache webhook: tls-cert: \(pair.certificate) expired at 2020-01-02T00:00:00Z"))
    }
}

/// The program under SIGTERM: /readyz says 503 at once while reviews are still answered for the lame duck, then the
/// process exits.
struct WebhookDrainTests {
    func status(_ path: String, port: Int, pki: TestCertificates, body: String? = nil) async throws -> Int {
        var arguments = ["-sS", "--max-time", "5", "--cacert", pki.caCertificate, "-o", "/dev/null", "-w", "%{http_code}"]
        if let body { arguments += ["--data-binary", "@\(body)"] }
        let result = try await ExternalProcess.run("curl", arguments + ["https://127.0.0.1:\(port)\(path)"])
        return Int(result.output.suffix(3)) ?? 0
    }

    @Test func sigtermDrainsThenExits() async throws {
        let pki = try await TestCertificates()
        let pair = try await pki.issue("webhook")
        let binary = fixtureDirectory.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent(".build/debug/sidecache").path
        try #require(FileManager.default.isExecutableFile(atPath: binary), "swift build first")
        // A random port: the program binds what it is told (another test or program may hold one; try three).
        var started: (process: ExternalProcess, port: Int)?
        for _ in 0..<3 where started == nil {
            let port = Int.random(in: 20000...60000)
            let process = try ExternalProcess(
                binary,
                ["webhook", "--listen", "127.0.0.1:\(port)", "--upstream", "10.96.0.10", "--tls-cert", pair.certificate,
                 "--tls-key", pair.key, "--lame-duck", "1500ms"])
            for _ in 0..<50 {
                if try await status("/readyz", port: port, pki: pki) == 200 { started = (process, port); break }
                if !process.isRunning { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            if started == nil { process.stop() }
        }
        let (process, port) = try #require(started)
        let review = "\(pki.directory)/review.json"
        try Data(try fixture("pod-web.review.json")).write(to: URL(fileURLWithPath: review))
        process.signal(SIGTERM)
        try await Task.sleep(for: .milliseconds(300))
        #expect(try await status("/readyz", port: port, pki: pki) == 503)
        #expect(try await status("/mutate", port: port, pki: pki, body: review) == 200)
        for _ in 0..<100 where process.isRunning { try await Task.sleep(for: .milliseconds(50)) }
        #expect(!process.isRunning, "still running 5 s after SIGTERM")
        let output = process.stop()
        #expect(output.contains("draining"), "\(output)")
    }
}
