import Foundation

/// Knot DNS, an authoritative server from Debian, started by a test on a loopback address with zones the test
/// writes. It is the real upstream of integration tests.
public final class KnotServer: @unchecked Sendable {
    public let address: String
    public let port: Int
    public let directory: String
    private var process: ExternalProcess?
    private var zones: [String: String]

    /// - Parameter zones: zone origin -> zone file text (with its own `$ORIGIN`/`$TTL` if wanted).
    public init(zones: [String: String], address: String = randomLoopbackAddress(), port: Int = 53535) throws {
        self.address = address
        self.port = port
        self.zones = zones
        directory = try makeScratchDirectory("knot")
        try writeConfiguration()
        try start()
    }

    private func writeConfiguration() throws {
        var conf = """
            server:
                listen: \(address)@\(port)
                rundir: \(directory)
                user: root:root
                tcp-max-clients: 2000
            database:
                storage: \(directory)/db
            log:
              - target: stderr
                any: error
            template:
              - id: default
                storage: \(directory)
                file: "%s.zone"
                semantic-checks: off
            zone:

            """
        for (origin, text) in zones {
            conf += "  - domain: \(origin)\n"
            try text.write(toFile: "\(directory)/\(origin.lowercased()).zone", atomically: true, encoding: .utf8)
        }
        try conf.write(toFile: "\(directory)/knot.conf", atomically: true, encoding: .utf8)
    }

    /// Starts knotd and waits until it answers a query for the first zone's SOA.
    public func start() throws {
        process = try ExternalProcess("knotd", ["-c", "\(directory)/knot.conf"])
        let origin = zones.keys.sorted().first ?? "."
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            let result = try? ExternalProcess.run(
                "dig", ["@\(address)", "-p", "\(port)", "+time=1", "+tries=1", "+short", origin, "SOA"])
            if let result, result.status == 0, !result.output.isEmpty { return }
            if process?.isRunning == false { break }
            usleep(50_000)
        }
        let log = process?.stop() ?? ""
        throw TestFailure("knotd did not come up on \(address):\(port): \(log)")
    }

    /// Replaces a zone's text and has knotd reload it.
    public func updateZone(_ origin: String, _ text: String) throws {
        zones[origin] = text
        try text.write(toFile: "\(directory)/\(origin.lowercased()).zone", atomically: true, encoding: .utf8)
        stop()
        try start()
    }

    public func stop() {
        process?.stop()
        process = nil
    }

    deinit {
        process?.stop()
        try? FileManager.default.removeItem(atPath: directory)
    }
}

/// A test precondition that did not hold (a server that did not start, an unexpected result).
public struct TestFailure: Error, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
