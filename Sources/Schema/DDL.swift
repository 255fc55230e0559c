import Database

/// Writes the DDL for a schema in one dialect. The same schema gives equivalent tables in SQLite and
/// PostgreSQL; see docs/schema.md for the type mapping.
public struct DDLGenerator: Sendable {
    public let dialect: SQLDialect

    public init(dialect: SQLDialect) {
        self.dialect = dialect
    }

    /// Every statement that creates the schema in an empty database, in an order that works.
    public func statements(for schema: DatabaseSchema) -> [String] {
        var out: [String] = []
        for table in schema.tables {
            out.append(createTable(table, foreignKeys: dialect == .sqlite) + ";")
        }
        if dialect == .postgres {
            // Tables may refer to each other in any order (even in cycles): add keys once all exist.
            for table in schema.tables {
                for column in table.columns where column.reference != nil {
                    out.append(addForeignKey(table: table.name, column: column) + ";")
                }
            }
        }
        for table in schema.tables {
            out += createIndexes(table).map { $0 + ";" }
        }
        if dialect == .postgres {
            out += comments(schema).map { $0 + ";" }
        }
        return out
    }

    public func script(for schema: DatabaseSchema) -> String {
        statements(for: schema).joined(separator: "\n\n") + "\n"
    }

    /// `CREATE TABLE`, optionally under another name (for SQLite's table rebuild).
    public func createTable(_ table: Table, as name: String? = nil, foreignKeys: Bool) -> String {
        var lines = table.columns.map { "    " + columnDefinition($0, table: table.name, inlineForeignKey: false) }
        lines.append(
            "    CONSTRAINT \(quoteIdentifier(constraintName(table.name, [], suffix: "pkey"))) PRIMARY KEY (\(list(table.primaryKey)))"
        )
        for column in table.columns where column.unique && table.primaryKey != [column.name] {
            lines.append("    " + uniqueConstraint(table.name, [column.name]))
        }
        for columns in table.uniques {
            lines.append("    " + uniqueConstraint(table.name, columns))
        }
        if foreignKeys {
            for column in table.columns where column.reference != nil {
                lines.append("    " + foreignKeyConstraint(table: table.name, column: column))
            }
        }
        for check in table.checks {
            lines.append("    CONSTRAINT \(quoteIdentifier(check.name)) CHECK (\(check.expression))")
        }
        return "CREATE TABLE \(quoteIdentifier(name ?? table.name)) (\n" + lines.joined(separator: ",\n") + "\n)"
    }

    func uniqueConstraint(_ table: String, _ columns: [String]) -> String {
        "CONSTRAINT \(quoteIdentifier(constraintName(table, columns, suffix: "key"))) UNIQUE (\(list(columns)))"
    }

    func foreignKeyConstraint(table: String, column: Column) -> String {
        let reference = column.reference!
        return
            "CONSTRAINT \(quoteIdentifier(constraintName(table, [column.name], suffix: "fkey"))) FOREIGN KEY (\(quoteIdentifier(column.name))) "
            + "REFERENCES \(quoteIdentifier(reference.table)) (\(quoteIdentifier(reference.column ?? ""))) ON DELETE \(reference.onDelete.sql)"
    }

    public func addForeignKey(table: String, column: Column) -> String {
        "ALTER TABLE \(quoteIdentifier(table)) ADD " + foreignKeyConstraint(table: table, column: column)
    }

    /// A column's definition: type, NOT NULL, DEFAULT and its checks (and, for SQLite's ADD COLUMN, its reference).
    public func columnDefinition(_ column: Column, table: String, inlineForeignKey: Bool) -> String {
        var parts = [quoteIdentifier(column.name), typeName(column)]
        if !column.nullable { parts.append("NOT NULL") }
        if let d = column.defaultValue { parts.append("DEFAULT " + defaultSQL(d)) }
        for (suffix, expression) in columnChecks(column) {
            parts.append(
                "CONSTRAINT \(quoteIdentifier(constraintName(table, [column.name], suffix: suffix))) CHECK (\(expression))"
            )
        }
        if inlineForeignKey, let reference = column.reference {
            parts.append(
                "CONSTRAINT \(quoteIdentifier(constraintName(table, [column.name], suffix: "fkey"))) REFERENCES \(quoteIdentifier(reference.table)) (\(quoteIdentifier(reference.column ?? ""))) ON DELETE \(reference.onDelete.sql)"
            )
        }
        return parts.joined(separator: " ")
    }

    /// The dialect's type for a column.
    public func typeName(_ column: Column) -> String {
        switch dialect {
        case .sqlite:
            // Declared type names that keep SQLite's affinity right (TEXT affinity for text, none converts
            // a well-formed value) while recording the schema type for introspection.
            switch column.type {
            case .text, .enum: return "TEXT"
            case .integer: return "INTEGER"
            case .real: return "REAL"
            case .boolean: return "BOOLEAN"
            case .timestamp: return "TIMESTAMP"
            case .json: return "JSON"
            case .macaddr: return "MACADDR"
            case .inet: return "INET"
            }
        case .postgres:
            switch column.type {
            case .text, .enum: return "text"
            case .integer: return column.generated ? "bigint GENERATED BY DEFAULT AS IDENTITY" : "bigint"
            case .real: return "double precision"
            case .boolean: return "boolean"
            case .timestamp: return "timestamptz"
            case .json: return "jsonb"
            case .macaddr: return "macaddr"
            case .inet: return "inet"
            }
        }
    }

    /// Checks that carry a column's type where the engine has no such type, plus the column's own check.
    func columnChecks(_ column: Column) -> [(String, String)] {
        let name = quoteIdentifier(column.name)
        var checks: [(String, String)] = []
        switch column.type {
        case .enum:
            checks.append(("enum", "\(name) IN (\(column.enumValues.map(quoteLiteral).joined(separator: ", ")))"))
        case .boolean where dialect == .sqlite:
            checks.append(("bool", "\(name) IN (0, 1)"))
        case .json where dialect == .sqlite:
            // SQLite before 3.45 answers json_valid(NULL) with 0, which would refuse NULL in a nullable column.
            checks.append(("json", column.nullable ? "\(name) IS NULL OR json_valid(\(name))" : "json_valid(\(name))"))
        case .macaddr where dialect == .sqlite:
            let octet = "[0-9a-f][0-9a-f]"
            checks.append(("mac", "\(name) GLOB '\(Array(repeating: octet, count: 6).joined(separator: ":"))'"))
        default: break
        }
        if let max = column.maxLength {
            checks.append(("length", "length(\(name)) <= \(max)"))
        }
        if let check = column.check {
            checks.append(("check", check))
        }
        return checks
    }

    public func defaultSQL(_ value: DefaultValue) -> String {
        switch value {
        case .now:
            return dialect == .sqlite ? "(strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))" : "now()"
        case .literal(let literal):
            return literalSQL(literal)
        }
    }

    public func literalSQL(_ literal: SQLLiteral) -> String {
        switch literal {
        case .integer(let i): return String(i)
        case .real(let d): return String(d)
        case .boolean(let b): return dialect == .sqlite ? (b ? "1" : "0") : (b ? "true" : "false")
        case .text(let s): return quoteLiteral(s)
        }
    }

    public func createIndexes(_ table: Table, on name: String? = nil) -> [String] {
        table.indexes.map { index in
            "CREATE \(index.unique ? "UNIQUE " : "")INDEX \(quoteIdentifier(index.name)) ON \(quoteIdentifier(name ?? table.name)) (\(list(index.columns)))"
        }
    }

    func comments(_ schema: DatabaseSchema) -> [String] {
        var out: [String] = []
        for table in schema.tables {
            if let comment = table.comment {
                out.append("COMMENT ON TABLE \(quoteIdentifier(table.name)) IS \(quoteLiteral(comment))")
            }
            for column in table.columns {
                if let comment = column.comment {
                    out.append(
                        "COMMENT ON COLUMN \(quoteIdentifier(table.name)).\(quoteIdentifier(column.name)) IS \(quoteLiteral(comment))"
                    )
                }
            }
        }
        return out
    }

    func list(_ names: [String]) -> String { names.map(quoteIdentifier).joined(separator: ", ") }
}
