import Testing

@testable import SidecacheWebhook

/// The diff gives add, remove and replace operations that turn the first document into the second, with RFC 6901
/// escaping; applying it (with the test's own applier) gives the second document back.
struct JSONPatchTests {
    struct DiffCase: CustomTestStringConvertible, Sendable {
        var name: String
        var before: String
        var after: String
        var operations: [JSONPatch.Operation]
        var testDescription: String { name }
    }

    static let cases: [DiffCase] = [
        DiffCase(name: "equal", before: #"{"a": [1, {"b": null}]}"#, after: #"{"a": [1, {"b": null}]}"#, operations: []),
        DiffCase(name: "member added", before: #"{"a": 1}"#, after: #"{"a": 1, "b": {"c": true}}"#,
            operations: [.add(path: "/b", value: .object(["c": .bool(true)]))]),
        DiffCase(name: "member removed", before: #"{"a": 1, "b": 2}"#, after: #"{"a": 1}"#,
            operations: [.remove(path: "/b")]),
        DiffCase(name: "nested replace", before: #"{"a": {"b": "x", "c": 1}}"#, after: #"{"a": {"b": "y", "c": 1}}"#,
            operations: [.replace(path: "/a/b", value: .string("y"))]),
        DiffCase(name: "type change", before: #"{"a": "1"}"#, after: #"{"a": 1}"#,
            operations: [.replace(path: "/a", value: .integer(1))]),
        DiffCase(name: "array changed is replaced whole", before: #"{"l": [1, 2, 3]}"#, after: #"{"l": [0, 1, 2, 3]}"#,
            operations: [.replace(path: "/l", value: .array([.integer(0), .integer(1), .integer(2), .integer(3)]))]),
        DiffCase(name: "array shrunk", before: #"{"l": [{"n": 1}, {"n": 2}]}"#, after: #"{"l": [{"n": 2}]}"#,
            operations: [.replace(path: "/l", value: .array([.object(["n": .integer(2)])]))]),
        DiffCase(name: "escaped keys", before: #"{"m": {}}"#, after: #"{"m": {"a/b": 1, "c~d": 2, "~1": 3}}"#,
            operations: [
                .add(path: "/m/a~1b", value: .integer(1)), .add(path: "/m/c~0d", value: .integer(2)),
                .add(path: "/m/~01", value: .integer(3)),
            ]),
        DiffCase(name: "empty key", before: #"{}"#, after: #"{"": 1}"#, operations: [.add(path: "/", value: .integer(1))]),
        DiffCase(name: "null and false are values", before: #"{"a": null, "b": false}"#, after: #"{"a": false, "b": null}"#,
            operations: [.replace(path: "/a", value: .bool(false)), .replace(path: "/b", value: .null)]),
    ]

    @Test(arguments: cases)
    func diff(_ testCase: DiffCase) throws {
        let before = try JSONValue.parse(Array(testCase.before.utf8))
        let after = try JSONValue.parse(Array(testCase.after.utf8))
        let patch = JSONPatch(from: before, to: after)
        #expect(patch.operations == testCase.operations)
        #expect(try PatchApplier.apply(patch.json, to: before) == after)
    }

    @Test func escaping() throws {
        #expect(JSONPatch.escape("kubectl.kubernetes.io/default-container") == "kubectl.kubernetes.io~1default-container")
        #expect(JSONPatch.escape("~/") == "~0~1")
        #expect(JSONPatch.escape("plain") == "plain")
        #expect(try PatchApplier.pointer("/a~1b/~01") == ["a/b", "~1"])
    }

    /// Integers stay integers, large ones too, and text that looks like a number or a boolean stays text on the way
    /// through the injector's node trees.
    @Test func valuesSurviveTheNodeRoundTrip() throws {
        let text = #"{"i": 9007199254740993, "d": 1.5, "s": "5", "t": "true", "n": null, "b": true, "u": "\u00e9\ud83d\ude00", "e": ""}"#
        let value = try JSONValue.parse(Array(text.utf8))
        #expect(value["i"] == .integer(9_007_199_254_740_993))
        #expect(try JSONValue(node: value.node) == value)
    }
}
