import SidecacheWebhook

/// Applies an RFC 6902 patch (add, replace, remove; the operations the webhook writes) to a document, independently
/// of `JSONPatch`'s diff, so a test can check that the patch does what the webhook meant: the pod after the patch is
/// the injected pod. JSON Pointer tokens are unescaped as RFC 6901 §4 says: `~1` to `/`, then `~0` to `~`.
enum PatchApplier {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    static func apply(_ patch: JSONValue, to document: JSONValue) throws -> JSONValue {
        guard let operations = patch.array else { throw Failure(description: "a patch is a JSON array") }
        var result = document
        for operation in operations {
            guard let op = operation["op"]?.string, let path = operation["path"]?.string else {
                throw Failure(description: "an operation without op or path: \(operation)")
            }
            let tokens = try pointer(path)
            switch op {
            case "add", "replace":
                guard let value = operation["value"] else { throw Failure(description: "\(op) \(path) without a value") }
                result = try set(result, tokens[...], value, replacing: op == "replace")
            case "remove":
                result = try remove(result, tokens[...])
            default:
                throw Failure(description: "unexpected op \(op)")
            }
        }
        return result
    }

    static func pointer(_ path: String) throws -> [String] {
        if path.isEmpty { return [] }
        guard path.hasPrefix("/") else { throw Failure(description: "pointer \(path) does not start with /") }
        return path.dropFirst().split(separator: "/", omittingEmptySubsequences: false).map { token in
            String(token).replacing("~1", with: "/").replacing("~0", with: "~")
        }
    }

    private static func set(_ node: JSONValue, _ tokens: ArraySlice<String>, _ value: JSONValue, replacing: Bool) throws -> JSONValue {
        guard let token = tokens.first else { return value }
        let last = tokens.count == 1
        switch node {
        case .object(var members):
            if last {
                if replacing && members[token] == nil { throw Failure(description: "replace of missing member \(token)") }
                members[token] = value
            } else {
                guard let child = members[token] else { throw Failure(description: "no member \(token)") }
                members[token] = try set(child, tokens.dropFirst(), value, replacing: replacing)
            }
            return .object(members)
        case .array(var elements):
            if last && token == "-" && !replacing {
                elements.append(value)
                return .array(elements)
            }
            guard let index = Int(token), index >= 0, index <= elements.count else {
                throw Failure(description: "bad array index \(token)")
            }
            if last {
                if replacing {
                    guard index < elements.count else { throw Failure(description: "replace past the end") }
                    elements[index] = value
                } else {
                    elements.insert(value, at: index)
                }
            } else {
                guard index < elements.count else { throw Failure(description: "index \(index) past the end") }
                elements[index] = try set(elements[index], tokens.dropFirst(), value, replacing: replacing)
            }
            return .array(elements)
        default:
            throw Failure(description: "cannot descend into a scalar at \(token)")
        }
    }

    private static func remove(_ node: JSONValue, _ tokens: ArraySlice<String>) throws -> JSONValue {
        guard let token = tokens.first else { throw Failure(description: "cannot remove the root") }
        switch node {
        case .object(var members):
            guard let child = members[token] else { throw Failure(description: "remove of missing member \(token)") }
            members[token] = tokens.count == 1 ? nil : try remove(child, tokens.dropFirst())
            return .object(members)
        case .array(var elements):
            guard let index = Int(token), elements.indices.contains(index) else {
                throw Failure(description: "bad array index \(token)")
            }
            if tokens.count == 1 {
                elements.remove(at: index)
            } else {
                elements[index] = try remove(elements[index], tokens.dropFirst())
            }
            return .array(elements)
        default:
            throw Failure(description: "cannot descend into a scalar at \(token)")
        }
    }
}
