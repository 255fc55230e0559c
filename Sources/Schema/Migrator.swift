import Database
import Digest
import FoundationEssentials
import Glibc

/// Plans and applies migrations of a live database to a schema.
///
/// `migrate` runs in one transaction that holds the database's write lock (SQLite `BEGIN IMMEDIATE`,
/// a PostgreSQL advisory lock), so two migrations at once run one after the other and the second finds
/// the database up to date.
public struct Migrator: Sendable {
    public var schema: DatabaseSchema
    /// Recorded in `schema_history.applied_by`.
    public var actor: String
    public var clock: @Sendable () -> Date

    /// The advisory lock key PostgreSQL migrations hold ("redeye" in ASCII).
    static let lockKey: Int64 = 0x7265_6465_7965

    public init(schema: DatabaseSchema, actor: String, clock: @escaping @Sendable () -> Date = { Date() }) {
        self.schema = schema
        self.actor = actor
        self.clock = clock
    }

    /// A fingerprint of the schema: the SHA-256 of its DDL in both dialects.
    public var schemaHash: String {
        let text =
            DDLGenerator(dialect: .sqlite).script(for: schema) + "\n--\n"
            + DDLGenerator(dialect: .postgres).script(for: schema)
        return SHA256Hasher.hex(text)
    }

    /// The tables the schema creates, as this database's engine describes them.
    func desiredTables(_ db: any SQLConnection) throws(DatabaseError) -> [String: LiveTable] {
        let statements = DDLGenerator(dialect: db.dialect).statements(for: schema)
        switch db.dialect {
        case .sqlite:
            let scratch = try SQLiteConnection(path: ":memory:")
            defer { scratch.close() }
            try scratch.execute(statements.joined(separator: "\n"))
            return try Introspector.tables(scratch)
        case .postgres:
            // PostgreSQL DDL is transactional: build the schema in a scratch namespace and roll it back.
            try db.execute("BEGIN")
            do {
                let scratch = "redeye_scratch_\(getpid())"
                try db.execute(
                    "CREATE SCHEMA \(quoteIdentifier(scratch)); SET LOCAL search_path TO \(quoteIdentifier(scratch))")
                try db.execute(statements.joined(separator: "\n"))
                let tables = try Introspector.tables(db)
                try db.execute("ROLLBACK")
                return tables
            } catch {
                try? db.execute("ROLLBACK")
                throw error
            }
        }
    }

    /// What a migration would do now, changing nothing.
    public func plan(_ db: any SQLConnection) throws -> MigrationPlan {
        let desired = try desiredTables(db)
        try db.execute("BEGIN")
        defer { try? db.execute("ROLLBACK") }
        return try plan(db, desired: desired)
    }

    func plan(_ db: any SQLConnection, desired: [String: LiveTable]) throws -> MigrationPlan {
        let live = try Introspector.tables(db)
        var planner = Planner(schema: schema, db: db)
        let (changes, statements) = planner.plan(live: live, desired: desired)
        return MigrationPlan(dialect: db.dialect, schemaHash: schemaHash, changes: changes, statements: statements)
    }

    public enum Outcome: Sendable {
        case upToDate(MigrationPlan)
        case applied(MigrationPlan)

        public var plan: MigrationPlan {
            switch self {
            case .upToDate(let p), .applied(let p): return p
            }
        }
    }

    /// Brings the database to the schema in one transaction, or changes nothing.
    /// - Throws: ``MigrationRefused`` when the plan holds changes that are not allowed; `DatabaseError`
    ///   when the database refuses a statement (the transaction is rolled back).
    public func migrate(_ db: any SQLConnection, allowDestructive: Bool = false) throws -> Outcome {
        let started = clock()
        let desired = try desiredTables(db)
        if db.dialect == .sqlite {
            // Must be set outside a transaction; the table rebuild needs it, foreign_key_check replaces it.
            try db.execute("PRAGMA foreign_keys = OFF")
        }
        defer { if db.dialect == .sqlite { try? db.execute("PRAGMA foreign_keys = ON") } }
        return try db.exclusiveTransaction { () throws -> Outcome in
            if let pg = db as? PostgresConnection { try pg.advisoryTransactionLock(Migrator.lockKey) }
            let plan = try plan(db, desired: desired)
            if plan.isUpToDate { return .upToDate(plan) }
            let refused = plan.refused(allowDestructive: allowDestructive)
            if !refused.isEmpty { throw MigrationRefused(refused: refused, plan: plan) }
            for statement in plan.statements {
                do {
                    try db.execute(statement)
                } catch let error as DatabaseError {
                    throw MigrationFailed(statement: statement, error: error)
                }
            }
            if db.dialect == .sqlite {
                let violations = try db.query("SELECT \"table\", rowid, parent FROM pragma_foreign_key_check")
                if let first = violations.first {
                    throw MigrationFailed(
                        statement: "PRAGMA foreign_key_check",
                        error: DatabaseError(
                            kind: .constraint(.foreignKey),
                            message:
                                "\(violations.count) rows would refer to missing rows (first: \(first.string("table") ?? "?") row \(first.string("rowid") ?? "?") → \(first.string("parent") ?? "?"))"
                        ))
                }
            }
            let planJSON = String(decoding: try JSONEncoder().encode(plan.changes), as: UTF8.self)
            let elapsed = Int(clock().timeIntervalSince(started) * 1000)
            _ = try db.query(
                "INSERT INTO schema_history (schema_hash, applied_by, steps, plan, duration_ms) VALUES ($1, $2, $3, $4, $5)",
                [
                    .text(plan.schemaHash), .text(actor), .integer(Int64(plan.changes.count)), .text(planJSON),
                    .integer(Int64(elapsed)),
                ])
            return .applied(plan)
        }
    }
}

/// A statement of a migration that the database refused; the whole migration was rolled back.
public struct MigrationFailed: Error, Sendable, CustomStringConvertible {
    public var statement: String
    public var error: DatabaseError

    public var description: String {
        "migration failed and was rolled back; nothing was changed.\n  statement: \(statement.split(separator: "\n").first ?? "")\n  error: \(error)"
    }
}
