import CLibPQ

/// An open PostgreSQL connection (a fleet's shared inventory), owning its libpq `PGconn`.
///
/// Passwords come from `PGPASSWORD` or `~/.pgpass`, read by libpq itself.
public final class PostgresConnection: SQLConnection {
    public let dialect = SQLDialect.postgres
    private var conn: OpaquePointer?
    private var preparedCount = 0

    public init(conninfo: String) throws(DatabaseError) {
        guard let c = PQconnectdb(conninfo) else {
            throw DatabaseError(kind: .connection, message: "cannot allocate a PostgreSQL connection")
        }
        guard PQstatus(c) == CONNECTION_OK else {
            let message = String(cString: PQerrorMessage(c)).trimmingSuffixWhitespace()
            PQfinish(c)
            throw DatabaseError(kind: .connection, message: "cannot connect to PostgreSQL: \(message)")
        }
        // Server NOTICEs ("table does not exist, skipping") would go to stderr: drop them.
        PQsetNoticeReceiver(c, { _, _ in }, nil)
        conn = c
        // UTC and ISO dates, so timestamps read back the same on every client.
        try execute("SET client_min_messages = warning; SET TIME ZONE 'UTC'; SET DateStyle = 'ISO'")
    }

    deinit { close() }

    public func close() {
        if let conn { PQfinish(conn) }
        conn = nil
    }

    /// The server's version number, e.g. 150018.
    public var serverVersion: Int { Int(PQserverVersion(conn)) }

    func error(from result: OpaquePointer?) -> DatabaseError {
        guard let result else {
            return DatabaseError(
                kind: .connection, message: String(cString: PQerrorMessage(conn)).trimmingSuffixWhitespace())
        }
        func field(_ code: Int32) -> String? { PQresultErrorField(result, code).map { String(cString: $0) } }
        let sqlstate = field(CLIBPQ_DIAG_SQLSTATE)
        let message =
            String(cString: PQresultErrorMessage(result)).split(separator: "\n").first.map {
                String($0).replacing("ERROR:  ", with: "")
            } ?? "unknown PostgreSQL error"
        var kind = DatabaseError.Kind.other
        switch sqlstate {
        case "23505": kind = .constraint(.unique)
        case "23503": kind = .constraint(.foreignKey)
        case "23502": kind = .constraint(.notNull)
        case "23514": kind = .constraint(.check)
        case "55P03", "40P01", "40001": kind = .busy
        case "53100": kind = .full
        // Connection exceptions, too many connections, and a server shutting down or starting up.
        case let s? where s.hasPrefix("08") || s == "53300" || s.hasPrefix("57P"): kind = .connection
        default: break
        }
        let column = field(CLIBPQ_DIAG_COLUMN_NAME)
        return DatabaseError(
            kind: kind, message: message, constraint: field(CLIBPQ_DIAG_CONSTRAINT_NAME),
            table: field(CLIBPQ_DIAG_TABLE_NAME), columns: column.map { [$0] } ?? [],
            detail: field(CLIBPQ_DIAG_MESSAGE_DETAIL), code: sqlstate)
    }

    public func execute(_ sql: String) throws(DatabaseError) {
        let result = PQexec(conn, sql)
        defer { PQclear(result) }
        let status = PQresultStatus(result)
        guard status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK else { throw error(from: result) }
    }

    public func query(_ sql: String, _ parameters: [SQLValue]) throws(DatabaseError) -> [SQLRow] {
        let result = withParameters(parameters) { values in
            PQexecParams(conn, sql, Int32(parameters.count), nil, values, nil, nil, 0)
        }
        defer { PQclear(result) }
        return try rows(result)
    }

    public func prepare(_ sql: String) throws(DatabaseError) -> any PreparedStatement {
        preparedCount += 1
        let name = "redeye_\(preparedCount)"
        let result = PQprepare(conn, name, sql, 0, nil)
        defer { PQclear(result) }
        guard PQresultStatus(result) == PGRES_COMMAND_OK else { throw error(from: result) }
        return PostgresStatement(connection: self, name: name)
    }

    public var inTransaction: Bool { PQtransactionStatus(conn) != PQTRANS_IDLE }

    public func beginExclusive() throws(DatabaseError) {
        try execute("BEGIN")
    }

    /// Takes a transaction-scoped advisory lock: a second holder waits until the first commits.
    public func advisoryTransactionLock(_ key: Int64) throws(DatabaseError) {
        _ = try query("SELECT pg_advisory_xact_lock($1)", [.integer(key)])
    }

    /// Streams rows into `COPY table (columns) FROM STDIN` in text format, the fastest bulk path.
    public func copyIn(table: String, columns: [String], rows: [[SQLValue]]) throws(DatabaseError) {
        let sql = "COPY \(quoteIdentifier(table)) (\(columns.map(quoteIdentifier).joined(separator: ", "))) FROM STDIN"
        let start = PQexec(conn, sql)
        let status = PQresultStatus(start)
        guard status == PGRES_COPY_IN else {
            defer { PQclear(start) }
            throw error(from: start)
        }
        PQclear(start)
        var buffer: [UInt8] = []
        buffer.reserveCapacity(1 << 20)
        func flush() -> Bool {
            defer { buffer.removeAll(keepingCapacity: true) }
            return buffer.withUnsafeBufferPointer { p in
                p.withMemoryRebound(to: CChar.self) { PQputCopyData(conn, $0.baseAddress, Int32($0.count)) == 1 }
            }
        }
        var ok = true
        for row in rows {
            for (i, value) in row.enumerated() {
                if i > 0 { buffer.append(9) }
                switch value {
                case .null: buffer += [92, 78]  // \N
                case .integer(let v): buffer += Array(String(v).utf8)
                case .real(let v): buffer += Array(String(v).utf8)
                case .text(let s):
                    for byte in s.utf8 {
                        switch byte {
                        case 92: buffer += [92, 92]
                        case 10: buffer += [92, 110]
                        case 13: buffer += [92, 114]
                        case 9: buffer += [92, 116]
                        default: buffer.append(byte)
                        }
                    }
                }
            }
            buffer.append(10)
            if buffer.count > 1 << 20 {
                ok = flush()
                if !ok { break }
            }
        }
        if ok && !buffer.isEmpty { ok = flush() }
        _ = PQputCopyEnd(conn, ok ? nil : "client error")
        var failure: DatabaseError?
        while let result = PQgetResult(conn) {
            if PQresultStatus(result) != PGRES_COMMAND_OK, failure == nil { failure = error(from: result) }
            PQclear(result)
        }
        if let failure { throw failure }
    }

    fileprivate func withParameters<R>(_ parameters: [SQLValue], _ body: ([UnsafePointer<CChar>?]) -> R) -> R {
        // libpq wants one C string per parameter for the duration of the call: pack them all, NUL-terminated,
        // into one buffer and hand out pointers into it while it is pinned.
        var bytes: [CChar] = []
        var offsets: [Int?] = []
        for value in parameters {
            guard let text = value.text else {
                offsets.append(nil)
                continue
            }
            offsets.append(bytes.count)
            bytes.append(contentsOf: text.utf8CString)
        }
        return bytes.withUnsafeBufferPointer { buffer in
            body(offsets.map { offset in offset.map { buffer.baseAddress! + $0 } })
        }
    }

    fileprivate func rows(_ result: OpaquePointer?) throws(DatabaseError) -> [SQLRow] {
        let status = PQresultStatus(result)
        guard status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK else { throw error(from: result) }
        let columnCount = PQnfields(result)
        let names = (0..<columnCount).map { String(cString: PQfname(result, $0)) }
        let types = (0..<columnCount).map { PQftype(result, $0) }
        var rows: [SQLRow] = []
        let rowCount = PQntuples(result)
        rows.reserveCapacity(Int(rowCount))
        for r in 0..<rowCount {
            var values: [SQLValue] = []
            for c in 0..<columnCount {
                if PQgetisnull(result, r, c) == 1 {
                    values.append(.null)
                    continue
                }
                let text = String(cString: PQgetvalue(result, r, c))
                switch types[Int(c)] {
                case 20, 21, 23: values.append(Int64(text).map(SQLValue.integer) ?? .text(text))
                case 700, 701: values.append(Double(text).map(SQLValue.real) ?? .text(text))
                case 16: values.append(.integer(text == "t" ? 1 : 0))
                default: values.append(.text(text))
                }
            }
            rows.append(SQLRow(columns: names, values: values))
        }
        return rows
    }

    fileprivate var handle: OpaquePointer? { conn }
}

final class PostgresStatement: PreparedStatement {
    private let connection: PostgresConnection
    private let name: String

    init(connection: PostgresConnection, name: String) {
        self.connection = connection
        self.name = name
    }

    @discardableResult
    func run(_ parameters: [SQLValue]) throws(DatabaseError) -> Int {
        let result = connection.withParameters(parameters) { values in
            PQexecPrepared(connection.handle, name, Int32(parameters.count), values, nil, nil, 0)
        }
        defer { PQclear(result) }
        guard PQresultStatus(result) == PGRES_COMMAND_OK || PQresultStatus(result) == PGRES_TUPLES_OK else {
            throw connection.error(from: result)
        }
        return Int(String(cString: PQcmdTuples(result))) ?? 0
    }
}

extension String {
    func trimmingSuffixWhitespace() -> String {
        var s = Substring(self)
        while let last = s.last, last.isWhitespace { s = s.dropLast() }
        return String(s)
    }
}
