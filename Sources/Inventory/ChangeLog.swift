import Database
import FoundationEssentials
import Glibc
import Schema
import YAML

/// What a change did to a record.
public enum ChangeAction: String, Sendable, Codable {
    case insert, update, delete
}

/// One change to one record, as the change log keeps it: the values before and after, as JSON objects.
public struct Change: Sendable {
    public var table: String
    /// The record's key values joined with "/" (as `inventory get` takes them).
    public var key: String
    public var action: ChangeAction
    public var before: String?
    public var after: String?
    public var message: String?

    public init(
        table: String, key: String, action: ChangeAction, before: String?, after: String?, message: String? = nil
    ) {
        self.table = table
        self.key = key
        self.action = action
        self.before = before
        self.after = after
        self.message = message
    }
}

/// Writes the `change_log` table: who changed which record, when, and how. Every writer of the inventory goes
/// through it, inside the transaction of the change itself, so a change and its record commit together. A schema
/// without a `change_log` table keeps no log.
public struct ChangeLogWriter {
    public let db: any SQLConnection
    public let actor: String
    public let clock: @Sendable () -> Date
    public let enabled: Bool

    public init(db: any SQLConnection, schema: DatabaseSchema, actor: String, clock: @escaping @Sendable () -> Date) {
        self.db = db
        self.actor = actor
        self.clock = clock
        self.enabled = schema.table("change_log") != nil
    }

    static let columns = ["at", "actor", "table_name", "row_key", "action", "before", "after", "message"]

    func row(_ change: Change, at: String) -> [SQLValue] {
        [
            .text(at), .text(actor), .text(change.table), .text(change.key), .text(change.action.rawValue),
            change.before.map(SQLValue.text) ?? .null, change.after.map(SQLValue.text) ?? .null,
            change.message.map(SQLValue.text) ?? .null,
        ]
    }

    /// Records `changes` (in the caller's transaction).
    public func record(_ changes: [Change]) throws(DatabaseError) {
        guard enabled, !changes.isEmpty else { return }
        let at = iso8601UTC(clock())
        let insert = try db.prepare(
            "INSERT INTO change_log (\(Self.columns.joined(separator: ", "))) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)")
        for change in changes { try insert.run(row(change, at: at)) }
    }

    public func record(_ change: Change) throws(DatabaseError) { try record([change]) }
}

/// One entry of a record's history, as `inventory history` shows it.
public struct ChangeEntry: Sendable {
    public var id: Int64
    public var at: String
    public var actor: String
    public var action: String
    public var before: DisplayValue
    public var after: DisplayValue
    public var message: String?
}

extension RecordStore {
    /// The change log of one record, oldest first.
    public func history(_ tableName: String, key: [String]) throws -> [ChangeEntry] {
        let table = try table(tableName)
        guard schema.table("change_log") != nil else {
            throw InventoryError("this schema keeps no change log (it has no change_log table)")
        }
        // Normalize the key as the writers did (a MAC written any way is found).
        let keyText = try keyValues(table, key).map(\.description).joined(separator: "/")
        let cast = db.dialect == .postgres ? "::text" : ""
        return try db.query(
            "SELECT id, at\(cast) AS at, actor, action, before\(cast) AS before, after\(cast) AS after, message FROM change_log WHERE table_name = $1 AND row_key = $2 ORDER BY id",
            [.text(table.name), .text(keyText)]
        ).map { row in
            func json(_ v: SQLValue) -> DisplayValue {
                v.isNull ? .null : DisplayValue.isJSON(v.description) ? .json(v.description) : .text(v.description)
            }
            return ChangeEntry(
                id: row.int("id") ?? 0,
                at: (try? ValueNormalizer.timestamp(row["at"].description)) ?? row["at"].description,
                actor: row["actor"].description, action: row["action"].description, before: json(row["before"]),
                after: json(row["after"]), message: row["message"].isNull ? nil : row["message"].description)
        }
    }
}

extension ChangeEntry {
    /// The entry as a JSON object (before and after embedded as the objects they are).
    public var json: String {
        let fields: [(String, String)] = [
            ("id", String(id)), ("at", jsonQuote(at)), ("actor", jsonQuote(actor)), ("action", jsonQuote(action)),
            ("before", before.json), ("after", after.json), ("message", message.map(jsonQuote) ?? "null"),
        ]
        return "{" + fields.map { "\(jsonQuote($0.0)): \($0.1)" }.joined(separator: ", ") + "}"
    }
}
