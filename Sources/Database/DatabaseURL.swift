import Text

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
            // Keys as libpq reads them: percent-decoded (`pass%77ord=` is `password=`).
            let passwordParameter = query.split(separator: "&").contains { pair in
                let key = percentDecoded(pair.prefix { $0 != "=" }).lowercased()
                return key.trimmed(in: " \t") == "password"
            }
            let userInfo = authority.lastIndex(of: "@").map { percentDecoded(authority[..<$0]) }
            if passwordParameter || userInfo?.contains(":") == true {
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

/// `text` with its %XX escapes decoded (as UTF-8; a malformed escape is kept as it is).
func percentDecoded(_ text: Substring) -> String {
    var bytes: [UInt8] = []
    var utf8 = Array(text.utf8)[...]
    while let byte = utf8.popFirst() {
        if byte == UInt8(ascii: "%"), utf8.count >= 2,
            let value = UInt8(String(decoding: utf8.prefix(2), as: UTF8.self), radix: 16)
        {
            bytes.append(value)
            utf8 = utf8.dropFirst(2)
        } else {
            bytes.append(byte)
        }
    }
    return String(decoding: bytes, as: UTF8.self)
}
