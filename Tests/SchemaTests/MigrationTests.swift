import Database
import Foundation
import Schema
import TestSupport
import Testing

private let v1 = """
    tables:
      role:
        key: name
        columns: {name: text}
      host:
        key: name
        columns:
          name: text
          kind: {type: enum, values: [physical, virtual, container], default: physical}
          role: {ref: role, null: true}
          serial: {type: text, null: true}
          notes: {type: text, null: true}

    """

/// Opens a fresh database of `engine`, migrated to `schema`, and runs `body` with it.
private func withMigrated(
    _ engine: Engine, _ schema: String, _ body: (TestDatabase, any SQLConnection) throws -> Void
) throws {
    let database = try TestDatabase(engine)
    defer { database.remove() }
    let db = try database.open()
    defer { db.close() }
    _ = try Migrator(schema: try loadSchema(["s.yaml": schema]), actor: "test").migrate(db)
    try body(database, db)
}

private func migrate(_ db: any SQLConnection, _ schema: String, allowDestructive: Bool = false) throws
    -> Migrator.Outcome
{
    try Migrator(schema: try loadSchema(["s.yaml": schema]), actor: "test").migrate(
        db, allowDestructive: allowDestructive)
}

private func historyCount(_ db: any SQLConnection) throws -> Int64 {
    try db.query("SELECT count(*) AS n FROM schema_history").first?.int("n") ?? -1
}

@Suite struct MigrationTests {
    @Test(arguments: Engine.allCases)
    func createsThenSaysUpToDate(_ engine: Engine) throws {
        try withMigrated(engine, v1) { _, db in
            #expect(try historyCount(db) == 1)
            let again = try migrate(db, v1)
            guard case .upToDate = again else {
                Issue.record("second migrate was not a no-op: \(again.plan.changes.map(\.summary))")
                return
            }
            #expect(try historyCount(db) == 1)
        }
    }

    @Test(arguments: Engine.allCases)
    func motherBrainMigratesAndIsStable(_ engine: Engine) throws {
        let database = try TestDatabase(engine)
        defer { database.remove() }
        let db = try database.open()
        defer { db.close() }
        let schema = try SchemaLoader().load(directory: repositoryRoot + "/Schemas")
        let migrator = Migrator(schema: schema, actor: "test")
        guard case .applied(let plan) = try migrator.migrate(db) else {
            Issue.record("expected the first migration to apply")
            return
        }
        #expect(plan.changes.count == schema.tables.count)
        #expect(try migrator.plan(db).isUpToDate)
        let history = try #require(try db.query("SELECT schema_hash, applied_by, steps FROM schema_history").first)
        #expect(history.string("schema_hash") == migrator.schemaHash)
        #expect(history.string("applied_by") == "test")
    }

    @Test(arguments: Engine.allCases)
    func additiveChangesApplyAndKeepRows(_ engine: Engine) throws {
        try withMigrated(engine, v1) { _, db in
            try db.execute("INSERT INTO role (name) VALUES ('web'); INSERT INTO host (name, role) VALUES ('a', 'web')")
            let v2 =
                v1 + """

                      site:
                        key: name
                        columns: {name: text}
                    """
            let v3 = v2.replacingOccurrences(
                of: "      notes: {type: text, null: true}",
                with:
                    "      notes: {type: text, null: true}\n      rack: {type: integer, default: 7}\n    indexes:\n      - {columns: [role]}"
            )
            guard case .applied(let plan) = try migrate(db, v3) else {
                Issue.record("expected changes")
                return
            }
            #expect(plan.changes.allSatisfy { $0.safety == .safe })
            #expect(plan.changes.map(\.change).contains("create table (1 columns)"))
            let row = try #require(try db.query("SELECT name, role, rack FROM host").first)
            #expect(row.string("name") == "a" && row.string("role") == "web" && row.int("rack") == 7)
            #expect(try migrate(db, v3).plan.isUpToDate)
        }
    }

    @Test(arguments: Engine.allCases)
    func dropColumnIsRefusedWithoutTheFlagAndChangesNothing(_ engine: Engine) throws {
        try withMigrated(engine, v1) { database, db in
            try db.execute("INSERT INTO host (name, notes) VALUES ('a', 'keep me'), ('b', NULL)")
            let v2 = v1.replacingOccurrences(of: "      notes: {type: text, null: true}\n", with: "")
            let before = try database.snapshot()
            do {
                _ = try migrate(db, v2)
                Issue.record("expected a refusal")
            } catch let refused as MigrationRefused {
                #expect(refused.refused.count == 1)
                #expect(refused.refused[0].change == "drop column notes")
                #expect(refused.refused[0].rows == 1)
                #expect(refused.description.contains("--allow-destructive"))
            }
            #expect(try database.snapshot() == before)
            _ = try migrate(db, v2, allowDestructive: true)
            #expect(
                try db.query("SELECT * FROM host ORDER BY name").map { $0.columns.contains("notes") } == [false, false])
            #expect(try db.query("SELECT count(*) AS n FROM host").first?.int("n") == 2)
        }
    }

    @Test(arguments: Engine.allCases)
    func dropTableIsDestructive(_ engine: Engine) throws {
        try withMigrated(engine, v1 + "\n  extra:\n    key: id\n    columns: {id: integer}\n") { database, db in
            try db.execute("INSERT INTO extra (id) VALUES (1), (2), (3)")
            let before = try database.snapshot()
            do {
                _ = try migrate(db, v1)
                Issue.record("expected a refusal")
            } catch let refused as MigrationRefused {
                #expect(
                    refused.refused.map(\.summary) == [
                        "extra: drop table [destructive: deletes the table and its 3 rows]"
                    ])
            }
            #expect(try database.snapshot() == before)
        }
    }

    @Test(arguments: Engine.allCases)
    func narrowingATypeIsDestructive(_ engine: Engine) throws {
        try withMigrated(engine, v1) { _, db in
            try db.execute("INSERT INTO host (name, serial) VALUES ('a', '42')")
            let v2 = v1.replacingOccurrences(
                of: "serial: {type: text, null: true}", with: "serial: {type: integer, null: true}")
            #expect(throws: MigrationRefused.self) { _ = try migrate(db, v2) }
            _ = try migrate(db, v2, allowDestructive: true)
            #expect(try db.query("SELECT serial FROM host").first?.int("serial") == 42)
        }
    }

    @Test(arguments: Engine.allCases)
    func wideningATypeIsSafe(_ engine: Engine) throws {
        let v0 = v1.replacingOccurrences(
            of: "serial: {type: text, null: true}", with: "serial: {type: integer, null: true}")
        try withMigrated(engine, v0) { _, db in
            try db.execute("INSERT INTO host (name, serial) VALUES ('a', 42)")
            let outcome = try migrate(db, v1)
            #expect(outcome.plan.changes.map(\.safety) == [.safe])
            #expect(try db.query("SELECT serial FROM host").first?.string("serial") == "42")
        }
    }

    @Test(arguments: Engine.allCases)
    func notNullWithoutDefaultConflictsOnlyWhenRowsExist(_ engine: Engine) throws {
        let v2 = v1.replacingOccurrences(
            of: "      notes: {type: text, null: true}\n",
            with: "      notes: {type: text, null: true}\n      owner: text\n")
        try withMigrated(engine, v1) { _, db in
            _ = try migrate(db, v2)  // empty table: nothing to contradict
            #expect(try migrate(db, v2).plan.isUpToDate)
        }
        try withMigrated(engine, v1) { database, db in
            try db.execute("INSERT INTO host (name) VALUES ('a'), ('b')")
            let before = try database.snapshot()
            do {
                _ = try migrate(db, v2, allowDestructive: true)
                Issue.record("expected a refusal")
            } catch let refused as MigrationRefused {
                #expect(refused.refused.map(\.safety) == [.conflict])
                #expect(refused.refused[0].rows == 2)
                #expect(refused.refused[0].reason == "2 rows would have no value (NOT NULL without a default)")
                #expect(refused.description.contains("give the new column a default"))
            }
            #expect(try database.snapshot() == before)
        }
        // An existing column made NOT NULL over NULLs: the hint is about those rows, not about a default.
        try withMigrated(engine, v1) { _, db in
            try db.execute("INSERT INTO host (name) VALUES ('a')")
            let v3 = v1.replacingOccurrences(
                of: "      notes: {type: text, null: true}\n", with: "      notes: {type: text}\n")
            do {
                _ = try migrate(db, v3, allowDestructive: true)
                Issue.record("expected a refusal")
            } catch let refused as MigrationRefused {
                #expect(refused.description.contains("set host.notes on those rows first"), "\(refused)")
                #expect(!refused.description.contains("new column"), "\(refused)")
            }
        }
    }

    @Test(arguments: Engine.allCases)
    func uniqueOverDuplicatesConflictsNamingTheRows(_ engine: Engine) throws {
        try withMigrated(engine, v1) { database, db in
            try db.execute("INSERT INTO host (name, serial) VALUES ('a', 'S1'), ('b', 'S1'), ('c', 'S2')")
            let v2 = v1.replacingOccurrences(
                of: "serial: {type: text, null: true}", with: "serial: {type: text, null: true, unique: true}")
            let before = try database.snapshot()
            do {
                _ = try migrate(db, v2, allowDestructive: true)
                Issue.record("expected a refusal")
            } catch let refused as MigrationRefused {
                #expect(
                    refused.refused.map(\.summary) == ["host: add unique (serial) [conflict: 2 rows share a value]"])
            }
            #expect(try database.snapshot() == before)
            try db.execute("UPDATE host SET serial = 'S3' WHERE name = 'b'")
            _ = try migrate(db, v2)
            #expect(try migrate(db, v2).plan.isUpToDate)
        }
    }

    @Test(arguments: Engine.allCases)
    func renamesKeepData(_ engine: Engine) throws {
        try withMigrated(engine, v1) { _, db in
            try db.execute(
                "INSERT INTO role (name) VALUES ('web'); INSERT INTO host (name, role, serial) VALUES ('a', 'web', 'S1')"
            )
            let v2 = v1.replacingOccurrences(of: "  host:\n", with: "  machine:\n    renamed_from: host\n")
                .replacingOccurrences(
                    of: "serial: {type: text, null: true}",
                    with: "serial_number: {type: text, null: true, renamed_from: serial}")
            let outcome = try migrate(db, v2)
            #expect(outcome.plan.changes.map(\.change).contains("rename table from host"))
            #expect(outcome.plan.changes.map(\.change).contains("rename column serial to serial_number"))
            let row = try #require(try db.query("SELECT name, role, serial_number FROM machine").first)
            #expect(row.string("serial_number") == "S1" && row.string("role") == "web")
            #expect(try migrate(db, v2).plan.isUpToDate)
            // The reference still works after the rename: a missing role is refused.
            #expect(throws: DatabaseError.self) {
                try db.execute("INSERT INTO machine (name, role) VALUES ('b', 'nope')")
            }
        }
    }

    @Test(arguments: Engine.allCases)
    func enumNarrowingConflictsWhileRowsUseTheRemovedValue(_ engine: Engine) throws {
        try withMigrated(engine, v1) { _, db in
            try db.execute("INSERT INTO host (name, kind) VALUES ('a', 'container')")
            let v2 = v1.replacingOccurrences(of: "[physical, virtual, container]", with: "[physical, virtual]")
            do {
                _ = try migrate(db, v2)
                Issue.record("expected a refusal")
            } catch let refused as MigrationRefused {
                #expect(refused.refused.map(\.safety) == [.conflict])
                #expect(refused.refused[0].reason == "1 row fails the check")
            }
            try db.execute("UPDATE host SET kind = 'virtual'")
            _ = try migrate(db, v2)
            #expect(throws: DatabaseError.self) {
                try db.execute("INSERT INTO host (name, kind) VALUES ('b', 'container')")
            }
        }
    }

    @Test(arguments: Engine.allCases)
    func addingAReferenceOverOrphansConflicts(_ engine: Engine) throws {
        let v0 = v1.replacingOccurrences(of: "role: {ref: role, null: true}", with: "role: {type: text, null: true}")
        try withMigrated(engine, v0) { database, db in
            try db.execute(
                "INSERT INTO role (name) VALUES ('web'); INSERT INTO host (name, role) VALUES ('a', 'web'), ('b', 'ghost')"
            )
            let before = try database.snapshot()
            do {
                _ = try migrate(db, v1)
                Issue.record("expected a refusal")
            } catch let refused as MigrationRefused {
                #expect(refused.refused.map(\.reason) == ["1 row refers to role rows that do not exist"])
            }
            #expect(try database.snapshot() == before)
        }
    }

    @Test(arguments: Engine.allCases)
    func planChangesNothing(_ engine: Engine) throws {
        try withMigrated(engine, v1) { database, db in
            let before = try database.snapshot()
            let plan = try Migrator(
                schema: try loadSchema(["s.yaml": v1 + "\n  site:\n    key: name\n    columns: {name: text}\n"]),
                actor: "t"
            ).plan(db)
            #expect(plan.changes.map(\.summary) == ["site: create table (1 columns)"])
            #expect(plan.statements.count == 1)
            #expect(try database.snapshot() == before)
        }
    }

    @Test(arguments: Engine.allCases)
    func twoMigrationsAtOnceAreSerialized(_ engine: Engine) async throws {
        let database = try TestDatabase(engine)
        defer { database.remove() }
        _ = try database.open()  // creates the SQLite file
        let schema = try SchemaLoader().load(directory: repositoryRoot + "/Schemas")
        let url = database.url
        let outcomes = try await withThrowingTaskGroup(of: Bool.self) { group in
            for _ in 0..<2 {
                group.addTask {
                    let db = try openDatabase(DatabaseURL(url))
                    defer { db.close() }
                    if case .applied = try Migrator(schema: schema, actor: "t").migrate(db) { return true }
                    return false
                }
            }
            var applied: [Bool] = []
            for try await outcome in group { applied.append(outcome) }
            return applied
        }
        #expect(
            outcomes.filter { $0 }.count == 1 && outcomes.count == 2,
            "exactly one of the two applies; the other finds it up to date")
        let db = try database.open()
        defer { db.close() }
        #expect(try historyCount(db) == 1)
    }

    @Test func sqliteRebuildKeepsIndexesAndForeignKeys() throws {
        let v0 = v1.replacingOccurrences(
            of: "      notes: {type: text, null: true}\n",
            with: "      notes: {type: text, null: true}\n    indexes:\n      - {columns: [serial]}\n")
        try withMigrated(.sqlite, v0) { _, db in
            try db.execute(
                "INSERT INTO role (name) VALUES ('web'); INSERT INTO host (name, role, notes) VALUES ('a', 'web', 'n')")
            let v2 = v0.replacingOccurrences(
                of: "notes: {type: text, null: true}", with: "notes: {type: text, default: none}")
            let outcome = try migrate(db, v2)
            #expect(outcome.plan.statements.contains { $0.hasPrefix("CREATE TABLE \"_redeye_new_host\"") })
            #expect(
                try db.query("SELECT name FROM pragma_index_list('host') WHERE origin = 'c'").map { $0.string("name") }
                    == ["host_serial_idx"])
            #expect(
                try db.query("SELECT \"table\" AS t FROM pragma_foreign_key_list('host')").map { $0.string("t") } == [
                    "role"
                ])
            #expect(try db.query("SELECT notes FROM host").first?.string("notes") == "n")
            #expect(try migrate(db, v2).plan.isUpToDate)
        }
    }

    @Test func generatedSchemaOf300TablesMigrates() throws {
        var text = "tables:\n"
        for i in 0..<300 {
            text +=
                "  t\(i):\n    key: id\n    columns:\n      id: {type: integer, generated: true}\n      name: {type: text, unique: true}\n"
            text += "      kind: {type: enum, values: [a, b, c], default: a}\n"
            if i > 0 { text += "      parent: {ref: t\(i - 1), null: true}\n" }
        }
        try withMigrated(.sqlite, text) { (_: TestDatabase, db: any SQLConnection) throws in
            #expect(try historyCount(db) == 1)
            #expect(try db.query("SELECT count(*) AS n FROM sqlite_schema WHERE type = 'table'").first?.int("n") == 301)
        }
    }
}
