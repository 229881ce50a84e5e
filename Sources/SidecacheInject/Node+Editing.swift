import Yams

/// Small helpers for reading and editing Yams node trees in place. Editing the composed tree (rather than decoding
/// into Kubernetes types) keeps every field inject does not own exactly as it was: order, quoting, unknown fields.
extension Node {
    /// A string scalar. Values a YAML 1.1 reader (Kubernetes' sigs.k8s.io/yaml) would take for a number, a boolean or
    /// null are double-quoted, so they stay strings.
    static func text(_ value: String) -> Node {
        Node(value, .implicit, looksUntyped(value) ? .plain : .doubleQuoted)
    }

    /// An integer scalar.
    static func number(_ value: Int) -> Node { Node(String(value), Tag(.int), .plain) }

    static func boolean(_ value: Bool) -> Node { Node(value ? "true" : "false", Tag(.bool), .plain) }

    /// A mapping with keys in the order given.
    static func map(_ pairs: KeyValuePairs<String, Node>) -> Node {
        Node(pairs.map { (Node($0.key), $0.value) })
    }

    static func list(_ nodes: [Node]) -> Node { Node(nodes) }

    /// True when `value` reads back as a plain string under YAML 1.1 and 1.2 alike.
    private static func looksUntyped(_ value: String) -> Bool {
        let lowered = value.lowercased()
        let special: Set<String> = ["", "~", "null", "true", "false", "yes", "no", "on", "off", "y", "n"]
        if special.contains(lowered) { return false }
        if let first = value.unicodeScalars.first, "0123456789+-.".unicodeScalars.contains(first) { return false }
        return true
    }

    /// The scalar's text, or nil for anything else (including null).
    var scalarText: String? {
        guard case .scalar(let scalar) = self, !isNull else { return nil }
        return scalar.string
    }

    /// An explicit or empty null (`key:`, `key: null`, `key: ~`).
    var isNull: Bool {
        guard case .scalar(let scalar) = self else { return false }
        return scalar.style == .plain && ["", "~", "null", "Null", "NULL"].contains(scalar.string)
    }

    /// A short description of the node's kind for error messages.
    var shapeName: String {
        switch self {
        case .scalar: return isNull ? "null" : "a scalar"
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .alias: return "an alias"
        }
    }
}

extension Node.Mapping {
    /// The mapping under `key`: nil when absent or null; an error when it is something else.
    func mapping(_ key: String, at path: String) throws -> Node.Mapping? {
        guard let value = self[key], !value.isNull else { return nil }
        guard case .mapping(let mapping) = value else {
            throw InjectError(.malformedPodSpec, "\(path).\(key) is \(value.shapeName), not a mapping")
        }
        return mapping
    }

    /// The list under `key`: nil when absent or null; an error when it is something else.
    func sequence(_ key: String, at path: String) throws -> Node.Sequence? {
        guard let value = self[key], !value.isNull else { return nil }
        guard case .sequence(let sequence) = value else {
            throw InjectError(.malformedPodSpec, "\(path).\(key) is \(value.shapeName), not a list")
        }
        return sequence
    }

    /// Edits the mapping under `key` in place, creating an empty one when it is absent or null.
    mutating func editMapping<Result>(
        _ key: String, at path: String, _ body: (inout Node.Mapping) throws -> Result
    ) throws -> Result {
        var child = try mapping(key, at: path) ?? Node.Mapping([])
        let result = try body(&child)
        self[key] = .mapping(child)
        return result
    }

    /// Edits the list under `key` in place, creating an empty one when it is absent or null.
    mutating func editSequence<Result>(
        _ key: String, at path: String, _ body: (inout Node.Sequence) throws -> Result
    ) throws -> Result {
        var child = try sequence(key, at: path) ?? Node.Sequence([])
        let result = try body(&child)
        self[key] = .sequence(child)
        return result
    }

    /// The string under `key`, or nil when absent, null or not a scalar.
    func text(_ key: String) -> String? { self[key]?.scalarText }
}

extension Node.Sequence {
    /// The index of the mapping element whose `name` is `name`.
    func index(named name: String) -> Int? {
        firstIndex { $0.mapping?.text("name") == name }
    }
}
