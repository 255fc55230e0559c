import CSQLite

/// An open SQLite database (the embedded inventory), owning its `sqlite3` handle.
public final class SQLiteConnection: SQLConnection {
    public let dialect = SQLDialect.sqlite
    public let path: String
    private var db: OpaquePointer?

    /// Opens (and, with `create`, creates) the database file, with foreign keys enforced.
    public init(path: String, create: Bool = true, busyTimeoutMilliseconds: Int32 = 30_000) throws(DatabaseError) {
        self.path = path
        var handle: OpaquePointer?
        let flags = SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0)
        let rc = sqlite3_open_v2(path, &handle, flags, nil)
        guard rc == SQLITE_OK, let handle else {
            let message = handle.map { String(cString: sqlite3_errmsg($0)) } ?? String(cString: sqlite3_errstr(rc))
            sqlite3_close_v2(handle)
            throw DatabaseError(kind: .connection, message: "cannot open SQLite database '\(path)': \(message)")
        }
        sqlite3_extended_result_codes(handle, 1)
        sqlite3_busy_timeout(handle, busyTimeoutMilliseconds)
        db = handle
        try execute("PRAGMA foreign_keys = ON")
    }

    deinit { close() }

    public func close() {
        if let db { sqlite3_close_v2(db) }
        db = nil
    }

    /// The SQLite library version, e.g. "3.40.1".
    public static var libraryVersion: String { String(cString: sqlite3_libversion()) }

    func lastError(_ rc: Int32, sql: String? = nil) -> DatabaseError {
        let message = db.map { String(cString: sqlite3_errmsg($0)) } ?? String(cString: sqlite3_errstr(rc))
        let extended = db.map { sqlite3_extended_errcode($0) } ?? rc
        return SQLiteConnection.error(code: extended, message: message)
    }

    /// Maps an extended result code and message to a typed error.
    static func error(code: Int32, message: String) -> DatabaseError {
        var kind = DatabaseError.Kind.other
        var constraint: String?
        var table: String?
        var columns: [String] = []
        switch code {
        case 2067: kind = .constraint(.unique)
        case 1555: kind = .constraint(.primaryKey)
        case 787: kind = .constraint(.foreignKey)
        case 1299: kind = .constraint(.notNull)
        case 275: kind = .constraint(.check)
        case SQLITE_BUSY, SQLITE_LOCKED: kind = .busy
        case SQLITE_FULL: kind = .full
        default: if code & 0xff == SQLITE_CONSTRAINT { kind = .constraint(.check) }
        }
        if case .constraint(let c) = kind, let colon = message.firstIndex(of: ":") {
            // "UNIQUE constraint failed: interface.mac, interface.host" or "CHECK constraint failed: host_kind_check"
            let subject = message[message.index(after: colon)...].trimmingPrefix(" ")
            if c == .check {
                constraint = String(subject)
            } else {
                for part in subject.split(separator: ",") {
                    let qualified = part.trimmingPrefix(" ").split(separator: ".", maxSplits: 1)
                    if qualified.count == 2 {
                        table = String(qualified[0])
                        columns.append(String(qualified[1]))
                    }
                }
            }
        }
        return DatabaseError(
            kind: kind, message: message, constraint: constraint, table: table, columns: columns, code: String(code))
    }

    public func execute(_ sql: String) throws(DatabaseError) {
        var errorMessage: UnsafeMutablePointer<CChar>?
        let rc = sqlite3_exec(db, sql, nil, nil, &errorMessage)
        if rc != SQLITE_OK {
            let message = errorMessage.map { String(cString: $0) } ?? String(cString: sqlite3_errstr(rc))
            sqlite3_free(errorMessage)
            throw SQLiteConnection.error(code: db.map { sqlite3_extended_errcode($0) } ?? rc, message: message)
        }
    }

    public func query(_ sql: String, _ parameters: [SQLValue]) throws(DatabaseError) -> [SQLRow] {
        let statement = try SQLiteStatement(connection: self, sql: sql)
        return try statement.rows(parameters)
    }

    public func prepare(_ sql: String) throws(DatabaseError) -> any PreparedStatement {
        try SQLiteStatement(connection: self, sql: sql)
    }

    public func beginExclusive() throws(DatabaseError) {
        try execute("BEGIN IMMEDIATE")
    }

    public var inTransaction: Bool { sqlite3_get_autocommit(db) == 0 }

    /// Rows changed by the last statement.
    var changes: Int { Int(sqlite3_changes(db)) }

    fileprivate var handle: OpaquePointer? { db }
}

/// A prepared SQLite statement, owning its `sqlite3_stmt`.
final class SQLiteStatement: PreparedStatement {
    private let connection: SQLiteConnection
    private var statement: OpaquePointer?
    private let parameterIndexes: [Int32]

    init(connection: SQLiteConnection, sql: String) throws(DatabaseError) {
        self.connection = connection
        var stmt: OpaquePointer?
        let rc = sqlite3_prepare_v2(connection.handle, sql, -1, &stmt, nil)
        guard rc == SQLITE_OK else { throw connection.lastError(rc) }
        statement = stmt
        // `$N` placeholders are named parameters to SQLite: resolve each N to SQLite's own index.
        let count = sqlite3_bind_parameter_count(stmt)
        var indexes: [Int32] = []
        var n: Int32 = 1
        while indexes.count < count {
            let index = sqlite3_bind_parameter_index(stmt, "$\(n)")
            if index == 0 { break }
            indexes.append(index)
            n += 1
        }
        parameterIndexes = indexes
    }

    deinit { sqlite3_finalize(statement) }

    private func bind(_ parameters: [SQLValue]) throws(DatabaseError) {
        sqlite3_reset(statement)
        sqlite3_clear_bindings(statement)
        guard parameters.count >= parameterIndexes.count else {
            throw DatabaseError(
                kind: .usage, message: "statement needs \(parameterIndexes.count) parameters, got \(parameters.count)")
        }
        for (i, index) in parameterIndexes.enumerated() {
            let rc: Int32
            switch parameters[i] {
            case .null: rc = sqlite3_bind_null(statement, index)
            case .integer(let v): rc = sqlite3_bind_int64(statement, index, v)
            case .real(let v): rc = sqlite3_bind_double(statement, index, v)
            case .text(let s): rc = sqlite3_bind_text(statement, index, s, -1, csqlite_transient())
            }
            if rc != SQLITE_OK { throw connection.lastError(rc) }
        }
    }

    @discardableResult
    func run(_ parameters: [SQLValue]) throws(DatabaseError) -> Int {
        try bind(parameters)
        var rc = sqlite3_step(statement)
        while rc == SQLITE_ROW { rc = sqlite3_step(statement) }
        guard rc == SQLITE_DONE else { throw connection.lastError(rc) }
        return connection.changes
    }

    func rows(_ parameters: [SQLValue]) throws(DatabaseError) -> [SQLRow] {
        try bind(parameters)
        let columnCount = sqlite3_column_count(statement)
        let names = (0..<columnCount).map { String(cString: sqlite3_column_name(statement, $0)) }
        var rows: [SQLRow] = []
        while true {
            let rc = sqlite3_step(statement)
            if rc == SQLITE_DONE { break }
            guard rc == SQLITE_ROW else { throw connection.lastError(rc) }
            var values: [SQLValue] = []
            values.reserveCapacity(Int(columnCount))
            for i in 0..<columnCount {
                switch sqlite3_column_type(statement, i) {
                case SQLITE_NULL: values.append(.null)
                case SQLITE_INTEGER: values.append(.integer(sqlite3_column_int64(statement, i)))
                case SQLITE_FLOAT: values.append(.real(sqlite3_column_double(statement, i)))
                default:
                    let count = Int(sqlite3_column_bytes(statement, i))
                    if let p = sqlite3_column_text(statement, i) {
                        values.append(
                            .text(String(decoding: UnsafeBufferPointer(start: p, count: count), as: UTF8.self)))
                    } else {
                        values.append(.text(""))
                    }
                }
            }
            rows.append(SQLRow(columns: names, values: values))
        }
        return rows
    }
}
