import Yams

/// `sidecache inject`: reads a stream of Kubernetes YAML documents and adds the sidecar to every pod template in
/// it. Documents of other kinds are written back unchanged (comments aside: YAML comments are not kept).
public struct ManifestInjector: Sendable {
    public let options: SidecarOptions

    /// Where each kind keeps its pod template (the mapping holding `metadata` and `spec`), and the API group the
    /// kind must belong to. A kind of the same name from another group (a custom resource) is left alone.
    static let podTemplates: [String: (group: String, path: [String])] = [
        "Pod": ("", []),
        "PodTemplate": ("", ["template"]),
        "ReplicationController": ("", ["spec", "template"]),
        "Deployment": ("apps", ["spec", "template"]),
        "StatefulSet": ("apps", ["spec", "template"]),
        "DaemonSet": ("apps", ["spec", "template"]),
        "ReplicaSet": ("apps", ["spec", "template"]),
        "Job": ("batch", ["spec", "template"]),
        "CronJob": ("batch", ["spec", "jobTemplate", "spec", "template"]),
    ]

    /// Checks the options: at least one upstream, each a numeric address with an optional port, none of them a
    /// loopback address (in the pod, that is sidecache itself: every lookup would loop).
    public init(options: SidecarOptions) throws {
        guard !options.upstreams.isEmpty else {
            throw InjectError(
                .invalidOption,
                "no upstream: pass --upstream with the cluster DNS service IP (kubectl -n kube-system get service kube-dns -o jsonpath='{.spec.clusterIP}')")
        }
        for upstream in options.upstreams {
            guard let host = UpstreamText.host(of: upstream) else {
                throw InjectError(.invalidOption, "upstream '\(upstream)' is not ADDRESS[:PORT] with a numeric IPv4 or IPv6 address")
            }
            if UpstreamText.isLoopback(host) {
                throw InjectError(
                    .invalidOption,
                    "upstream '\(upstream)' is a loopback address: in the pod that is sidecache itself; use the kube-dns service IP")
            }
        }
        guard options.ndots >= 0 && options.ndots <= 15 else {
            throw InjectError(.invalidOption, "ndots must be between 0 and 15 (glibc caps it at 15), not \(options.ndots)")
        }
        guard (1...65535).contains(options.adminPort), options.adminPort != SidecarTemplate.dnsPort else {
            throw InjectError(.invalidOption, "admin port must be 1-65535 and not 53, not \(options.adminPort)")
        }
        for (what, size) in [("cache size", options.cacheSize), ("negative cache size", options.negativeCacheSize)] {
            if let size, SidecarOptions.octets(size) == nil {
                throw InjectError(.invalidOption, "\(what) '\(size)' is not like 16MiB, 512KiB or 1048576")
            }
        }
        guard options.threads >= 1 else { throw InjectError(.invalidOption, "threads must be at least 1") }
        guard !options.clusterDomain.isEmpty, !options.clusterDomain.hasPrefix("."),
            !options.clusterDomain.hasSuffix(".")
        else {
            throw InjectError(.invalidOption, "cluster domain '\(options.clusterDomain)' must be a name like cluster.local")
        }
        self.options = options
    }

    /// The result of one run: the YAML to write and the warnings to print.
    public struct Output: Sendable, Equatable {
        public var yaml: String
        public var warnings: [String]
    }

    /// Injects into every pod template of `text`. `source` names the input in messages (a file name or "stdin").
    public func inject(_ text: String, source: String) throws -> Output {
        var documents: [Node] = []
        do {
            // The sequence ends at the first error and keeps it in `error` rather than throwing it.
            var sequence = try Yams.compose_all(yaml: text)
            while let document = sequence.next() { documents.append(document) }
            if let error = sequence.error { throw error }
        } catch let error as YamlError {
            let hint = text.contains("{{") ? " (an unrendered template? render it first, e.g. helm template)" : ""
            throw InjectError(.invalidYAML, "\(source): \(Self.describe(error))\(hint)")
        } catch {
            throw InjectError(.invalidYAML, "\(source): not valid YAML: \(error)")
        }
        var warnings: [String] = []
        var output: [Node] = []
        for (index, document) in documents.enumerated() {
            if document.isNull { continue }  // an empty document between two `---`
            let location = "\(source): document \(index + 1)"
            guard case .mapping(var object) = document else {
                throw InjectError(.notAnObject, "\(location) is \(document.shapeName), not a Kubernetes object")
            }
            try inject(into: &object, location: location, namespace: nil, warnings: &warnings)
            output.append(.mapping(object))
        }
        if output.isEmpty { return Output(yaml: "", warnings: warnings) }
        let yaml: String
        do {
            yaml = try Yams.serialize(nodes: output, width: -1, allowUnicode: true, explicitStart: true)
        } catch {
            throw InjectError(.invalidYAML, "\(source): cannot write the result: \(error)")
        }
        return Output(yaml: yaml, warnings: warnings)
    }

    /// One object: a pod template kind gets the sidecar, a `List` has each item handled, anything else is kept.
    private func inject(
        into object: inout Node.Mapping, location: String, namespace inherited: String?, warnings: inout [String]
    ) throws {
        guard let kind = object.text("kind"), let apiVersion = object.text("apiVersion") else {
            throw InjectError(.notAnObject, "\(location) has no kind and apiVersion: not a Kubernetes object")
        }
        let group = apiVersion.contains("/") ? String(apiVersion.split(separator: "/")[0]) : ""
        let metadata = try object.mapping("metadata", at: "")
        let name = metadata?.text("name") ?? metadata?.text("generateName") ?? "(unnamed)"
        let described = "\(location) (\(kind) \(name))"

        if kind.hasSuffix("List"), group == "", let items = try object.sequence("items", at: "") {
            var edited = items
            for index in edited.indices {
                guard case .mapping(var item) = edited[index] else {
                    throw InjectError(.notAnObject, "\(described): items[\(index)] is \(edited[index].shapeName), not a Kubernetes object")
                }
                try inject(into: &item, location: "\(described) items[\(index)]", namespace: nil, warnings: &warnings)
                edited[index] = .mapping(item)
            }
            object["items"] = .sequence(edited)
            return
        }
        guard let (wantedGroup, path) = Self.podTemplates[kind], wantedGroup == group else { return }
        guard let namespace = metadata?.text("namespace") ?? options.namespace ?? inherited else {
            throw InjectError(
                .invalidOption,
                "\(described) has no metadata.namespace: pass --namespace, which the pod's DNS search list needs (<namespace>.svc.\(options.clusterDomain))")
        }
        var injector = PodTemplateInjector(
            template: SidecarTemplate(options: options), location: described, path: path.joined(separator: "."),
            namespace: namespace)
        try Self.edit(&object, path: path, location: described, walked: "") { template in
            try injector.inject(into: &template)
        }
        warnings += injector.warnings
    }

    /// Runs `body` on the mapping at `path` below `mapping`, writing the edit back.
    private static func edit(
        _ mapping: inout Node.Mapping, path: [String], location: String, walked: String,
        _ body: (inout Node.Mapping) throws -> Void
    ) throws {
        guard let key = path.first else { return try body(&mapping) }
        let here = walked.isEmpty ? key : "\(walked).\(key)"
        guard var child = try mapping.mapping(key, at: walked) else {
            throw InjectError(.malformedPodSpec, "\(location): \(here) is missing")
        }
        try edit(&child, path: Array(path.dropFirst()), location: location, walked: here, body)
        mapping[key] = .mapping(child)
    }

    /// "line 3, column 7: mapping values are not allowed in this context".
    static func describe(_ error: YamlError) -> String {
        switch error {
        case .scanner(_, let problem, let mark, _), .parser(_, let problem, let mark, _),
            .composer(_, let problem, let mark, _):
            return "not valid YAML: line \(mark.line), column \(mark.column): \(problem)"
        case .reader(let problem, _, _, _):
            return "not readable as YAML text: \(problem)"
        case .duplicatedKeysInMapping(let duplicates, let context):
            return "not valid YAML: line \(context.mark.line), column \(context.mark.column): duplicate key \(duplicates.joined(separator: ", "))"
        default:
            return "not valid YAML: \(error)"
        }
    }
}

/// Checks on ADDRESS[:PORT] text without Foundation's or the daemon's parsers (this module must not depend on the
/// daemon's modules; it is checked again by the daemon at startup anyway).
enum UpstreamText {
    /// The address part of `10.96.0.10`, `10.96.0.10:53`, `fd00::10` or `[fd00::10]:53`, when it is numeric.
    static func host(of text: String) -> String? {
        var host = text
        var port: Substring?
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { return nil }
            host = String(text[text.index(after: text.startIndex)..<close])
            let rest = text[text.index(after: close)...]
            if !rest.isEmpty {
                guard rest.hasPrefix(":") else { return nil }
                port = rest.dropFirst()
            }
            guard host.contains(":") else { return nil }
        } else if text.filter({ $0 == ":" }).count == 1 {
            let parts = text.split(separator: ":", omittingEmptySubsequences: false)
            host = String(parts[0])
            port = parts[1]
        }
        if let port {
            guard let number = Int(port), (1...65535).contains(number) else { return nil }
        }
        return isIPv4(host) || isIPv6(host) ? host : nil
    }

    static func isIPv4(_ text: String) -> Bool {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts.allSatisfy { part in
            !part.isEmpty && part.count <= 3 && part.allSatisfy(\.isASCII) && Int(part).map { $0 <= 255 } == true
        }
    }

    static func isIPv6(_ text: String) -> Bool {
        guard text.contains(":"), text.count <= 45 else { return false }
        let allowed = Set("0123456789abcdefABCDEF:.")
        guard text.allSatisfy({ allowed.contains($0) }) else { return false }
        let characters = Array(text)
        let doubleColons = zip(characters, characters.dropFirst()).filter { $0 == ":" && $1 == ":" }.count
        return doubleColons <= 1
    }

    static func isLoopback(_ host: String) -> Bool {
        // 0.0.0.0 and :: reach the local host too.
        if isIPv4(host) { return host.hasPrefix("127.") || host == "0.0.0.0" }
        let compact = host.lowercased()
        return compact == "::1" || compact == "0:0:0:0:0:0:0:1" || compact.hasSuffix("::ffff:127.0.0.1")
            || compact == "::"
    }
}
