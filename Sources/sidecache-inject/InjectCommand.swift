import ArgumentParser
import Foundation
import SidecacheInject

/// `sidecache inject` (the `sidecache` command execs this binary, git-subcommand style, so that the daemon itself
/// never links Foundation, which the YAML library needs).
struct InjectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sidecache inject",
        abstract: "Add the sidecache sidecar to every pod template of Kubernetes YAML.",
        discussion: """
            Reads FILE... (or standard input, or '-') as multi-document YAML and writes it to standard output with \
            the sidecar container, its emptyDir, the socket mounts, dnsPolicy None with a dnsConfig, and the port-53 \
            sysctl added to every Pod, Deployment, StatefulSet, DaemonSet, ReplicaSet, ReplicationController, Job, \
            CronJob and PodTemplate (also inside a List). Other documents are written back unchanged; comments are \
            not kept. Injecting an injected document changes nothing, and re-injecting with other options updates \
            the sidecar. See docs/kubernetes.md.

            Example:
              sidecache inject --upstream 10.96.0.10 --image registry.example/sidecache:1 deploy.yaml | kubectl apply -f -
            """)

    @Option(name: .customLong("upstream"), help: "The cluster DNS (kube-dns service IP), ADDRESS[:PORT]; repeatable. Required.")
    var upstreams: [String] = []

    @Option(help: "The sidecache image.")
    var image = SidecarOptions().image

    @Option(help: "imagePullPolicy of the sidecar.")
    var imagePullPolicy = SidecarOptions().imagePullPolicy

    @Option(help: "native: a restartable init container (Kubernetes >= 1.29); classic: a regular container.")
    var mode: String = SidecarOptions().mode.rawValue

    @Option(help: "The cluster domain of the DNS search list.")
    var clusterDomain = SidecarOptions().clusterDomain

    @Option(help: "Namespace for the DNS search list of documents without metadata.namespace.")
    var namespace: String?

    @Option(help: "resolv.conf ndots for the pod, unless its dnsConfig sets one.")
    var ndots = SidecarOptions().ndots

    @Option(help: "Sidecar resource requests, NAME=QUANTITY,... ('none' for no requests).")
    var requests = "cpu=10m,memory=32Mi"

    @Option(help: "Sidecar resource limits, NAME=QUANTITY,... ('none' for no limits).")
    var limits = "memory=64Mi"

    @Option(help: "Port of the admin listener (metrics, /readyz, /healthz) on 0.0.0.0.")
    var adminPort = SidecarOptions().adminPort

    @Option(help: "Event-loop threads of the sidecar (SIDECACHE_THREADS).")
    var threads = SidecarOptions().threads

    @Option(help: "Cache memory budget of the sidecar (SIDECACHE_CACHE_SIZE); raise --limits with it (docs/kubernetes.md, Sizing).")
    var cacheSize = SidecarOptions().cacheSize!

    @Option(help: "Part of the cache for NXDOMAIN/NODATA (SIDECACHE_NEGATIVE_CACHE_SIZE); default (left out): the daemon's quarter of --cache-size.")
    var negativeCacheSize: String?

    @Flag(help: "Also add prometheus.io/scrape, /port and /path annotations to pod templates that have none.")
    var prometheusAnnotations = false

    @Argument(help: "YAML files to read; none or '-' reads standard input.")
    var files: [String] = []

    func run() throws {
        var options = SidecarOptions()
        options.upstreams = upstreams.flatMap { $0.split(separator: ",").map(String.init) }
        options.image = image
        options.imagePullPolicy = imagePullPolicy
        guard let mode = SidecarOptions.Mode(rawValue: mode) else {
            throw ValidationError("--mode must be native or classic")
        }
        options.mode = mode
        options.clusterDomain = clusterDomain
        options.namespace = namespace
        options.ndots = ndots
        options.requests = try Self.quantities(requests, "--requests")
        options.limits = try Self.quantities(limits, "--limits")
        options.adminPort = adminPort
        options.threads = threads
        options.cacheSize = cacheSize
        options.negativeCacheSize = negativeCacheSize
        options.prometheusAnnotations = prometheusAnnotations

        do {
            let injector = try ManifestInjector(options: options)
            var pieces: [String] = []
            for file in files.isEmpty ? ["-"] : files {
                let output = try injector.inject(try Self.read(file), source: file == "-" ? "stdin" : file)
                for warning in output.warnings { FileHandle.standardError.write(Data("warning: \(warning)\n".utf8)) }
                if !output.yaml.isEmpty { pieces.append(output.yaml) }
            }
            FileHandle.standardOutput.write(Data(pieces.joined().utf8))
        } catch let error as InjectError {
            FileHandle.standardError.write(Data("sidecache inject: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }

    static func read(_ file: String) throws -> String {
        let data: Data
        if file == "-" {
            data = FileHandle.standardInput.readDataToEndOfFile()
        } else {
            guard let contents = FileManager.default.contents(atPath: file) else {
                throw InjectError(.invalidOption, "\(file): cannot read the file")
            }
            data = contents
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw InjectError(.invalidYAML, "\(file == "-" ? "stdin" : file): not UTF-8 text")
        }
        return text
    }

    /// "cpu=10m,memory=32Mi" -> ["cpu": "10m", "memory": "32Mi"]; "none" or "" -> [:].
    static func quantities(_ text: String, _ flag: String) throws -> [String: String] {
        guard let result = SidecarOptions.quantities(text) else {
            throw ValidationError("\(flag) takes NAME=QUANTITY,..., e.g. cpu=10m,memory=32Mi; not '\(text)'")
        }
        return result
    }
}
