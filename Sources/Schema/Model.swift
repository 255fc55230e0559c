import YAML

/// The column types of the schema language; each maps to one type per dialect.
public enum ColumnType: String, YAMLChoice, Sendable, Hashable, Codable {
    case text, integer, real, boolean, timestamp, json, macaddr, inet
    case `enum`
}

/// What happens to referencing rows when the referenced row is deleted.
public enum OnDelete: String, YAMLChoice, Sendable, Hashable, Codable {
    case restrict, cascade
    case setNull = "set_null"
    case noAction = "no_action"

    var sql: String {
        switch self {
        case .restrict: return "RESTRICT"
        case .cascade: return "CASCADE"
        case .setNull: return "SET NULL"
        case .noAction: return "NO ACTION"
        }
    }
}

/// A column default, already checked against the column's type.
public enum DefaultValue: Sendable, Hashable {
    case literal(SQLLiteral)
    /// The time of insertion (`default: now` on a timestamp).
    case now
}

/// A constant that can be written into DDL.
public enum SQLLiteral: Sendable, Hashable {
    case integer(Int64)
    case real(Double)
    case boolean(Bool)
    case text(String)
}

/// A reference from a column to another table's key (or unique columns).
public struct Reference: Sendable, Hashable {
    public var table: String
    /// The referenced column; nil until resolved to the referenced table's key.
    public var column: String?
    public var onDelete: OnDelete
}

public struct Column: Sendable {
    public var name: String
    public var type: ColumnType
    public var nullable: Bool
    public var defaultValue: DefaultValue?
    public var unique: Bool
    public var reference: Reference?
    public var enumValues: [String]
    public var maxLength: Int?
    /// An SQL boolean expression every value must satisfy.
    public var check: String?
    public var comment: String?
    public var renamedFrom: [String]
    /// An integer key the database numbers itself.
    public var generated: Bool
    public var location: SourceLocation?
}

public struct Index: Sendable, Hashable {
    public var name: String
    public var columns: [String]
    public var unique: Bool
    public var location: SourceLocation?
}

public struct Check: Sendable, Hashable {
    public var name: String
    public var expression: String
    public var location: SourceLocation?
}

public struct Table: Sendable {
    public var name: String
    public var comment: String?
    public var columns: [Column]
    public var primaryKey: [String]
    public var uniques: [[String]]
    public var indexes: [Index]
    public var checks: [Check]
    public var renamedFrom: [String]
    public var location: SourceLocation?

    public func column(_ name: String) -> Column? { columns.first { $0.name == name } }
}

/// A whole inventory schema, merged from every file of a schema directory.
public struct DatabaseSchema: Sendable {
    public var tables: [Table]

    public init(tables: [Table]) {
        self.tables = tables
    }

    public func table(_ name: String) -> Table? { tables.first { $0.name == name } }
}
