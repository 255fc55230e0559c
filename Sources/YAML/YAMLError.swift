/// One problem in a YAML file: where it is, which key path it concerns, and what is wrong.
///
/// Printed as `file:line:column: key.path: message`, the form every Redeye error about input takes.
public struct YAMLError: Error, Sendable, CustomStringConvertible, Equatable {
    public var location: SourceLocation
    /// Dotted key path from the document root, e.g. `tables.host.columns.role`; empty at the root.
    public var path: String
    public var message: String

    public init(location: SourceLocation, path: String, message: String) {
        self.location = location
        self.path = path
        self.message = message
    }

    public var description: String {
        path.isEmpty ? "\(location): \(message)" : "\(location): \(path): \(message)"
    }
}

/// Renders a coding path as `a.b[2].c`.
public func formatPath(_ path: [any CodingKey]) -> String {
    var out = ""
    for key in path {
        if let index = key.intValue, key.stringValue == "Index \(index)" || key.stringValue == "\(index)" {
            out += "[\(index)]"
        } else {
            if !out.isEmpty { out += "." }
            out += key.stringValue
        }
    }
    return out
}
