import Database
import Failures
import FoundationEssentials
import Glibc
import Schema
import YAML

/// An inventory error in words an operator can act on: which record, which rule.
public struct InventoryError: ClassifiedError, Sendable {
    public var failureKind: FailureKind { notFound ? .notFound : .failure }
    public var message: String
    public var location: SourceLocation?
    public var notFound = false

    public init(_ message: String, location: SourceLocation? = nil) {
        self.message = message
        self.location = location
    }

    public var description: String { location.map { "\($0): \(message)" } ?? message }
}

/// A delete that would reach other records (or that they forbid), refused: nothing was changed.
public struct DeletionRefused: ClassifiedError, Sendable {
    public var failureKind: FailureKind { .refused }
    public var message: String
    public var impact: DeletionImpact
    public init(_ message: String, impact: DeletionImpact) {
        self.message = message
        self.impact = impact
    }
    public var description: String { message }
}

/// One record, its values by column name as they are stored.
public struct Record: Sendable {
    public var table: String
    public var values: [(column: String, value: SQLValue)]

    public subscript(_ column: String) -> SQLValue { values.first { $0.column == column }?.value ?? .null }
}

/// Reads and writes inventory records by primary key, through the schema: values are checked and
/// normalized by column type before they reach the database, and constraint failures come back as sentences.
public struct RecordStore {
    public let schema: DatabaseSchema
    public let db: any SQLConnection
    /// Who the writes are for, as the change log records them.
    public let actor: String
    public let changeLog: ChangeLogWriter
    let ddl: DDLGenerator

    public init(
        schema: DatabaseSchema, db: any SQLConnection, actor: String,
        clock: @escaping @Sendable () -> Date = { Date() }
    ) {
        self.schema = schema
        self.db = db
        self.actor = actor
        self.changeLog = ChangeLogWriter(db: db, schema: schema, actor: actor, clock: clock)
        self.ddl = DDLGenerator(dialect: db.dialect)
    }

    /// Whether two stored or given values of `column` read the same (a timestamp or a MAC however written).
    func same(_ a: SQLValue, _ b: SQLValue, _ column: Column?) -> Bool {
        a == b || DisplayValue(a, column: column) == DisplayValue(b, column: column)
    }

    /// The key of a record as the change log and `inventory get` spell it.
    func keyText(_ table: Table, _ record: Record) -> String {
        table.primaryKey.map { record[$0].description }.joined(separator: "/")
    }

    // MARK: lookups

    public func table(_ name: String) throws(InventoryError) -> Table {
        guard let table = schema.table(name) else {
            throw InventoryError(
                "unknown table '\(name)'\(suggestionSuffix(for: name, among: schema.tables.map(\.name)))")
        }
        return table
    }

    func column(_ name: String, of table: Table) throws(InventoryError) -> Column {
        guard let column = table.column(name) else {
            throw InventoryError(
                "table '\(table.name)' has no column '\(name)'\(suggestionSuffix(for: name, among: table.columns.map(\.name)))"
            )
        }
        return column
    }

    /// Converts text (nil for NULL) to the value stored for a column, or says why it does not fit.
    public func value(_ text: String?, for column: Column, in table: Table) throws(InventoryError) -> SQLValue {
        guard let text else {
            if !column.nullable && !column.generated && column.defaultValue == nil {
                throw InventoryError("\(table.name).\(column.name) cannot be null")
            }
            return .null
        }
        if let id = try naturalReference(text, for: column, in: table) { return id }
        let literal: SQLLiteral
        do {
            literal = try ValueNormalizer.value(text, for: column)
        } catch {
            throw InventoryError("\(table.name).\(column.name): \(error.message)")
        }
        switch literal {
        case .integer(let i): return .integer(i)
        case .real(let d): return .real(d)
        case .text(let s): return .text(s)
        case .boolean(let b): return db.dialect == .sqlite ? .integer(b ? 1 : 0) : .text(b ? "true" : "false")
        }
    }

    /// A reference to a record whose key the database numbers, given instead by that record's natural unique
    /// key (`host.rack=fra1/r01`: the rack of site fra1 named r01): the id it names. Nil when the reference is
    /// not of that kind or the text is the id itself.
    func naturalReference(_ text: String, for column: Column, in table: Table) throws(InventoryError) -> SQLValue? {
        guard let ref = column.reference, let target = schema.table(ref.table), let refColumn = ref.column,
            target.column(refColumn)?.generated == true, Int64(text) == nil
        else { return nil }
        let natural = target.uniques.first ?? target.columns.first(where: \.unique).map { [$0.name] }
        guard let natural else {
            throw InventoryError(
                "\(table.name).\(column.name): '\(text)' is not an id of \(target.name), which has no other unique key to name it by"
            )
        }
        let parts = text.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == natural.count else {
            throw InventoryError(
                "\(table.name).\(column.name): '\(text)' is neither an id of \(target.name) nor its \(natural.joined(separator: "/")) (\(natural.count) value\(natural.count == 1 ? "" : "s") joined by /)"
            )
        }
        var values: [SQLValue] = []
        for (name, part) in zip(natural, parts) {
            guard let c = target.column(name) else { return nil }
            values.append(try value(part, for: c, in: target))
        }
        let rows: [SQLRow]
        do {
            rows = try db.query(
                "SELECT \(q(refColumn)) AS id FROM \(q(target.name)) WHERE "
                    + natural.enumerated().map { "\(q($0.element)) = $\($0.offset + 1)" }.joined(separator: " AND "),
                values)
        } catch {
            throw InventoryError("\(table.name).\(column.name): \(error)")
        }
        guard let id = rows.first?["id"], !id.isNull else {
            throw InventoryError(
                "\(table.name).\(column.name): no \(target.name) with \(natural.joined(separator: "/")) '\(text)'")
        }
        return id
    }

    func keyValues(_ table: Table, _ key: [String]) throws(InventoryError) -> [SQLValue] {
        guard key.count == table.primaryKey.count else {
            throw InventoryError(
                "table '\(table.name)' is keyed by (\(table.primaryKey.joined(separator: ", "))): give \(table.primaryKey.count) key value\(table.primaryKey.count == 1 ? "" : "s"), got \(key.count)"
            )
        }
        var values: [SQLValue] = []
        for (name, text) in zip(table.primaryKey, key) {
            values.append(try value(text, for: try column(name, of: table), in: table))
        }
        return values
    }

    func keyDescription(_ table: Table, _ values: [String]) -> String {
        "\(table.name) '\(values.joined(separator: "/"))'"
    }

    func whereKey(_ table: Table, from index: Int = 1) -> String {
        table.primaryKey.enumerated().map { "\(q($0.element)) = $\($0.offset + index)" }.joined(separator: " AND ")
    }

    func selectList(_ table: Table) -> String {
        table.columns.map { c in
            // Read timestamps and JSON back as text in one canonical form on both engines.
            db.dialect == .postgres && (c.type == .timestamp || c.type == .json)
                ? "\(q(c.name))::text AS \(q(c.name))" : q(c.name)
        }.joined(separator: ", ")
    }

    func record(_ table: Table, _ row: SQLRow) -> Record {
        // The store selects the table's columns in order (selectList): by position, no lookup by name.
        if row.columns.count == table.columns.count {
            return Record(
                table: table.name,
                values: table.columns.indices.map { i in
                    let name = table.columns[i].name
                    return (name, row.columns[i] == name ? row.values[i] : row[name])
                })
        }
        return Record(table: table.name, values: table.columns.map { ($0.name, row[$0.name]) })
    }

    // MARK: get, list, delete

    public func get(_ tableName: String, key: [String]) throws -> Record? {
        let table = try table(tableName)
        let rows = try db.query(
            "SELECT \(selectList(table)) FROM \(q(table.name)) WHERE \(whereKey(table))", try keyValues(table, key))
        return rows.first.map { record(table, $0) }
    }

    /// Records whose columns equal the given texts (an empty text: NULL), in key order.
    public func list(_ tableName: String, where filters: [(String, String)] = [], limit: Int? = nil) throws -> [Record]
    {
        try list(
            tableName, filters: filters.map { RecordFilter(column: $0.0, op: .equal, values: [$0.1]) }, limit: limit)
    }

    /// Deletes one record; returns what it reached, nil when there was no such record. Refused, naming what it would reach, when other
    /// records refer to it: with `cascade`, a delete that deletes or clears them goes ahead (a `restrict`
    /// reference still refuses).
    @discardableResult
    public func delete(_ tableName: String, key: [String], cascade: Bool = false) throws -> DeletionImpact? {
        let table = try table(tableName)
        let keyValues = try keyValues(table, key)
        return try db.exclusiveTransaction {
            guard let impact = try deletionImpact(tableName, key: key) else { return nil }
            let subject = keyDescription(table, key)
            if !impact.refusals.isEmpty {
                throw DeletionRefused(
                    "cannot delete \(subject): "
                        + impact.refusals.map {
                            "\($0.count) \($0.table) record\($0.count == 1 ? "" : "s") refer to it (\($0.column))"
                        }
                        .joined(separator: "; "), impact: impact)
            }
            if impact.reachesOthers && !cascade {
                throw DeletionRefused(
                    "deleting \(subject) also "
                        + impact.lines.joined(separator: ", ")
                        + ": give --cascade to delete it with them, or --dry-run to see only",
                    impact: impact)
            }
            let before = try get(tableName, key: key)
            let changed = try run(
                "DELETE FROM \(q(table.name)) WHERE \(whereKey(table))", keyValues, table: table, subject: subject)
            guard changed > 0 else { return nil }
            // What the database's own cascade did is said in the entry (the records it reached are not listed one
            // by one).
            try logChange(
                table, key: keyValues.map(\.description), action: .delete, before: before,
                message: impact.reachesOthers ? "with it: " + impact.pastLines.joined(separator: "; ") : nil)
            return impact
        }
    }

    // MARK: put

    public enum PutOutcome: Sendable, Equatable {
        case inserted(key: [String])
        case updated(key: [String])
        case unchanged(key: [String])
    }

    /// Inserts a record, or updates the given columns of the existing one with the same key.
    /// - Parameter assignments: column → text, nil for NULL.
    public func put(_ tableName: String, _ assignments: [(String, String?)]) throws -> PutOutcome {
        let table = try table(tableName)
        var values: [String: SQLValue] = [:]
        var order: [String] = []
        for (name, text) in assignments {
            let column = try column(name, of: table)
            if values[name] != nil { throw InventoryError("column '\(name)' is given twice") }
            values[name] = try value(text, for: column, in: table)
            order.append(name)
        }
        return try db.exclusiveTransaction {
            let keyGiven = table.primaryKey.allSatisfy { values[$0] != nil }
            var existing: Record?
            if keyGiven {
                existing = try db.query(
                    "SELECT \(selectList(table)) FROM \(q(table.name)) WHERE \(whereKey(table))",
                    table.primaryKey.map { values[$0]! }
                ).first.map { record(table, $0) }
            }
            try checkReferences(table, values)
            if let existing {
                let updates = order.filter {
                    !table.primaryKey.contains($0) && !same(existing[$0], values[$0]!, table.column($0))
                }
                let key = table.primaryKey.map { existing[$0].description }
                if updates.isEmpty { return .unchanged(key: key) }
                let sets = updates.enumerated().map { "\(q($0.element)) = $\($0.offset + 1)" }.joined(separator: ", ")
                try run(
                    "UPDATE \(q(table.name)) SET \(sets) WHERE \(whereKey(table, from: updates.count + 1))",
                    updates.map { values[$0]! } + table.primaryKey.map { values[$0]! }, table: table,
                    subject: keyDescription(table, key))
                try logChange(table, key: key, action: .update, before: existing)
                return .updated(key: key)
            }
            for column in table.columns
            where values[column.name] == nil && !column.nullable && column.defaultValue == nil && !column.generated {
                throw InventoryError("new \(table.name) record needs a value for '\(column.name)' (it cannot be null)")
            }
            let subject =
                keyGiven
                ? keyDescription(table, table.primaryKey.map { values[$0]!.description }) : "new \(table.name) record"
            let rows = try query(
                "INSERT INTO \(q(table.name)) (\(order.map(q).joined(separator: ", "))) VALUES (\(order.indices.map { "$\($0 + 1)" }.joined(separator: ", "))) RETURNING \(table.primaryKey.map(q).joined(separator: ", "))",
                order.map { values[$0]! }, table: table, subject: subject)
            let key = table.primaryKey.map { rows.first?[$0].description ?? "" }
            try logChange(table, key: key, action: .insert, before: nil)
            return .inserted(key: key)
        }
    }

    /// Records a change of the record `key` (read again for its values after), in the current transaction: for
    /// writers that change records by their own statements (the deploy journal).
    public func recordChange(
        _ tableName: String, key: [String], action: ChangeAction, before: Record?, message: String? = nil
    ) throws {
        try logChange(try table(tableName), key: key, action: action, before: before, message: message)
    }

    /// Records a change of the record `key` (read again for its values after), in the current transaction.
    func logChange(
        _ table: Table, key: [String], action: ChangeAction, before: Record?, message: String? = nil
    ) throws {
        guard changeLog.enabled, table.name != "change_log" else { return }
        let after = action == .delete ? nil : try get(table.name, key: key)
        try changeLog.record(
            Change(
                table: table.name, key: key.joined(separator: "/"), action: action,
                before: before?.compactJSON(in: schema), after: after?.compactJSON(in: schema), message: message))
    }

    /// Checks that every referenced record exists, naming the first that does not.
    func checkReferences(_ table: Table, _ values: [String: SQLValue]) throws {
        for column in table.columns {
            guard let ref = column.reference, let v = values[column.name], !v.isNull else { continue }
            let found = try db.query(
                "SELECT 1 FROM \(q(ref.table)) WHERE \(q(ref.column ?? "")) = $1 LIMIT 1", [v])
            if found.isEmpty {
                throw InventoryError(
                    "\(table.name).\(column.name): \(ref.table) '\(v)' does not exist (\(table.name).\(column.name) refers to \(ref.table).\(ref.column ?? ""))"
                )
            }
        }
    }

    @discardableResult
    func run(_ sql: String, _ parameters: [SQLValue], table: Table, subject: String) throws -> Int {
        do {
            return try db.prepare(sql).run(parameters)
        } catch {
            throw ConstraintMessages(schema: schema).explain(error, table: table, subject: subject)
        }
    }

    func query(_ sql: String, _ parameters: [SQLValue], table: Table, subject: String) throws -> [SQLRow] {
        do {
            return try db.query(sql, parameters)
        } catch {
            throw ConstraintMessages(schema: schema).explain(error, table: table, subject: subject)
        }
    }

    func q(_ name: String) -> String { quoteIdentifier(name) }
}

extension Column {
    /// The same column, allowing NULL: for filters, where an empty value means "is null".
    init(nullableCopyOf column: Column) {
        self = column
        self.nullable = true
    }
}
