import Database
import Failures

/// One difference between the schema files and the live database, and how safe it is to apply.
public struct SchemaChange: Sendable, Hashable, Encodable {
    public enum Safety: String, Sendable, Hashable, Encodable {
        /// Adds or widens: no row loses anything.
        case safe
        /// Drops or narrows: applied only with `--allow-destructive`.
        case destructive
        /// Existing rows contradict the new rule (NULLs, duplicates, orphans, failing checks): never applied
        /// until the data is fixed.
        case conflict
    }

    public var table: String
    /// What changes, e.g. `add column serial (text, null)`.
    public var change: String
    public var safety: Safety
    /// Rows the change would touch (dropped values, conflicting rows), when counted.
    public var rows: Int?
    /// Why it is not safe, in words.
    public var reason: String?
    /// What would make a conflicting change applicable.
    public var hint: String?

    public var summary: String {
        var s = "\(table): \(change)"
        if safety != .safe {
            s += " [\(safety.rawValue)"
            if let reason { s += ": \(reason)" }
            s += "]"
        }
        return s
    }
}

/// What a migration would do: the changes in words and the SQL that makes them, in order.
public struct MigrationPlan: Sendable, Encodable {
    public var dialect: SQLDialect
    public var schemaHash: String
    public var changes: [SchemaChange]
    public var statements: [String]

    public var isUpToDate: Bool { changes.isEmpty }

    /// Changes that `migrate` will not apply: conflicts always, destructive ones unless allowed.
    public func refused(allowDestructive: Bool) -> [SchemaChange] {
        changes.filter { $0.safety == .conflict || ($0.safety == .destructive && !allowDestructive) }
    }

    enum CodingKeys: String, CodingKey {
        case dialect, schemaHash = "schema_hash", upToDate = "up_to_date", changes, statements = "sql"
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(dialect.rawValue, forKey: .dialect)
        try c.encode(schemaHash, forKey: .schemaHash)
        try c.encode(isUpToDate, forKey: .upToDate)
        try c.encode(changes, forKey: .changes)
        try c.encode(statements, forKey: .statements)
    }

    /// The plan as an operator reads it.
    public var text: String {
        if isUpToDate { return "up to date (schema \(schemaHash.prefix(12)))\n" }
        var out = "\(changes.count) change\(changes.count == 1 ? "" : "s") (schema \(schemaHash.prefix(12))):\n"
        for change in changes {
            let mark: String
            switch change.safety {
            case .safe: mark = "+"
            case .destructive: mark = "!"
            case .conflict: mark = "x"
            }
            out += "  \(mark) \(change.summary)\n"
        }
        out += "\nSQL:\n"
        for statement in statements {
            out += statement.split(separator: "\n", omittingEmptySubsequences: false).map { "  " + $0 }.joined(
                separator: "\n")
            out += ";\n"
        }
        return out
    }
}

/// Raised when a migration holds changes that were not allowed: names each one and what it touches.
public struct MigrationRefused: ClassifiedError, Sendable {
    public var failureKind: FailureKind { .refused }
    public var refused: [SchemaChange]
    public var plan: MigrationPlan

    public var description: String {
        var lines = [
            "refusing to migrate: \(refused.count) change\(refused.count == 1 ? "" : "s") would lose or contradict data; nothing was changed"
        ]
        for change in refused { lines.append("  \(change.summary)") }
        if refused.contains(where: { $0.safety == .destructive }) {
            lines.append("pass --allow-destructive to apply destructive changes")
        }
        for hint in Set(refused.compactMap(\.hint)).sorted() { lines.append(hint) }
        return lines.joined(separator: "\n")
    }
}
