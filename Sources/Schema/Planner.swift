import Database

/// Compares the desired tables (the schema's DDL as the engine itself normalized it) with the live ones,
/// and writes the changes and the SQL that applies them.
///
/// Comparing two introspections of the *same* engine makes defaults, types and check expressions
/// compare exactly as the engine prints them, so a second run over an unchanged schema is a no-op.
struct Planner {
    let schema: DatabaseSchema
    let db: any SQLConnection
    let ddl: DDLGenerator
    var changes: [SchemaChange] = []
    /// SQL in phases so that every statement finds what it needs (see `phaseNames`).
    var phases: [[String]] = Array(repeating: [], count: 10)

    init(schema: DatabaseSchema, db: any SQLConnection) {
        self.schema = schema
        self.db = db
        self.ddl = DDLGenerator(dialect: db.dialect)
    }

    var sqlite: Bool { db.dialect == .sqlite }

    /// A desired table matched to its live counterpart.
    struct Pair {
        var table: Table
        var desired: LiveTable
        var live: LiveTable
        var liveName: String
        /// desired column name → live column name, for columns that exist on both sides.
        var columnMap: [String: String] = [:]
        var liveToDesired: [String: String] = [:]
    }

    mutating func plan(live: [String: LiveTable], desired: [String: LiveTable]) -> (
        changes: [SchemaChange], sql: [String]
    ) {
        var pairs: [Pair] = []
        var created: [Table] = []
        var usedLive = Set<String>()
        var tableRenames: [String: String] = [:]  // live name → desired name
        for table in schema.tables {
            guard let want = desired[table.name] else { continue }
            if let have = live[table.name] {
                pairs.append(Pair(table: table, desired: want, live: have, liveName: table.name))
                usedLive.insert(table.name)
            } else if let old = table.renamedFrom.first(where: {
                live[$0] != nil && schema.table($0) == nil && !usedLive.contains($0)
            }) {
                pairs.append(Pair(table: table, desired: want, live: live[old]!, liveName: old))
                usedLive.insert(old)
                tableRenames[old] = table.name
                changes.append(.init(table: table.name, change: "rename table from \(old)", safety: .safe))
                phases[0].append("ALTER TABLE \(q(old)) RENAME TO \(q(table.name))")
            } else {
                created.append(table)
            }
        }
        for i in pairs.indices { mapColumns(&pairs[i]) }

        for name in live.keys.sorted() where !usedLive.contains(name) {
            let rows = count("SELECT count(*) FROM \(q(name))")
            changes.append(
                .init(
                    table: name, change: "drop table", safety: .destructive, rows: rows,
                    reason: "deletes the table and its \(describeRows(rows))"))
            phases[3].append("DROP TABLE \(q(name))")
        }
        for table in created {
            changes.append(
                .init(table: table.name, change: "create table (\(table.columns.count) columns)", safety: .safe))
            phases[4].append(ddl.createTable(table, foreignKeys: sqlite))
            if !sqlite {
                for column in table.columns where column.reference != nil {
                    phases[7].append(ddl.addForeignKey(table: table.name, column: column))
                }
            }
            phases[8] += ddl.createIndexes(table)
            if !sqlite { phases[9] += ddl.comments(DatabaseSchema(tables: [table])) }
        }
        for pair in pairs {
            diff(pair, tableRenames: tableRenames, pairs: pairs)
        }
        return (changes, phases.flatMap { $0 })
    }

    /// Matches columns by name, then by `renamed_from`.
    func mapColumns(_ pair: inout Pair) {
        for column in pair.desired.columns {
            if pair.live.column(column.name) != nil {
                pair.columnMap[column.name] = column.name
            } else if let logical = pair.table.column(column.name),
                let old = logical.renamedFrom.first(where: {
                    pair.live.column($0) != nil && pair.desired.column($0) == nil && !pair.columnMap.values.contains($0)
                })
            {
                pair.columnMap[column.name] = old
            }
        }
        for (d, l) in pair.columnMap { pair.liveToDesired[l] = d }
    }

    mutating func diff(_ pair: Pair, tableRenames: [String: String], pairs: [Pair]) {
        let name = pair.table.name
        let live = pair.live
        let want = pair.desired
        let liveColumn = { (desired: String) in pair.columnMap[desired] }
        func toDesired(_ columns: [String]) -> [String] { columns.map { pair.liveToDesired[$0] ?? "\u{0}" + $0 } }
        let rowCount = count("SELECT count(*) FROM \(q(pair.liveName))") ?? 0
        var rebuildReasons: [String] = []
        var addedByColumn = Set<String>()  // checks and FKs that ADD COLUMN creates itself
        var simpleAdds: [Column] = []

        // Columns: renamed, added, dropped, altered.
        for (desiredName, liveName) in pair.columnMap.sorted(by: { $0.key < $1.key }) where desiredName != liveName {
            changes.append(.init(table: name, change: "rename column \(liveName) to \(desiredName)", safety: .safe))
            if !sqlite { phases[1].append("ALTER TABLE \(q(name)) RENAME COLUMN \(q(liveName)) TO \(q(desiredName))") }
        }
        for column in want.columns where pair.columnMap[column.name] == nil {
            let logical = pair.table.column(column.name)!
            var change = SchemaChange(table: name, change: "add column \(describe(logical))", safety: .safe)
            if !logical.nullable && logical.defaultValue == nil && !logical.generated && rowCount > 0 {
                change.markConflict(
                    rows: rowCount, "would have", "would have", " no value (NOT NULL without a default)",
                    hint: "give the new column a default, or add it with null: true and fill it first")
            }
            changes.append(change)
            let checkNames = ddl.columnChecks(logical).map { constraintName(name, [logical.name], suffix: $0.0) }
            if sqlite {
                if sqliteCanAddColumn(logical) {
                    simpleAdds.append(logical)
                    addedByColumn.formUnion(checkNames)
                    if logical.reference != nil { addedByColumn.insert("fk:" + logical.name) }
                } else {
                    rebuildReasons.append("add column \(logical.name)")
                }
            } else {
                addedByColumn.formUnion(checkNames)
                phases[5].append(
                    "ALTER TABLE \(q(name)) ADD COLUMN \(ddl.columnDefinition(logical, table: name, inlineForeignKey: false))"
                )
            }
        }
        for column in live.columns where pair.liveToDesired[column.name] == nil {
            let rows = count("SELECT count(*) FROM \(q(pair.liveName)) WHERE \(q(column.name)) IS NOT NULL")
            changes.append(
                .init(
                    table: name, change: "drop column \(column.name)", safety: .destructive, rows: rows,
                    reason: rows == 0
                        ? "deletes the column (no row has a value in it)"
                        : "deletes the values of \(describeRows(rows))"))
            if sqlite {
                rebuildReasons.append("drop column \(column.name)")
            } else {
                phases[5].append("ALTER TABLE \(q(name)) DROP COLUMN \(q(column.name))")
            }
        }
        for column in want.columns {
            guard let liveName = liveColumn(column.name), let have = live.column(liveName) else { continue }
            let logical = pair.table.column(column.name)!
            if have.type != column.type || have.identity != column.identity {
                var change = SchemaChange(
                    table: name, change: "change type of \(column.name) from \(have.type) to \(column.type)",
                    safety: .safe)
                if !isWidening(from: have.type, to: column.type) {
                    let rows = count("SELECT count(*) FROM \(q(pair.liveName)) WHERE \(q(liveName)) IS NOT NULL")
                    change.safety = .destructive
                    change.rows = rows
                    change.reason = "narrows the type of the values of \(describeRows(rows))"
                }
                changes.append(change)
                if sqlite {
                    rebuildReasons.append("type of \(column.name)")
                } else {
                    if have.type != column.type {
                        let type = ddl.typeName(Column(copying: logical, generated: false))
                        phases[5].append(
                            "ALTER TABLE \(q(name)) ALTER COLUMN \(q(column.name)) TYPE \(type) USING \(q(column.name))::\(type)"
                        )
                    }
                    if have.identity != column.identity {
                        phases[5].append(
                            "ALTER TABLE \(q(name)) ALTER COLUMN \(q(column.name)) "
                                + (column.identity ? "ADD GENERATED BY DEFAULT AS IDENTITY" : "DROP IDENTITY"))
                    }
                }
            }
            if have.notNull != column.notNull {
                var change = SchemaChange(
                    table: name,
                    change: column.notNull ? "make \(column.name) NOT NULL" : "allow NULL in \(column.name)",
                    safety: .safe)
                if column.notNull {
                    let nulls = count("SELECT count(*) FROM \(q(pair.liveName)) WHERE \(q(liveName)) IS NULL") ?? 0
                    if nulls > 0 {
                        change.markConflict(
                            rows: nulls, "has", "have", " no value in \(column.name)",
                            hint:
                                "set \(name).\(column.name) on those rows first (inventory put), or keep it null: true")
                    }
                }
                changes.append(change)
                if sqlite {
                    rebuildReasons.append("nullability of \(column.name)")
                } else {
                    phases[5].append(
                        "ALTER TABLE \(q(name)) ALTER COLUMN \(q(column.name)) \(column.notNull ? "SET" : "DROP") NOT NULL"
                    )
                }
            }
            if have.defaultSQL != column.defaultSQL && !(have.identity && column.identity) {
                changes.append(
                    .init(
                        table: name,
                        change:
                            "change default of \(column.name) to \(logical.defaultValue.map(ddl.defaultSQL) ?? "none")",
                        safety: .safe))
                if sqlite {
                    rebuildReasons.append("default of \(column.name)")
                } else if let value = logical.defaultValue {
                    phases[5].append(
                        "ALTER TABLE \(q(name)) ALTER COLUMN \(q(column.name)) SET DEFAULT \(ddl.defaultSQL(value))")
                } else {
                    phases[5].append("ALTER TABLE \(q(name)) ALTER COLUMN \(q(column.name)) DROP DEFAULT")
                }
            }
        }

        // Primary key.
        if toDesired(live.primaryKey) != want.primaryKey {
            let duplicates = duplicateCount(pair, columns: want.primaryKey)
            var change = SchemaChange(
                table: name,
                change:
                    "change key from (\(live.primaryKey.joined(separator: ", "))) to (\(want.primaryKey.joined(separator: ", ")))",
                safety: .destructive, reason: "changes how rows are identified")
            if duplicates > 0 {
                change.markConflict(
                    rows: duplicates, "shares", "share", " a key value",
                    hint: "make the new key's values unique in \(name) first")
            }
            changes.append(change)
            if sqlite {
                rebuildReasons.append("key")
            } else {
                if let old = live.primaryKeyName {
                    phases[2].append("ALTER TABLE \(q(name)) DROP CONSTRAINT \(q(old))")
                }
                phases[6].append(
                    "ALTER TABLE \(q(name)) ADD CONSTRAINT \(q(constraintName(name, [], suffix: "pkey"))) PRIMARY KEY (\(want.primaryKey.map(q).joined(separator: ", ")))"
                )
            }
        }

        // Foreign keys, compared by shape (columns, target, target columns, on delete).
        func liveShape(_ fk: LiveTable.ForeignKey) -> [String] {
            let target = tableRenames[fk.table] ?? fk.table
            let targetPair = pairs.first { $0.liveName == fk.table }
            let targetColumns = fk.referencedColumns.map { targetPair?.liveToDesired[$0] ?? $0 }
            return toDesired(fk.columns) + ["->", target] + targetColumns + [fk.onDelete]
        }
        let liveKeys = Dictionary(live.foreignKeys.map { (liveShape($0), $0) }, uniquingKeysWith: { a, _ in a })
        let wantKeys = Dictionary(want.foreignKeys.map { ($0.shape, $0) }, uniquingKeysWith: { a, _ in a })
        for (shape, fk) in liveKeys.sorted(by: { $0.key.joined() < $1.key.joined() }) where wantKeys[shape] == nil {
            changes.append(
                .init(
                    table: name,
                    change: "drop reference (\(toDesired(fk.columns).joined(separator: ", "))) → \(fk.table)",
                    safety: .safe))
            if sqlite {
                rebuildReasons.append("references")
            } else if let fkName = fk.name {
                phases[2].append("ALTER TABLE \(q(name)) DROP CONSTRAINT \(q(fkName))")
            }
        }
        for (shape, fk) in wantKeys.sorted(by: { $0.key.joined() < $1.key.joined() }) where liveKeys[shape] == nil {
            let column = fk.columns[0]
            let logical = pair.table.column(column)!
            var change = SchemaChange(
                table: name,
                change: "add reference \(column) → \(fk.table).\(fk.referencedColumns.joined(separator: ", "))",
                safety: .safe)
            if let liveName = liveColumn(column) {
                let targetLive = pairs.first { $0.table.name == fk.table }
                let orphans: Int?
                if let targetLive, let targetColumn = targetLive.columnMap[fk.referencedColumns[0]] {
                    orphans = count(
                        "SELECT count(*) FROM \(q(pair.liveName)) WHERE \(q(liveName)) IS NOT NULL AND \(q(liveName)) NOT IN (SELECT \(q(targetColumn)) FROM \(q(targetLive.liveName)) WHERE \(q(targetColumn)) IS NOT NULL)"
                    )
                } else {
                    orphans = count("SELECT count(*) FROM \(q(pair.liveName)) WHERE \(q(liveName)) IS NOT NULL")
                }
                if let orphans, orphans > 0 {
                    change.markConflict(
                        rows: orphans, "refers", "refer", " to \(fk.table) rows that do not exist",
                        hint: "add the missing \(fk.table) records or clear those references first")
                }
            }
            changes.append(change)
            if sqlite {
                if !addedByColumn.contains("fk:" + column) { rebuildReasons.append("references") }
            } else {
                phases[7].append(ddl.addForeignKey(table: name, column: logical))
            }
        }

        // Unique constraints, compared by their columns.
        let liveUniques = Set(live.uniques.map { toDesired($0.columns) })
        let wantUniques = Set(want.uniques.map(\.columns))
        for unique in live.uniques where !wantUniques.contains(toDesired(unique.columns)) {
            changes.append(
                .init(
                    table: name, change: "drop unique (\(toDesired(unique.columns).joined(separator: ", ")))",
                    safety: .safe))
            if sqlite {
                rebuildReasons.append("unique")
            } else if let uniqueName = unique.name {
                phases[2].append("ALTER TABLE \(q(name)) DROP CONSTRAINT \(q(uniqueName))")
            }
        }
        for unique in want.uniques where !liveUniques.contains(unique.columns) {
            let duplicates = duplicateCount(pair, columns: unique.columns)
            var change = SchemaChange(
                table: name, change: "add unique (\(unique.columns.joined(separator: ", ")))", safety: .safe)
            if duplicates > 0 {
                change.markConflict(
                    rows: duplicates, "shares", "share", " a value", hint: "remove the duplicates in \(name) first")
            }
            changes.append(change)
            if sqlite {
                rebuildReasons.append("unique")
            } else {
                phases[6].append("ALTER TABLE \(q(name)) ADD \(ddl.uniqueConstraint(name, unique.columns))")
            }
        }

        // Checks, by name; their expressions come from the schema.
        let expressions = checkExpressions(pair.table)
        for (checkName, _) in live.checks.sorted(by: { $0.key < $1.key })
        where want.checks[checkName] == nil || want.checks[checkName] != live.checks[checkName] {
            if want.checks[checkName] == nil {
                changes.append(.init(table: name, change: "drop check \(checkName)", safety: .safe))
            }
            if sqlite {
                rebuildReasons.append("checks")
            } else {
                phases[2].append("ALTER TABLE \(q(name)) DROP CONSTRAINT \(q(checkName))")
            }
        }
        for (checkName, _) in want.checks.sorted(by: { $0.key < $1.key })
        where live.checks[checkName] != want.checks[checkName] && !addedByColumn.contains(checkName) {
            let expression = expressions[checkName] ?? "true"
            var change = SchemaChange(
                table: name,
                change: (live.checks[checkName] == nil ? "add" : "change") + " check \(checkName): \(expression)",
                safety: .safe)
            if let violations = count("SELECT count(*) FROM \(desiredView(pair)) WHERE NOT (\(expression))"),
                violations > 0
            {
                change.markConflict(
                    rows: violations, "fails", "fail", " the check", hint: "fix the rows of \(name) that fail it first")
            }
            changes.append(change)
            if sqlite {
                rebuildReasons.append("checks")
            } else {
                phases[6].append("ALTER TABLE \(q(name)) ADD CONSTRAINT \(q(checkName)) CHECK (\(expression))")
            }
        }

        // Indexes, by name.
        let liveIndexes = Dictionary(live.indexes.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        let wantIndexes = Dictionary(want.indexes.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        let rebuild = sqlite && !rebuildReasons.isEmpty
        for (indexName, index) in liveIndexes.sorted(by: { $0.key < $1.key }) {
            let wanted = wantIndexes[indexName]
            if let wanted, wanted.unique == index.unique, wanted.columns == toDesired(index.columns) { continue }
            if wanted == nil { changes.append(.init(table: name, change: "drop index \(indexName)", safety: .safe)) }
            if !rebuild { phases[2].append("DROP INDEX \(q(indexName))") }
        }
        for (indexName, index) in wantIndexes.sorted(by: { $0.key < $1.key }) {
            if let have = liveIndexes[indexName], have.unique == index.unique, toDesired(have.columns) == index.columns
            {
                continue
            }
            var change = SchemaChange(
                table: name,
                change:
                    "create \(index.unique ? "unique " : "")index \(indexName) (\(index.columns.joined(separator: ", ")))",
                safety: .safe)
            if index.unique {
                let duplicates = duplicateCount(pair, columns: index.columns)
                if duplicates > 0 {
                    change.markConflict(
                        rows: duplicates, "shares", "share", " a value", hint: "remove the duplicates in \(name) first")
                }
            }
            changes.append(change)
            if !rebuild, let logical = pair.table.indexes.first(where: { $0.name == indexName }) {
                phases[8].append(
                    "CREATE \(logical.unique ? "UNIQUE " : "")INDEX \(q(indexName)) ON \(q(name)) (\(logical.columns.map(q).joined(separator: ", ")))"
                )
            }
        }

        if sqlite {
            if rebuild {
                phases[5] += sqliteRebuild(pair)
            } else {
                for (desiredName, liveName) in pair.columnMap.sorted(by: { $0.key < $1.key })
                where desiredName != liveName {
                    phases[1].append("ALTER TABLE \(q(name)) RENAME COLUMN \(q(liveName)) TO \(q(desiredName))")
                }
                for column in simpleAdds {
                    phases[5].append(
                        "ALTER TABLE \(q(name)) ADD COLUMN \(ddl.columnDefinition(column, table: name, inlineForeignKey: true))"
                    )
                }
            }
        }
    }

    /// SQLite's documented way to make any change: create the new table, copy, drop, rename, re-index.
    /// Foreign keys are off for the migration and checked with `foreign_key_check` before commit.
    func sqliteRebuild(_ pair: Pair) -> [String] {
        let name = pair.table.name
        let temporary = "_redeye_new_\(name)"
        let copied = pair.table.columns.filter { pair.columnMap[$0.name] != nil }
        let targets = copied.map { q($0.name) }.joined(separator: ", ")
        let sources = copied.map { q(pair.columnMap[$0.name]!) }.joined(separator: ", ")
        var out = [
            ddl.createTable(pair.table, as: temporary, foreignKeys: true),
            "INSERT INTO \(q(temporary)) (\(targets)) SELECT \(sources) FROM \(q(name))",
            "DROP TABLE \(q(name))",
            "ALTER TABLE \(q(temporary)) RENAME TO \(q(name))",
        ]
        out += ddl.createIndexes(pair.table)
        return out
    }

    /// What SQLite's ALTER TABLE ADD COLUMN accepts (sqlite.org/lang_altertable.html).
    func sqliteCanAddColumn(_ column: Column) -> Bool {
        if column.unique || column.generated { return false }
        if case .now = column.defaultValue { return false }
        if !column.nullable && column.defaultValue == nil { return false }
        if column.reference != nil && column.defaultValue != nil { return false }
        return true
    }

    /// Check constraint name → expression, as the DDL writes them for this table.
    func checkExpressions(_ table: Table) -> [String: String] {
        var out: [String: String] = [:]
        for column in table.columns {
            for (suffix, expression) in ddl.columnChecks(column) {
                out[constraintName(table.name, [column.name], suffix: suffix)] = expression
            }
        }
        for check in table.checks { out[check.name] = check.expression }
        return out
    }

    /// The live rows as the new table will see them: live columns under their new names, new columns
    /// holding their defaults. Conflicts are counted against this, so they are right across renames.
    func desiredView(_ pair: Pair) -> String {
        let columns = pair.table.columns.map { column -> String in
            if let liveName = pair.columnMap[column.name] { return "\(q(liveName)) AS \(q(column.name))" }
            if case .literal(let value) = column.defaultValue { return "\(ddl.literalSQL(value)) AS \(q(column.name))" }
            return "NULL AS \(q(column.name))"
        }
        return "(SELECT \(columns.joined(separator: ", ")) FROM \(q(pair.liveName))) AS live_rows"
    }

    /// Rows whose values in `columns` (desired names) repeat another row's; 0 when it cannot be counted.
    func duplicateCount(_ pair: Pair, columns: [String]) -> Int {
        guard !columns.isEmpty else { return 0 }
        let list = columns.map(q).joined(separator: ", ")
        let notNull = columns.map { "\(q($0)) IS NOT NULL" }.joined(separator: " AND ")
        return count(
            "SELECT coalesce(sum(n), 0) FROM (SELECT count(*) AS n FROM \(desiredView(pair)) WHERE \(notNull) GROUP BY \(list) HAVING count(*) > 1) AS d"
        ) ?? 0
    }

    /// Runs a counting query; nil if the database cannot answer it (the statement is rolled back to a savepoint).
    func count(_ sql: String) -> Int? {
        do {
            if !sqlite { try db.execute("SAVEPOINT redeye_count") }
            let rows = try db.query(sql)
            if !sqlite { try db.execute("RELEASE SAVEPOINT redeye_count") }
            return rows.first.flatMap { $0.int($0.columns[0]) }.map(Int.init)
        } catch {
            if !sqlite { try? db.execute("ROLLBACK TO SAVEPOINT redeye_count") }
            return nil
        }
    }

    func describe(_ column: Column) -> String {
        var parts = [column.type == .enum ? "enum: \(column.enumValues.joined(separator: "|"))" : column.type.rawValue]
        if let reference = column.reference { parts.append("ref \(reference.table)") }
        parts.append(column.nullable ? "null" : "not null")
        if let d = column.defaultValue { parts.append("default \(ddl.defaultSQL(d))") }
        return "\(column.name) (\(parts.joined(separator: ", ")))"
    }

    func isWidening(from: String, to: String) -> Bool {
        guard let a = logicalType(from), let b = logicalType(to) else { return false }
        if a == b { return true }
        let widening: Set<[ColumnType]> = [
            [.integer, .real], [.integer, .text], [.real, .text], [.boolean, .integer], [.boolean, .text],
            [.timestamp, .text], [.json, .text], [.macaddr, .text], [.inet, .text], [.enum, .text],
        ]
        return widening.contains([a, b])
    }

    func logicalType(_ physical: String) -> ColumnType? {
        switch physical {
        case "text": return .text
        case "integer", "bigint", "smallint": return .integer
        case "real", "double precision": return .real
        case "boolean": return .boolean
        case "timestamp", "timestamp with time zone": return .timestamp
        case "json", "jsonb": return .json
        case "macaddr": return .macaddr
        case "inet": return .inet
        default: return nil
        }
    }

    func q(_ name: String) -> String { quoteIdentifier(name) }

    /// "1 row", "3 rows", or "an unknown number of rows".
    func describeRows(_ n: Int?) -> String {
        guard let n else { return "an unknown number of rows" }
        return n == 1 ? "1 row" : "\(n) rows"
    }
}

extension SchemaChange {
    /// Marks the change as contradicted by `rows` existing rows: "1 row fails the check", "3 rows fail the check".
    mutating func markConflict(rows: Int, _ singular: String, _ plural: String, _ rest: String, hint: String) {
        safety = .conflict
        self.rows = rows
        self.hint = hint
        reason = (rows == 1 ? "1 row \(singular)" : "\(rows) rows \(plural)") + rest
    }
}

extension Column {
    init(copying column: Column, generated: Bool) {
        self = column
        self.generated = generated
    }
}
