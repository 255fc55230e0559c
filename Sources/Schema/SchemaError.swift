import YAML

/// Everything wrong with a schema (or a batch of records), each problem with its file, line and column.
public struct SchemaError: Error, Sendable, CustomStringConvertible {
    public var issues: [YAMLError]

    public init(_ issues: [YAMLError]) {
        self.issues = issues
    }

    public var description: String { issues.map(\.description).joined(separator: "\n") }
}
