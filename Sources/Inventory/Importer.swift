import Database
import Schema
import YAML

/// What an import wrote.
public struct ImportSummary: Sendable, Encodable {
    public struct TableCount: Sendable, Encodable {
        public var table: String
        public var inserted: Int
        public var updated: Int
    }

    public var tables: [TableCount]
    public var records: Int { tables.reduce(0) { $0 + $1.inserted + $1.updated } }
}

extension RecordStore {
    /// Imports records in one transaction: all of them, or (on any error) none.
    ///
    /// Rows are checked first (columns, types, references to existing or imported records), so an error
    /// names the file, line and column of the offending value. Existing records (same key, or same values of
    /// a unique constraint when the key is generated) are updated in place.
    public func importBatches(_ batches: [ImportBatch]) throws -> ImportSummary {
        var prepared: [PreparedBatch] = []
        var problems: [InventoryError] = []
        for batch in batches {
            do {
                prepared.append(try prepare(batch, problems: &problems))
            } catch let error as InventoryError {
                problems.append(error)
            }
        }
        // Every kind of problem in one run: bad values (left out as null below), duplicates, references.
        for batch in prepared { checkDuplicates(batch, problems: &problems) }
        // A few records (a booting host's own, a put through the sync) go row by row: no temporary tables, no
        // whole-table reads, and records that are already as given are not written (nor locked) at all, so a
        // storm of hosts recording the same site and role does not queue on those rows.
        let small = prepared.reduce(0) { $0 + $1.rows.count } <= Self.smallImport
        try checkReferences(prepared, small: small, problems: &problems)
        if !problems.isEmpty {
            let shown = problems.prefix(20).map(\.description)
            let more = problems.count > 20 ? ["… and \(problems.count - 20) more"] : []
            throw InventoryError((shown + more).joined(separator: "\n") + "\nnothing was imported")
        }
        let ordered = dependencyOrder(prepared)
        return try db.exclusiveTransaction {
            var counts: [ImportSummary.TableCount] = []
            for batch in ordered {
                if small {
                    counts.append(try writeRowByRow(batch))
                    continue
                }
                let logged = changeLog.enabled && batch.table.name != "change_log"
                // PostgreSQL logs a bulk write on the server, in the same statement (`write`); SQLite here.
                let logHere = logged && db.dialect == .sqlite
                let earlier =
                    logHere ? try recordsBy(conflictTarget(batch) ?? batch.table.primaryKey, of: batch.table) : [:]
                let before = try countRows(batch.table)
                try write(batch, logged: logged)
                let inserted = try countRows(batch.table) - before
                if logHere { try changeLog.record(try bulkChanges(batch, before: earlier)) }
                counts.append(.init(table: batch.table.name, inserted: inserted, updated: batch.rows.count - inserted))
            }
            return ImportSummary(tables: counts)
        }
    }

    struct PreparedBatch {
        var table: Table
        var columns: [String]
        var rows: [[SQLValue]]
        var locations: [SourceLocation]
        /// For each column, where each row's value was written (for reference errors).
        var valueLocations: [[SourceLocation]]
    }

    func prepare(_ batch: ImportBatch, problems: inout [InventoryError]) throws -> PreparedBatch {
        let table: Table
        do {
            table = try self.table(batch.table)
        } catch {
            throw InventoryError(error.message, location: batch.location)
        }
        // Rows of one batch may name different columns (YAML): write the union, NULL-free by taking defaults.
        var columns: [String] = []
        var seen = Set<String>()
        for row in batch.rows {
            for v in row.values where !seen.contains(v.column) {
                seen.insert(v.column)
                columns.append(v.column)
            }
        }
        var columnSpecs: [Column] = []
        for name in columns {
            guard let column = table.column(name) else {
                let location = batch.rows.lazy.flatMap(\.values).first { $0.column == name }?.location
                throw InventoryError(
                    "table '\(table.name)' has no column '\(name)'\(suggestionSuffix(for: name, among: table.columns.map(\.name)))",
                    location: location)
            }
            columnSpecs.append(column)
        }
        let missingRequired = table.columns.filter {
            !$0.nullable && $0.defaultValue == nil && !$0.generated && !seen.contains($0.name)
        }
        if let column = missingRequired.first {
            throw InventoryError(
                "\(table.name) records need a value for '\(column.name)' (it cannot be null)", location: batch.location)
        }
        let index = Dictionary(uniqueKeysWithValues: columns.enumerated().map { ($0.element, $0.offset) })
        var rows: [[SQLValue]] = []
        var valueLocations = [[SourceLocation]](repeating: [], count: columns.count)
        rows.reserveCapacity(batch.rows.count)
        for row in batch.rows {
            var values = [SQLValue?](repeating: nil, count: columns.count)
            var locations = [SourceLocation?](repeating: nil, count: columns.count)
            for v in row.values {
                let i = index[v.column]!
                let column = columnSpecs[i]
                if v.structured && column.type != .json {
                    problems.append(
                        InventoryError(
                            "\(table.name).\(column.name) takes a single value, not a list or mapping",
                            location: v.location))
                    continue
                }
                do {
                    values[i] = try value(v.text, for: column, in: table)
                } catch {
                    problems.append(InventoryError(error.message, location: v.location))
                }
                locations[i] = v.location
            }
            for i in columns.indices {
                valueLocations[i].append(locations[i] ?? row.location)
                if values[i] == nil {
                    let column = columnSpecs[i]
                    if !column.nullable && column.defaultValue == nil && !column.generated
                        && row.values.allSatisfy({ $0.column != column.name })
                    {
                        problems.append(
                            InventoryError("\(table.name).\(column.name) needs a value", location: row.location))
                    }
                }
            }
            rows.append(values.enumerated().map { i, v in v ?? defaultFor(columnSpecs[i]) })
            if problems.count > 100 { break }
        }
        return PreparedBatch(
            table: table, columns: columns, rows: rows, locations: batch.rows.map(\.location),
            valueLocations: valueLocations)
    }

    /// Two records of one import with the same key (or unique values) would silently overwrite each other.
    func checkDuplicates(_ batch: PreparedBatch, problems: inout [InventoryError]) {
        let uniques =
            [batch.table.primaryKey] + batch.table.uniques + batch.table.columns.filter(\.unique).map { [$0.name] }
        for columns in uniques where columns.allSatisfy(batch.columns.contains) {
            let positions = columns.map { batch.columns.firstIndex(of: $0)! }
            var first: [[SQLValue]: Int] = [:]
            for (r, row) in batch.rows.enumerated() {
                let key = positions.map { normalized(row[$0]) }
                if key.contains(.null) { continue }
                if let earlier = first[key] {
                    let shown = key.map(\.description).joined(separator: "/")
                    problems.append(
                        InventoryError(
                            "\(batch.table.name) \(columns.joined(separator: ", ")) '\(shown)' appears twice in this import (first at line \(batch.locations[earlier].line))",
                            location: batch.locations[r]))
                    if problems.count >= 20 { return }
                } else {
                    first[key] = r
                }
            }
        }
    }

    /// A value for a column a row left out: its default (as a literal) or NULL.
    func defaultFor(_ column: Column) -> SQLValue {
        guard case .literal(let literal) = column.defaultValue else { return .null }
        switch literal {
        case .integer(let i): return .integer(i)
        case .real(let d): return .real(d)
        case .text(let s): return .text(s)
        case .boolean(let b): return db.dialect == .sqlite ? .integer(b ? 1 : 0) : .text(b ? "true" : "false")
        }
    }

    /// Every non-null reference must name a record that exists or is imported in the same run. A small import
    /// asks for each referenced value; a large one reads each referenced column once.
    func checkReferences(_ batches: [PreparedBatch], small: Bool, problems: inout [InventoryError]) throws {
        var known: [String: Set<SQLValue>] = [:]
        var found: [String: Bool] = [:]
        func imported(_ table: String, _ column: String) -> Set<SQLValue> {
            var set = Set<SQLValue>()
            for batch in batches where batch.table.name == table {
                if let i = batch.columns.firstIndex(of: column) { set.formUnion(batch.rows.map { normalized($0[i]) }) }
            }
            return set
        }
        func keys(_ table: String, _ column: String) throws -> Set<SQLValue> {
            let id = table + "." + column
            if let cached = known[id] { return cached }
            var set = imported(table, column)
            if !small {
                set.formUnion(try db.query("SELECT \(q(column)) AS k FROM \(q(table))").map { normalized($0["k"]) })
            }
            known[id] = set
            return set
        }
        func exists(_ table: String, _ column: String, _ value: SQLValue) throws -> Bool {
            if try keys(table, column).contains(normalized(value)) { return true }
            guard small else { return false }
            let id = "\(table).\(column)=\(value)"
            if let cached = found[id] { return cached }
            let answer = !(try db.query("SELECT 1 AS one FROM \(q(table)) WHERE \(q(column)) = $1 LIMIT 1", [value]))
                .isEmpty
            found[id] = answer
            return answer
        }
        for batch in batches {
            for (i, name) in batch.columns.enumerated() {
                guard let ref = batch.table.column(name)?.reference, let target = ref.column else { continue }
                // Keys the database will number for rows of this same import cannot be known yet: the
                // foreign key checks those as rows are written, in dependency order.
                let generatedHere = batches.contains { other in
                    other.table.name == ref.table && other.table.column(target)?.generated == true
                        && !other.columns.contains(target)
                }
                if generatedHere { continue }
                for (r, row) in batch.rows.enumerated() where !row[i].isNull {
                    if try exists(ref.table, target, row[i]) { continue }
                    problems.append(
                        InventoryError(
                            "\(batch.table.name).\(name): \(ref.table) '\(row[i])' does not exist (neither in the database nor in this import)",
                            location: batch.valueLocations[i][r]))
                    if problems.count >= 20 { return }
                }
            }
        }
    }

    func normalized(_ v: SQLValue) -> SQLValue {
        if case .integer(let i) = v { return .text(String(i)) }
        return v
    }

    /// Referenced tables first, so that foreign keys hold at each step.
    func dependencyOrder(_ batches: [PreparedBatch]) -> [PreparedBatch] {
        var remaining = batches
        var ordered: [PreparedBatch] = []
        while !remaining.isEmpty {
            let names = Set(remaining.map(\.table.name))
            let index =
                remaining.firstIndex { batch in
                    !batch.table.columns.contains { c in
                        c.reference.map { $0.table != batch.table.name && names.contains($0.table) } ?? false
                    }
                } ?? 0
            ordered.append(remaining.remove(at: index))
        }
        return ordered
    }

    /// At most this many rows in all go row by row (`writeRowByRow`); more take the bulk path (`write`).
    static var smallImport: Int { 256 }

    /// Writes a few rows one at a time: each row's existing record is read by the key or unique columns the
    /// upsert recognizes it by, and only a missing or different record is written.
    func writeRowByRow(_ batch: PreparedBatch) throws -> ImportSummary.TableCount {
        let table = batch.table
        let target = conflictTarget(batch)
        let returning = " RETURNING " + table.primaryKey.map(q).joined(separator: ", ")
        let insert = insertValues(batch) + returning
        let lookup = target.map { target in
            "SELECT \(selectList(table)) FROM \(q(table.name)) WHERE "
                + target.enumerated().map { "\(q($0.element)) = $\($0.offset + 1)" }.joined(separator: " AND ")
        }
        let positions = (target ?? []).map { batch.columns.firstIndex(of: $0)! }
        let columns = batch.columns.map { table.column($0) }
        var count = ImportSummary.TableCount(table: table.name, inserted: 0, updated: 0)
        for (i, row) in batch.rows.enumerated() {
            var current: Record?
            if let lookup, let found = try db.query(lookup, positions.map { row[$0] }).first {
                current = record(table, found)
                // Counted as updated, as the bulk path counts every existing record it was given.
                if batch.columns.indices.allSatisfy({ same(found[batch.columns[$0]], row[$0], columns[$0]) }) {
                    count.updated += 1
                    continue
                }
            }
            let written: [SQLRow]
            do {
                written = try db.query(insert, row)
            } catch {
                let explained = ConstraintMessages(schema: schema).explain(
                    error, table: table, subject: "\(table.name) record")
                throw InventoryError("\(explained)", location: batch.locations[i])
            }
            if current != nil { count.updated += 1 } else { count.inserted += 1 }
            if let key = written.first.map({ row in table.primaryKey.map { row[$0].description } }) {
                try logChange(table, key: key, action: current == nil ? .insert : .update, before: current)
            }
        }
        try advanceIdentities(batch)
        return count
    }

    /// The records of `table` by the values of `columns` (as they read), for the bulk path's change log.
    func recordsBy(_ columns: [String], of table: Table) throws -> [String: Record] {
        var out: [String: Record] = [:]
        for row in try db.query("SELECT \(selectList(table)) FROM \(q(table.name))") {
            let record = record(table, row)
            out[lookupKey(columns.map { DisplayValue(record[$0], column: table.column($0)).text })] = record
        }
        return out
    }

    func lookupKey(_ parts: [String]) -> String { parts.joined(separator: "\u{1f}") }

    /// What a bulk write changed, from the table's records before and after it, limited to the batch's rows.
    func bulkChanges(_ batch: PreparedBatch, before: [String: Record]) throws -> [Change] {
        let table = batch.table
        let by = conflictTarget(batch) ?? table.primaryKey
        let after = try recordsBy(by, of: table)
        var keys: [String] = []
        if let target = conflictTarget(batch) {
            let positions = target.map { batch.columns.firstIndex(of: $0)! }
            keys = batch.rows.map { row in
                lookupKey(positions.map { DisplayValue(row[$0], column: table.column(batch.columns[$0])).text })
            }
        } else {
            keys = after.keys.filter { before[$0] == nil }.sorted()
        }
        var changes: [Change] = []
        var seen = Set<String>()
        for key in keys where seen.insert(key).inserted {
            guard let now = after[key] else { continue }
            let was = before[key]
            // The same values as before (a re-sync of unchanged plans): nothing to log, no JSON to build.
            if let was, was.values.elementsEqual(now.values, by: { $0.value == $1.value }) { continue }
            let beforeJSON = was?.compactJSON(table)
            let afterJSON = now.compactJSON(table)
            if beforeJSON == afterJSON { continue }
            changes.append(
                Change(
                    table: table.name, key: keyText(table, now), action: was == nil ? .insert : .update,
                    before: beforeJSON, after: afterJSON))
        }
        return changes
    }

    /// Explicit values in an identity column do not advance its sequence (PostgreSQL): move it past them, so
    /// the next record the database numbers does not collide.
    func advanceIdentities(_ batch: PreparedBatch) throws(DatabaseError) {
        guard db.dialect == .postgres else { return }
        for name in batch.columns where batch.table.column(name)?.generated == true {
            try db.execute(
                "SELECT setval(pg_get_serial_sequence(\(quoteLiteral(q(batch.table.name))), \(quoteLiteral(name))), "
                    + "(SELECT coalesce(max(\(q(name))), 0) + 1 FROM \(q(batch.table.name))), false)")
        }
    }

    func countRows(_ table: Table) throws -> Int {
        Int(try db.query("SELECT count(*) AS n FROM \(q(table.name))").first?.int("n") ?? 0)
    }

    /// The columns an upsert recognizes an existing record by: the key, else a unique set the rows give.
    func conflictTarget(_ batch: PreparedBatch) -> [String]? {
        if batch.table.primaryKey.allSatisfy(batch.columns.contains) { return batch.table.primaryKey }
        let uniques = batch.table.uniques + batch.table.columns.filter(\.unique).map { [$0.name] }
        return uniques.first { $0.allSatisfy(batch.columns.contains) }
    }

    /// The upsert and its change log in one statement, on the server: the records the batch will touch are kept
    /// as they were, the upsert returns them as they are, and each that changed is logged with both as JSON.
    func writeLogged(_ pg: PostgresConnection, _ batch: PreparedBatch, upsert: String) throws(DatabaseError) {
        let table = batch.table
        let key = table.primaryKey
        try pg.execute("DROP TABLE IF EXISTS pg_temp._redeye_before")
        if let target = conflictTarget(batch) {
            let match = target.map { "t.\(q($0)) = i.\(q($0))" }.joined(separator: " AND ")
            try pg.execute(
                "CREATE TEMP TABLE _redeye_before ON COMMIT DROP AS SELECT t.* FROM \(q(table.name)) t WHERE EXISTS (SELECT 1 FROM _redeye_import i WHERE \(match))"
            )
        } else {
            try pg.execute(
                "CREATE TEMP TABLE _redeye_before ON COMMIT DROP AS SELECT * FROM \(q(table.name)) WHERE false")
        }
        let joined = key.map { "b.\(q($0)) = w.\(q($0))" }.joined(separator: " AND ")
        let rowKey = "concat_ws('/', " + key.map { "w.\(q($0))::text" }.joined(separator: ", ") + ")"
        _ = try pg.query(
            """
            WITH w AS (\(upsert) RETURNING \(q(table.name)).*)
            INSERT INTO change_log (at, actor, table_name, row_key, action, before, after)
            SELECT $1::timestamptz, $2, $3, \(rowKey),
                CASE WHEN b.\(q(key[0])) IS NULL THEN 'insert' ELSE 'update' END, to_json(b), to_json(w)
            FROM w LEFT JOIN _redeye_before b ON \(joined)
            WHERE b.\(q(key[0])) IS NULL OR to_jsonb(b) IS DISTINCT FROM to_jsonb(w)
            """,
            [.text(iso8601UTC(changeLog.clock())), .text(changeLog.actor), .text(table.name)])
        try pg.execute("DROP TABLE pg_temp._redeye_before")
    }

    /// The upsert of one row given as parameters $1…$n, in the batch's column order.
    func insertValues(_ batch: PreparedBatch) -> String {
        "INSERT INTO \(q(batch.table.name)) (\(batch.columns.map(q).joined(separator: ", "))) VALUES ("
            + batch.columns.indices.map { "$\($0 + 1)" }.joined(separator: ", ") + ")" + conflictClause(batch)
    }

    /// The upsert's `ON CONFLICT` clause: update the given columns of the record recognized by the conflict target.
    func conflictClause(_ batch: PreparedBatch) -> String {
        guard let target = conflictTarget(batch) else { return "" }
        let updates = batch.columns.filter { !target.contains($0) }
        return " ON CONFLICT (\(target.map(q).joined(separator: ", "))) DO "
            + (updates.isEmpty
                ? "NOTHING" : "UPDATE SET " + updates.map { "\(q($0)) = excluded.\(q($0))" }.joined(separator: ", "))
    }

    func write(_ batch: PreparedBatch, logged: Bool = false) throws {
        let table = batch.table
        let conflict = conflictClause(batch)
        let columnList = batch.columns.map(q).joined(separator: ", ")
        if let pg = db as? PostgresConnection {
            // COPY into a temporary table, then one upsert: PostgreSQL's fast bulk path.
            let rows = batch.rows
            let ddl = DDLGenerator(dialect: .postgres)
            let definitions = batch.columns.map { name -> String in
                var column = table.column(name)!
                column.generated = false
                return "\(q(name)) \(ddl.typeName(column))"
            }
            do {
                try pg.execute(
                    "DROP TABLE IF EXISTS pg_temp._redeye_import; CREATE TEMP TABLE _redeye_import (\(definitions.joined(separator: ", "))) ON COMMIT DROP"
                )
                try pg.copyIn(table: "_redeye_import", columns: batch.columns, rows: rows)
                let upsert =
                    "INSERT INTO \(q(table.name)) (\(columnList)) SELECT \(columnList) FROM _redeye_import\(conflict)"
                if logged {
                    try writeLogged(pg, batch, upsert: upsert)
                } else {
                    try pg.execute(upsert)
                }
                try pg.execute("DROP TABLE pg_temp._redeye_import")
                try advanceIdentities(batch)
            } catch {
                throw ConstraintMessages(schema: schema).explain(
                    error, table: table, subject: "importing \(table.name)")
            }
            return
        }
        let statement = try db.prepare(insertValues(batch))
        for (i, row) in batch.rows.enumerated() {
            do {
                try statement.run(row)
            } catch {
                let explained = ConstraintMessages(schema: schema).explain(
                    error, table: table, subject: "\(table.name) record")
                throw InventoryError("\(explained)", location: batch.locations[i])
            }
        }
    }
}
