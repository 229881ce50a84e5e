import Yams

/// The injector edits Yams node trees; the webhook holds JSON. Each JSON scalar becomes a node with an explicit tag,
/// so nothing is guessed on the way in; on the way out quoted text is a string and any other scalar is what its
/// tag (explicit, or resolved as YAML would) says: the injector writes `Tag(.int)` and `Tag(.bool)` for numbers and
/// booleans, and quoted or plainly untyped text for strings.
extension JSONValue {
    var node: Node {
        switch self {
        case .null: return Node("null", Tag(.null), .plain)
        case .bool(let value): return Node(value ? "true" : "false", Tag(.bool), .plain)
        case .integer(let value): return Node(String(value), Tag(.int), .plain)
        case .double(let value): return Node(String(value), Tag(.float), .plain)
        case .string(let value): return Node(value, Tag(.str), .doubleQuoted)
        case .array(let values): return Node(values.map(\.node))
        case .object(let members):
            // Sorted, so the injector's "append" edits land in a deterministic place.
            return Node(members.sorted { $0.key < $1.key }.map { (Node($0.key, Tag(.str), .doubleQuoted), $0.value.node) })
        }
    }

    /// The JSON for a node the injector produced or kept. Throws for what JSON cannot hold (aliases, non-string
    /// keys, a tag the injector never writes).
    init(node: Node) throws {
        switch node {
        case .scalar(let scalar):
            // Quoted text is a string whatever it reads like (the injector quotes "true" and "53" so they stay
            // strings); `node.tag` would resolve an implicit tag from the text alone.
            if scalar.style != .plain {
                self = .string(scalar.string)
                return
            }
            let tag = node.tag
            if tag == Tag(.str) {
                self = .string(scalar.string)
            } else if tag == Tag(.null) {
                self = .null
            } else if tag == Tag(.bool), let value = node.bool {
                self = .bool(value)
            } else if tag == Tag(.int), let value = Int64(scalar.string) {
                self = .integer(value)
            } else if tag == Tag(.float), let value = node.float {
                self = .double(value)
            } else {
                throw WebhookError(.internalFailure, "cannot write \(scalar.string) (\(tag)) as JSON")
            }
        case .sequence(let sequence):
            self = .array(try sequence.map(JSONValue.init(node:)))
        case .mapping(let mapping):
            var members: [String: JSONValue] = [:]
            for (key, value) in mapping {
                guard case .scalar(let keyScalar) = key else {
                    throw WebhookError(.internalFailure, "a mapping key that is not a string cannot be written as JSON")
                }
                members[keyScalar.string] = try JSONValue(node: value)
            }
            self = .object(members)
        case .alias:
            throw WebhookError(.internalFailure, "a YAML alias cannot be written as JSON")
        }
    }
}
