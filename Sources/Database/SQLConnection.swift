/// One open connection to an inventory database.
///
/// Connections are not thread-safe: use each from one task at a time. Placeholders are `$1`, `$2`, …
/// in both dialects.
public protocol SQLConnection: AnyObject {
    var dialect: SQLDialect { get }

    /// Runs one or more statements that return no rows.
    func execute(_ sql: String) throws(DatabaseError)

    /// Runs one statement with bound parameters and returns its rows.
    func query(_ sql: String, _ parameters: [SQLValue]) throws(DatabaseError) -> [SQLRow]

    /// Prepares a statement to run many times (bulk writes).
    func prepare(_ sql: String) throws(DatabaseError) -> any PreparedStatement

    /// Starts a transaction that holds the database's write lock, so two writers are serialized.
    func beginExclusive() throws(DatabaseError)

    /// Whether a transaction is open on this connection.
    var inTransaction: Bool { get }

    func close()
}

public protocol PreparedStatement: AnyObject {
    /// Runs the statement once with these parameters; returns the number of rows changed.
    @discardableResult
    func run(_ parameters: [SQLValue]) throws(DatabaseError) -> Int
}

extension SQLConnection {
    public func query(_ sql: String) throws(DatabaseError) -> [SQLRow] {
        try query(sql, [])
    }

    /// Runs `body` in one transaction that holds the write lock: committed if it returns, rolled back if it throws.
    /// Inside a transaction already, `body` runs in a savepoint of it: one logical record written by several
    /// writers (each with its own transaction) is still one transaction.
    public func exclusiveTransaction<T>(_ body: () throws -> T) throws -> T {
        if inTransaction {
            try execute("SAVEPOINT redeye_nested")
            do {
                let result = try body()
                try execute("RELEASE SAVEPOINT redeye_nested")
                return result
            } catch {
                try? execute("ROLLBACK TO SAVEPOINT redeye_nested")
                try? execute("RELEASE SAVEPOINT redeye_nested")
                throw error
            }
        }
        try beginExclusive()
        do {
            let result = try body()
            try execute("COMMIT")
            return result
        } catch {
            try? execute("ROLLBACK")
            throw error
        }
    }
}

/// Opens the database a URL names.
/// - Parameter create: for SQLite, create the file when missing (read-only commands pass false).
public func openDatabase(_ url: DatabaseURL, create: Bool = true) throws(DatabaseError) -> any SQLConnection {
    switch url {
    case .sqlite(let path): return try SQLiteConnection(path: path, create: create)
    case .postgres(let conninfo): return try PostgresConnection(conninfo: conninfo)
    }
}
