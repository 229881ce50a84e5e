import Yams

/// The pieces inject adds to a pod, built from the options. They match sidecar-yaml/ (the hand-written manifests),
/// which docs/kubernetes.md explains field by field.
struct SidecarTemplate {
    static let containerName = "sidecache"
    static let volumeName = "sidecache-nscd"
    /// glibc connects to this path only (nscd/nscd_helper.c); the emptyDir is mounted over its directory in every
    /// container of the pod.
    static let socketDirectory = "/var/run/nscd"
    /// The sidecar's own writable directory, for the shared-memory hosts map (docs/nscd.md): never the shared
    /// emptyDir, and only the sidecar mounts it (clients get the map as a read-only descriptor over the socket).
    static let mapVolumeName = "sidecache-run"
    static let mapDirectory = "/run/sidecache"
    static let portName = "sidecache-admin"
    static let injectedLabel = "sidecache/injected"
    /// Lets a non-root sidecar bind 127.0.0.1:53 without any capability; a namespaced "safe" sysctl since
    /// Kubernetes 1.22, allowed by the restricted Pod Security Standard.
    static let portSysctl = "net.ipv4.ip_unprivileged_port_start"
    static let dnsPort = 53

    let options: SidecarOptions

    /// The sidecar container. The image's entrypoint is `/sidecache serve`; every setting comes from the
    /// environment (docs/configuration.md).
    var container: Node {
        var environment: [Node] = [
            .map(["name": "SIDECACHE_UPSTREAM", "value": .text(options.upstreams.joined(separator: ","))]),
            .map(["name": "SIDECACHE_ADMIN_LISTEN", "value": .text("0.0.0.0:\(options.adminPort)")]),
            .map(["name": "SIDECACHE_THREADS", "value": .text(String(options.threads))]),
            .map(["name": "SIDECACHE_LAME_DUCK", "value": .text(options.lameDuck)]),
        ]
        if let size = options.cacheSize {
            environment.append(.map(["name": "SIDECACHE_CACHE_SIZE", "value": .text(size)]))
        }
        if let size = options.negativeCacheSize {
            environment.append(.map(["name": "SIDECACHE_NEGATIVE_CACHE_SIZE", "value": .text(size)]))
        }
        var pairs: [(Node, Node)] = [
            (Node("name"), .text(Self.containerName)),
            (Node("image"), .text(options.image)),
            (Node("imagePullPolicy"), .text(options.imagePullPolicy)),
        ]
        if options.mode == .native {
            pairs.append((Node("restartPolicy"), .text("Always")))
        }
        pairs += [
            (Node("env"), .list(environment)),
            (Node("ports"), .list([
                .map(["name": .text(Self.portName), "containerPort": .number(options.adminPort), "protocol": "TCP"])
            ])),
        ]
        let resources = resourcesNode
        if !resources.isEmpty { pairs.append((Node("resources"), Node(resources))) }
        pairs += [
            // Native: the next containers start only once this succeeds. `sidecache check` asks both doors.
            (Node("startupProbe"), .map([
                "exec": .map(["command": .list(["/sidecache", "check"])]),
                "periodSeconds": .number(1), "timeoutSeconds": .number(2), "failureThreshold": .number(30),
            ])),
            (Node("readinessProbe"), .map([
                "httpGet": .map(["path": "/readyz", "port": .text(Self.portName)]),
                "periodSeconds": .number(10), "failureThreshold": .number(3),
            ])),
            (Node("livenessProbe"), .map([
                "httpGet": .map(["path": "/healthz", "port": .text(Self.portName)]),
                "periodSeconds": .number(10), "failureThreshold": .number(3),
            ])),
        ]
        if options.mode == .classic {
            // A regular container has no start order; kubelet does not start the next container until this hook
            // returns, so the application starts only after the doors answer (or 10 s have passed).
            pairs.append((Node("lifecycle"), .map([
                "postStart": .map(["exec": .map(["command": .list(["/sidecache", "check", "--wait", .text("10000")])])])
            ])))
        }
        pairs += [
            (Node("securityContext"), .map([
                "runAsNonRoot": .boolean(true),
                "runAsUser": .number(65532),
                "runAsGroup": .number(65532),
                "readOnlyRootFilesystem": .boolean(true),
                "allowPrivilegeEscalation": .boolean(false),
                "capabilities": .map(["drop": .list(["ALL"])]),
                "seccompProfile": .map(["type": "RuntimeDefault"]),
            ])),
            (Node("volumeMounts"), .list([
                .map(["name": .text(Self.volumeName), "mountPath": .text(Self.socketDirectory)]),
                .map(["name": .text(Self.mapVolumeName), "mountPath": .text(Self.mapDirectory)]),
            ])),
        ]
        return Node(pairs)
    }

    private var resourcesNode: [(Node, Node)] {
        func quantities(_ values: [String: String]) -> Node {
            // cpu before memory, as kubectl prints them; any other resource after, by name.
            let order = ["cpu": 0, "memory": 1]
            let keys = values.keys.sorted { (order[$0] ?? 2, $0) < (order[$1] ?? 2, $1) }
            return Node(keys.map { (Node($0), Node.text(values[$0]!)) })
        }
        var pairs: [(Node, Node)] = []
        if !options.requests.isEmpty { pairs.append((Node("requests"), quantities(options.requests))) }
        if !options.limits.isEmpty { pairs.append((Node("limits"), quantities(options.limits))) }
        return pairs
    }

    /// An in-memory emptyDir: the socket is the only file, so 1Mi is far more than enough.
    var volume: Node {
        .map(["name": .text(Self.volumeName), "emptyDir": .map(["medium": "Memory", "sizeLimit": "1Mi"])])
    }

    /// The map's in-memory emptyDir: the 8 MiB map, and a second one during a generation swap.
    var mapVolume: Node {
        .map(["name": .text(Self.mapVolumeName), "emptyDir": .map(["medium": "Memory", "sizeLimit": "20Mi"])])
    }

    /// The application containers' mount: read-only is enough to connect(2) to a socket.
    var applicationMount: Node {
        .map(["name": .text(Self.volumeName), "mountPath": .text(Self.socketDirectory), "readOnly": .boolean(true)])
    }

    /// `<namespace>.svc.<domain> svc.<domain> <domain>`: what kubelet writes for ClusterFirst pods.
    func clusterSearchList(namespace: String) -> [String] {
        ["\(namespace).svc.\(options.clusterDomain)", "svc.\(options.clusterDomain)", options.clusterDomain]
    }
}
