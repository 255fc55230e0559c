/// Where an inventory lives: `sqlite:PATH` (embedded) or `postgres://user@host:port/db`.
///
/// A PostgreSQL password never comes from the URL (URLs end up in shell history and `ps`): libpq reads
/// it from `PGPASSWORD` or `~/.pgpass`. A URL that carries one is refused.
public enum DatabaseURL: Sendable, Hashable, CustomStringConvertible {
    case sqlite(path: String)
    case postgres(conninfo: String)

    public static let defaultURL = "sqlite:inventory.db"

    public init(_ text: String) throws(DatabaseError) {
        if text.hasPrefix("sqlite:") {
            var path = String(text.dropFirst("sqlite:".count))
            if path.hasPrefix("//") { path = String(path.dropFirst(2)) }
            guard !path.isEmpty else {
                throw DatabaseError(
                    kind: .usage, message: "'\(text)': a sqlite URL needs a path, e.g. sqlite:inventory.db")
            }
            self = .sqlite(path: path)
        } else if text.hasPrefix("postgres://") || text.hasPrefix("postgresql://") {
            let rest = text.drop { $0 != "/" }.dropFirst(2)
            let authority = rest.prefix { $0 != "/" && $0 != "?" }
            let query = text.split(separator: "?", maxSplits: 1).dropFirst().first ?? ""
            let passwordParameter = query.split(separator: "&").contains { $0.lowercased().hasPrefix("password=") }
            if passwordParameter || authority.lastIndex(of: "@").map({ authority[..<$0].contains(":") }) == true {
                throw DatabaseError(
                    kind: .usage,
                    message: "refusing a password in the database URL: put it in PGPASSWORD or ~/.pgpass instead")
            }
            self = .postgres(conninfo: text)
        } else {
            throw DatabaseError(
                kind: .usage,
                message: "unsupported database URL '\(text)' (expected sqlite:PATH or postgres://USER@HOST:PORT/DB)")
        }
    }

    public var dialect: SQLDialect {
        switch self {
        case .sqlite: return .sqlite
        case .postgres: return .postgres
        }
    }

    public var description: String {
        switch self {
        case .sqlite(let path): return "sqlite:\(path)"
        case .postgres(let conninfo): return conninfo
        }
    }
}
