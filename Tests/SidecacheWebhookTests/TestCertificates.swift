import Foundation
import TestSupport

/// Throwaway PKI made with the openssl command line in a scratch directory: a CA, and leaf certificates for
/// 127.0.0.1 signed by it (valid now, or expired in 2020), each with its own key.
struct TestCertificates {
    let directory: String
    var caCertificate: String { "\(directory)/ca.crt" }

    init() async throws {
        directory = try makeScratchDirectory("webhook-pki")
        try await Self.openssl(
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout",
            "\(directory)/ca.key", "-out", "\(directory)/ca.crt", "-days", "2", "-subj", "/CN=sidecache test CA")
        try "\(directory)/ca/index.txt".writeEmpty()
        try "1000\n".write(toFile: "\(directory)/ca/serial", atomically: true, encoding: .utf8)
        // `openssl ca` is the one command of OpenSSL 3.0 that takes explicit start and end dates.
        try """
            [ca]
            default_ca = test
            [test]
            database = \(directory)/ca/index.txt
            new_certs_dir = \(directory)/ca
            serial = \(directory)/ca/serial
            default_md = sha256
            policy = anything
            copy_extensions = copy
            unique_subject = no
            [anything]
            commonName = supplied

            """.write(toFile: "\(directory)/ca.cnf", atomically: true, encoding: .utf8)
    }

    /// A key and a certificate for 127.0.0.1 and localhost, `name.key` and `name.crt`, valid from `start` to `end`
    /// (YYYYMMDDHHMMSSZ; default: from an hour ago for a day). Returns the two paths.
    @discardableResult
    func issue(_ name: String, start: String? = nil, end: String? = nil) async throws -> (certificate: String, key: String) {
        let key = "\(directory)/\(name).key"
        let request = "\(directory)/\(name).csr"
        let certificate = "\(directory)/\(name).crt"
        try await Self.openssl(
            "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", request,
            "-subj", "/CN=\(name)", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost")
        let hourAgo = Self.stamp(Date().addingTimeInterval(-3600))
        let dayOn = Self.stamp(Date().addingTimeInterval(86400))
        try await Self.openssl(
            "ca", "-batch", "-notext", "-config", "\(directory)/ca.cnf", "-cert", caCertificate, "-keyfile",
            "\(directory)/ca.key", "-in", request, "-out", certificate, "-startdate", start ?? hourAgo, "-enddate",
            end ?? dayOn)
        return (certificate, key)
    }

    /// The subject CN a TLS server at `port` on 127.0.0.1 presents, read with `openssl s_client`.
    func presentedName(port: Int) async throws -> String {
        let result = try await ExternalProcess.run(
            "bash",
            [
                "-c",
                "openssl s_client -connect 127.0.0.1:\(port) -CAfile \(caCertificate) </dev/null 2>/dev/null | openssl x509 -noout -subject -nameopt multiline",
            ])
        let line = result.output.split(separator: "\n").first { $0.contains("commonName") }
        return line.map { String($0.split(separator: "=").last!.trimmingCharacters(in: .whitespaces)) } ?? "(none: \(result.output))"
    }

    static func stamp(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMddHHmmss'Z'"
        return formatter.string(from: date)
    }

    static func openssl(_ arguments: String...) async throws {
        let result = try await ExternalProcess.run("openssl", arguments)
        guard result.status == 0 else { throw OpenSSLFailure(arguments: arguments, output: result.output) }
    }

    struct OpenSSLFailure: Error, CustomStringConvertible {
        var arguments: [String]
        var output: String
        var description: String { "openssl \(arguments.joined(separator: " ")) failed: \(output)" }
    }
}

extension String {
    /// Creates the file (and its directory) empty.
    fileprivate func writeEmpty() throws {
        let directory = (self as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try "".write(toFile: self, atomically: true, encoding: .utf8)
    }
}
