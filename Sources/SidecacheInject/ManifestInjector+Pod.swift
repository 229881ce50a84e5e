import Yams

extension ManifestInjector {
    /// The sidecar container's name, which marks a pod as injected (by `sidecache inject` or the webhook).
    public static let sidecarContainerName = SidecarTemplate.containerName

    /// Adds the sidecar to one Pod object (`metadata` + `spec`), as `inject` does to each pod template: the
    /// webhook's entry point, so that both give the same pod. `namespace` feeds the DNS search list; `location`
    /// starts every message. Returns the warnings.
    public func injectPod(_ pod: inout Node.Mapping, namespace: String, location: String) throws -> [String] {
        var injector = PodTemplateInjector(
            template: SidecarTemplate(options: options), location: location, path: "", namespace: namespace)
        try injector.inject(into: &pod)
        return injector.warnings
    }
}

extension SidecarOptions {
    /// "cpu=10m,memory=32Mi" -> ["cpu": "10m", "memory": "32Mi"]; "none" or "" -> [:]; nil when malformed.
    public static func quantities(_ text: String) -> [String: String]? {
        if text == "none" || text.isEmpty { return [:] }
        var result: [String: String] = [:]
        for item in text.split(separator: ",") {
            let parts = item.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else { return nil }
            result[parts[0]] = parts[1]
        }
        return result
    }
}
