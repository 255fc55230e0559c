import Database
import Schema

/// What deleting one record would do to the records that refer to it, through the schema's `on_delete` rules,
/// followed as far as they reach: records deleted with it (`cascade`), references cleared (`set_null`), and
/// records that forbid the delete (`restrict`, `no_action`).
public struct DeletionImpact: Sendable, Encodable, Equatable {
    public struct Effect: Sendable, Encodable, Equatable {
        public enum Action: String, Sendable, Encodable { case delete, clear, refuse }
        public var action: Action
        public var table: String
        /// The referring column (`table.column`).
        public var column: String
        public var count: Int
    }

    public var table: String
    public var key: [String]
    public var effects: [Effect]

    /// Whether anything beyond the record itself is touched.
    public var reachesOthers: Bool { effects.contains { $0.action != .refuse } }
    public var refusals: [Effect] { effects.filter { $0.action == .refuse } }

    /// One line per effect, e.g. "deletes 2 rack records (rack.site, on_delete: cascade)".
    public var lines: [String] { effects.map { line($0, done: false) } }
    /// The same, once done: "deleted 2 rack records …".
    public var pastLines: [String] { effects.map { line($0, done: true) } }

    func line(_ effect: Effect, done: Bool) -> String {
        let records = "\(effect.count) \(effect.table) record\(effect.count == 1 ? "" : "s")"
        switch effect.action {
        case .delete: return "\(done ? "deleted" : "deletes") \(records) (\(effect.column), on_delete: cascade)"
        case .clear: return "\(done ? "cleared" : "clears") \(effect.column) on \(records) (on_delete: set_null)"
        case .refuse: return "is refused: \(records) refer to it (\(effect.column))"
        }
    }
}

extension RecordStore {
    /// The rows a delete reaches, as a SQL predicate over `table` (with the root key as $1…$n).
    struct Reach {
        var table: Table
        var predicate: String
        var depth: Int
    }

    /// What deleting the record `key` of `tableName` would delete, clear or be refused by; nil when there is no
    /// such record. Reads only.
    public func deletionImpact(_ tableName: String, key: [String]) throws -> DeletionImpact? {
        let table = try table(tableName)
        let keyValues = try keyValues(table, key)
        let exists = try db.query("SELECT 1 AS one FROM \(q(table.name)) WHERE \(whereKey(table))", keyValues)
        guard !exists.isEmpty else { return nil }
        var effects: [DeletionImpact.Effect] = []
        var pending = [Reach(table: table, predicate: whereKey(table), depth: 0)]
        while let reach = pending.popLast() {
            // A bound, not a limit anyone meets: references form chains a few tables long.
            guard reach.depth < 12 else { break }
            for other in schema.tables {
                for column in other.columns {
                    guard let ref = column.reference, ref.table == reach.table.name else { continue }
                    let target = ref.column ?? reach.table.primaryKey.first ?? ""
                    let referring =
                        "\(q(column.name)) IN (SELECT \(q(target)) FROM \(q(reach.table.name)) WHERE \(reach.predicate))"
                    let n = Int(
                        try db.query("SELECT count(*) AS n FROM \(q(other.name)) WHERE \(referring)", keyValues)
                            .first?.int("n") ?? 0)
                    guard n > 0 else { continue }
                    let name = "\(other.name).\(column.name)"
                    switch ref.onDelete {
                    case .cascade:
                        effects.append(.init(action: .delete, table: other.name, column: name, count: n))
                        pending.append(Reach(table: other, predicate: referring, depth: reach.depth + 1))
                    case .setNull:
                        effects.append(.init(action: .clear, table: other.name, column: name, count: n))
                    case .restrict, .noAction:
                        effects.append(.init(action: .refuse, table: other.name, column: name, count: n))
                    }
                }
            }
        }
        return DeletionImpact(table: table.name, key: key, effects: effects)
    }
}
