import Yams

/// Adds the sidecar to one pod template (a `metadata` + `spec` mapping: a Pod itself, or a workload's template).
///
/// Every edit replaces what an earlier injection added (matched by name) and appends what is missing, so injecting
/// twice gives the same result as injecting once, and injecting again with other options updates the sidecar.
struct PodTemplateInjector {
    let template: SidecarTemplate
    /// Where the template is, for messages: `document 2 (Deployment web): spec.template`.
    let location: String
    let path: String
    let namespace: String
    var warnings: [String] = []

    private var options: SidecarOptions { template.options }

    mutating func inject(into pod: inout Node.Mapping) throws {
        do {
            try injectUnlocated(into: &pod)
        } catch var error as InjectError where !error.message.hasPrefix(location) {
            // The node helpers know the field's path but not the document's.
            error.message = "\(location): \(error.message)"
            throw error
        }
    }

    private mutating func injectUnlocated(into pod: inout Node.Mapping) throws {
        guard var spec = try pod.mapping("spec", at: path) else {
            throw InjectError(.malformedPodSpec, "\(location): \(path).spec is missing")
        }
        let specPath = path.isEmpty ? "spec" : "\(path).spec"
        try checkSupported(spec, specPath)
        let firstApplication = try placeSidecar(in: &spec, specPath)
        try addVolume(to: &spec, specPath)
        try mountSocketDirectory(in: &spec, specPath)
        try configureDNS(in: &spec, specPath)
        try allowPort53(in: &spec, specPath)
        pod["spec"] = .mapping(spec)
        try annotate(&pod, firstApplication: firstApplication)
    }

    private func checkSupported(_ spec: Node.Mapping, _ specPath: String) throws {
        if spec.text("hostNetwork") == "true" {
            throw InjectError(
                .unsupported,
                "\(location): \(specPath).hostNetwork is true: 127.0.0.1:53 would be the node's, not the pod's; sidecache cannot serve host-network pods")
        }
        if spec.text("dnsPolicy") == "Default" {
            throw InjectError(
                .unsupported,
                "\(location): \(specPath).dnsPolicy is Default (the node's DNS, not the cluster's); injecting would switch this pod to the cluster DNS. Remove dnsPolicy or leave this workload out")
        }
        guard let containers = try spec.sequence("containers", at: specPath), !containers.isEmpty else {
            throw InjectError(.malformedPodSpec, "\(location): \(specPath).containers is missing or empty")
        }
        for (index, container) in containers.enumerated() where container.mapping == nil {
            throw InjectError(.malformedPodSpec, "\(location): \(specPath).containers[\(index)] is \(container.shapeName), not a mapping")
        }
    }

    /// Puts the sidecar where the mode wants it: first of the init containers (native, so it starts before any
    /// other init container and stops after every one), or first of the containers (classic, so kubelet starts it
    /// first). An earlier sidecar of the same name is replaced in place, or moved when the mode changed. Returns the
    /// first application container's name.
    private func placeSidecar(in spec: inout Node.Mapping, _ specPath: String) throws -> String? {
        var previous: (list: String, index: Int)?
        for list in ["initContainers", "containers"] {
            guard let containers = try spec.sequence(list, at: specPath),
                let index = containers.index(named: SidecarTemplate.containerName)
            else { continue }
            previous = (list, index)
            try spec.editSequence(list, at: specPath) { _ = $0.remove(at: index) }
        }
        if previous?.list == "initContainers", let initContainers = try spec.sequence("initContainers", at: specPath),
            initContainers.isEmpty
        {
            spec["initContainers"] = nil
        }
        let target = options.mode == .native ? "initContainers" : "containers"
        let index = previous?.list == target ? previous!.index : 0
        let container = template.container
        try spec.editSequence(target, at: specPath) { $0.insert(container, at: min(index, $0.count)) }
        if options.mode == .native {
            // Keep initContainers before containers, where kubectl and most manifests have it.
            spec = Self.moving("initContainers", before: "containers", in: spec)
        }
        let applications = try spec.sequence("containers", at: specPath) ?? []
        return applications.compactMap { $0.mapping?.text("name") }.first { $0 != SidecarTemplate.containerName }
    }

    private static func moving(_ key: String, before other: String, in mapping: Node.Mapping) -> Node.Mapping {
        let pairs = Array(mapping)
        guard let from = pairs.firstIndex(where: { $0.key.scalarText == key }),
            let to = pairs.firstIndex(where: { $0.key.scalarText == other }), from > to
        else { return mapping }
        var reordered = pairs.map { ($0.key, $0.value) }
        let moved = reordered.remove(at: from)
        reordered.insert(moved, at: to)
        return Node.Mapping(reordered, mapping.tag, mapping.style)
    }

    private func addVolume(to spec: inout Node.Mapping, _ specPath: String) throws {
        try spec.editSequence("volumes", at: specPath) { volumes in
            for (name, volume) in [
                (SidecarTemplate.volumeName, template.volume), (SidecarTemplate.mapVolumeName, template.mapVolume),
            ] {
                if let index = volumes.index(named: name) {
                    volumes[index] = volume
                } else {
                    volumes.append(volume)
                }
            }
        }
    }

    /// Mounts the socket directory read-only in every container and init container but the sidecar.
    private mutating func mountSocketDirectory(in spec: inout Node.Mapping, _ specPath: String) throws {
        for list in ["initContainers", "containers"] {
            guard var containers = try spec.sequence(list, at: specPath) else { continue }
            for index in containers.indices {
                guard case .mapping(var container) = containers[index] else {
                    throw InjectError(
                        .malformedPodSpec, "\(location): \(specPath).\(list)[\(index)] is \(containers[index].shapeName), not a mapping")
                }
                let name = container.text("name") ?? "#\(index)"
                if name == SidecarTemplate.containerName { continue }
                let containerPath = "\(specPath).\(list)[\(index)]"
                try container.editSequence("volumeMounts", at: containerPath) { mounts in
                    for mount in mounts {
                        let mountPath = mount.mapping?.text("mountPath").map(Self.normalized)
                        let mountName = mount.mapping?.text("name")
                        if mountName != SidecarTemplate.volumeName,
                            mountPath == SidecarTemplate.socketDirectory || mountPath == "/run/nscd"
                        {
                            throw InjectError(
                                .unsupported,
                                "\(location): container \(name) already mounts volume \(mountName ?? "?") at \(mountPath!), where the sidecar's socket goes")
                        }
                    }
                    if let existing = mounts.index(named: SidecarTemplate.volumeName) {
                        mounts[existing] = template.applicationMount
                    } else {
                        mounts.append(template.applicationMount)
                    }
                }
                containers[index] = .mapping(container)
            }
            spec[list] = .sequence(containers)
        }
        if options.mode == .classic, let initContainers = try spec.sequence("initContainers", at: specPath),
            !initContainers.isEmpty
        {
            warnings.append(
                "\(location): init containers run before a classic sidecar starts, so they cannot resolve names (nameserver 127.0.0.1); use --mode native on Kubernetes >= 1.29")
        }
    }

    private static func normalized(_ path: String) -> String {
        var path = path
        while path.count > 1 && path.hasSuffix("/") { path.removeLast() }
        return path
    }

    /// `dnsPolicy: None` with 127.0.0.1 as the only nameserver. With ClusterFirst (or no policy), kubelet would
    /// have written the cluster search list and `ndots:5` and appended the pod's own dnsConfig to them: those become
    /// explicit here, so names resolve exactly as before. With None, the pod's own searches and options stay.
    private mutating func configureDNS(in spec: inout Node.Mapping, _ specPath: String) throws {
        let policy = spec.text("dnsPolicy") ?? "ClusterFirst"
        let wasNone = policy == "None"
        spec["dnsPolicy"] = "None"
        let clusterSearches = template.clusterSearchList(namespace: namespace)
        let location = self.location
        var replacedNameservers: [String] = []
        try spec.editMapping("dnsConfig", at: specPath) { config in
            let configPath = "\(specPath).dnsConfig"
            let nameservers = (try config.sequence("nameservers", at: configPath) ?? []).compactMap(\.scalarText)
            replacedNameservers = nameservers.filter { $0 != "127.0.0.1" }
            config["nameservers"] = .list([.text("127.0.0.1")])

            let searches = (try config.sequence("searches", at: configPath) ?? []).map { node -> String in
                node.scalarText ?? ""
            }
            if searches.contains("") {
                throw InjectError(.malformedPodSpec, "\(location): \(configPath).searches holds something that is not a name")
            }
            if !wasNone || searches.isEmpty {
                let merged = clusterSearches + searches.filter { !clusterSearches.contains($0) }
                config["searches"] = .list(merged.map(Node.text))
            }

            try config.editSequence("options", at: configPath) { resolverOptions in
                let named = resolverOptions.contains { $0.mapping?.text("name") == "ndots" }
                if !named {
                    resolverOptions.append(.map(["name": "ndots", "value": .text(String(options.ndots))]))
                }
            }
        }
        if !replacedNameservers.isEmpty {
            warnings.append(
                "\(location): dnsConfig.nameservers \(replacedNameservers.joined(separator: ", ")) replaced by 127.0.0.1; sidecache forwards to \(options.upstreams.joined(separator: ", "))")
        }
    }

    /// The safe sysctl that lets the non-root sidecar bind port 53. A lower value already set is kept.
    private func allowPort53(in spec: inout Node.Mapping, _ specPath: String) throws {
        try spec.editMapping("securityContext", at: specPath) { context in
            try context.editSequence("sysctls", at: "\(specPath).securityContext") { sysctls in
                let wanted = Node.map(["name": .text(SidecarTemplate.portSysctl), "value": .text(String(SidecarTemplate.dnsPort))])
                if let index = sysctls.index(named: SidecarTemplate.portSysctl) {
                    let current = sysctls[index].mapping?.text("value").flatMap { Int($0) }
                    if current == nil || current! > SidecarTemplate.dnsPort { sysctls[index] = wanted }
                } else {
                    sysctls.append(wanted)
                }
            }
        }
    }

    /// The label a PodMonitor selects on; in classic mode, the annotation that keeps `kubectl logs` and
    /// `kubectl exec` on the application now that the sidecar is the first container; Prometheus annotations on request.
    private func annotate(_ pod: inout Node.Mapping, firstApplication: String?) throws {
        let metadataPath = path.isEmpty ? "metadata" : "\(path).metadata"
        try pod.editMapping("metadata", at: path.isEmpty ? "" : path) { metadata in
            try metadata.editMapping("labels", at: metadataPath) { labels in
                labels[SidecarTemplate.injectedLabel] = .text("true")
            }
            let classic = options.mode == .classic
            let scrape = options.prometheusAnnotations
            guard classic || scrape else { return }
            try metadata.editMapping("annotations", at: metadataPath) { annotations in
                if classic, let firstApplication, annotations["kubectl.kubernetes.io/default-container"] == nil {
                    annotations["kubectl.kubernetes.io/default-container"] = .text(firstApplication)
                }
                if scrape, !annotations.keys.contains(where: { $0.scalarText?.hasPrefix("prometheus.io/") == true }) {
                    annotations["prometheus.io/scrape"] = .text("true")
                    annotations["prometheus.io/port"] = .text(String(options.adminPort))
                    annotations["prometheus.io/path"] = .text("/metrics")
                }
            }
        }
    }
}
