import YAML

/// One problem in a plans tree, located.
public struct PlanIssue: Error, Sendable, CustomStringConvertible, Hashable {
    public var location: SourceLocation?
    public var path: String
    public var message: String

    public init(_ location: SourceLocation?, _ message: String, path: String = "") {
        self.location = location
        self.message = message
        self.path = path
    }

    public var description: String {
        let place = location.map { "\($0): " } ?? ""
        return path.isEmpty ? place + message : place + path + ": " + message
    }
}

/// Everything wrong with a plans tree, reported at once.
public struct PlanError: Error, Sendable, CustomStringConvertible {
    public var issues: [PlanIssue]

    public init(_ issues: [PlanIssue]) {
        self.issues = issues
    }

    public var description: String { issues.map(\.description).joined(separator: "\n") }
}
