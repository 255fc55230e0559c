/// An error from a database engine, with what the engine said.
public struct DatabaseError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable, Hashable {
        /// Could not open or connect.
        case connection
        /// A constraint refused a write.
        case constraint(ConstraintKind)
        /// Another writer holds the lock and the wait ran out.
        case busy
        /// The disk or the database is full.
        case full
        /// The URL or the request was refused before reaching the engine.
        case usage
        case other
    }

    public enum ConstraintKind: String, Sendable, Hashable {
        case unique, primaryKey = "primary key", foreignKey = "foreign key", notNull = "not null", check
    }

    public var kind: Kind
    /// The engine's own message.
    public var message: String
    /// The constraint's name when the engine reports one (PostgreSQL, and SQLite for named CHECKs).
    public var constraint: String?
    /// Table and columns a constraint failure concerns, when known.
    public var table: String?
    public var columns: [String]
    /// PostgreSQL's DETAIL line, e.g. `Key (mac)=(52:54:00:00:00:01) already exists.`
    public var detail: String?
    /// The SQLSTATE (PostgreSQL) or extended result code (SQLite).
    public var code: String?

    public init(
        kind: Kind, message: String, constraint: String? = nil, table: String? = nil, columns: [String] = [],
        detail: String? = nil, code: String? = nil
    ) {
        self.kind = kind
        self.message = message
        self.constraint = constraint
        self.table = table
        self.columns = columns
        self.detail = detail
        self.code = code
    }

    public var description: String {
        var s = message
        if let detail, !detail.isEmpty { s += " (\(detail))" }
        return s
    }
}
