import DNSWire

/// Name literals for tests. The product has no such conformance: `DNSName("x")` with a literal would
/// otherwise pick this trapping initializer over the throwing parser.
extension DNSName: ExpressibleByStringLiteral {
    public init(stringLiteral value: String) {
        do {
            try self.init(value)
        } catch {
            preconditionFailure("invalid DNS name literal \(value): \(error)")
        }
    }
}
