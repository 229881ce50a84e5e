/// An RFC 6902 JSON Patch, computed as the difference of two documents: what turns the pod the API server sent into
/// the injected pod.
///
/// Objects are compared member by member (`add` for a new member, `remove` for a dropped one, recursion into
/// members present in both); a changed array, or a value whose type changed, is replaced whole. Replacing an array
/// is always correct, and keeps the patch free of index arithmetic that a reordered list (the sidecar inserted
/// first) would make fragile.
public struct JSONPatch: Equatable, Sendable {
    public enum Operation: Equatable, Sendable {
        case add(path: String, value: JSONValue)
        case replace(path: String, value: JSONValue)
        case remove(path: String)
    }

    public var operations: [Operation]

    public init(operations: [Operation]) { self.operations = operations }

    public init(from before: JSONValue, to after: JSONValue) {
        var operations: [Operation] = []
        Self.diff(before, after, at: "", into: &operations)
        self.operations = operations
    }

    public var isEmpty: Bool { operations.isEmpty }

    /// The patch as the JSON array the API server expects.
    public var json: JSONValue {
        .array(operations.map { operation in
            switch operation {
            case .add(let path, let value): return .object(["op": .string("add"), "path": .string(path), "value": value])
            case .replace(let path, let value):
                return .object(["op": .string("replace"), "path": .string(path), "value": value])
            case .remove(let path): return .object(["op": .string("remove"), "path": .string(path)])
            }
        })
    }

    /// One reference token of an RFC 6901 JSON Pointer: `~` is written `~0` and `/` is written `~1`. Annotation keys such as `kubectl.kubernetes.io/...` need it.
    public static func escape(_ token: String) -> String {
        var escaped = ""
        for character in token {
            switch character {
            case "~": escaped += "~0"
            case "/": escaped += "~1"
            default: escaped.append(character)
            }
        }
        return escaped
    }

    private static func diff(_ before: JSONValue, _ after: JSONValue, at path: String, into operations: inout [Operation]) {
        if before == after { return }
        guard case .object(let old) = before, case .object(let new) = after else {
            // The root itself is never replaced by the injector; a whole-document replace would still be valid.
            operations.append(.replace(path: path, value: after))
            return
        }
        for key in old.keys.sorted() where new[key] == nil {
            operations.append(.remove(path: path + "/" + escape(key)))
        }
        for key in new.keys.sorted() {
            let child = path + "/" + escape(key)
            if let previous = old[key] {
                diff(previous, new[key]!, at: child, into: &operations)
            } else {
                operations.append(.add(path: child, value: new[key]!))
            }
        }
    }
}
