import Foundation
import Schema
import TestSupport
import Testing
import YAML

/// Loads schema text as one file named `s.yaml` (more files: pass a dictionary).
func loadSchema(_ files: [String: String]) throws(SchemaError) -> DatabaseSchema {
    try SchemaLoader().load(sources: files.sorted { $0.key < $1.key }.map { ($0.key, Array($0.value.utf8)) })
}

func schemaErrors(_ files: [String: String]) -> [String] {
    do {
        _ = try loadSchema(files)
        return []
    } catch {
        return error.issues.map(\.description)
    }
}

@Suite struct ValidationTests {
    @Test func motherBrainIsValid() throws {
        let schema = try SchemaLoader().load(directory: repositoryRoot + "/Schemas")
        let required = [
            "site", "rack", "hardware_model", "host", "interface", "mac_address", "network", "ip_address",
            "os_platform",
            "package", "role", "role_package", "host_role", "bundle", "release", "service", "account", "monitor",
            "check_result", "sla", "deployment", "deployment_host", "tag", "change_log", "schema_history",
        ]
        for name in required {
            let table = try #require(schema.table(name), "missing table \(name)")
            #expect(table.column("attrs")?.type == .json, "\(name) has no attrs json column")
        }
        let mac = try #require(schema.table("mac_address"))
        #expect(mac.primaryKey == ["mac"])
        #expect(mac.column("mac")?.type == .macaddr)
        #expect(schema.table("host")?.column("kind")?.enumValues == ["physical", "virtual", "container"])
        #expect(schema.table("host")?.column("parent")?.reference?.table == "host")
    }

    /// Each broken schema gets exactly one error, naming file, line, column and key path.
    @Test(arguments: [
        (
            "tables:\n  host:\n    key: name\n    columns:\n      name: text\n      role: strng\n",
            "s.yaml:6:13: tables.host.columns.role: unknown value 'strng' (expected one of: text, integer, real, boolean, timestamp, json, macaddr, inet, enum)"
        ),
        (
            "tables:\n  host:\n    key: name\n    colums:\n      name: text\n",
            "s.yaml:4:5: tables.host.colums: unknown key 'colums' (did you mean 'columns'?)"
        ),
        (
            "tables:\n  host:\n    key: name\n    columns:\n      name: text\n      role: {ref: rol}\n",
            "s.yaml:6:13: tables.host.columns.role.ref: unknown table 'rol' (expected one of: host)"
        ),
        (
            "tables:\n  host:\n    columns:\n      name: text\n",
            "s.yaml:3:5: tables.host: table 'host' has no key (add `key: COLUMN` or `key: [COLUMN, …]`)"
        ),
        (
            "tables:\n  host:\n    key: nme\n    columns:\n      name: text\n",
            "s.yaml:3:5: tables.host.key: key column 'nme' is not a column of 'host' (did you mean 'name'?)"
        ),
        (
            "tables:\n  host:\n    key: name\n    columns:\n      name: text\n      port: {type: integer, default: eighty}\n",
            "s.yaml:6:38: tables.host.columns.port.default: bad default: 'eighty' is not an integer in -9223372036854775808...9223372036854775807"
        ),
        (
            "tables:\n  host:\n    key: name\n    columns:\n      name: text\n      kind: {type: enum}\n",
            "s.yaml:6:13: tables.host.columns.kind: an enum column needs `values: [...]`"
        ),
        (
            "tables:\n  select:\n    key: name\n    columns:\n      name: text\n",
            "s.yaml:3:5: tables.select: table name 'select' is a reserved SQL word"
        ),
        (
            "tables:\n  Host:\n    key: name\n    columns:\n      name: text\n",
            "s.yaml:3:5: tables.Host: table name 'Host' must be lowercase letters, digits and _, starting with a letter or _"
        ),
        (
            "tables:\n  host:\n    key: name\n    columns:\n      name: text\n      site: {ref: site, on_delete: set_null}\n  site:\n    key: name\n    columns: {name: text}\n",
            "s.yaml:6:13: tables.host.columns.site.on_delete: `on_delete: set_null` needs a column that can be null (`null: true`)"
        ),
        (
            "tables:\n  host:\n    key: name\n    columns:\n      name: text\n      mac: {type: macaddr, default: 'zz:zz'}\n",
            "s.yaml:6:37: tables.host.columns.mac.default: bad default: 'zz:zz' is not a MAC address (expected six hex octets, e.g. 52:54:00:12:34:56)"
        ),
        (
            "tables:\n  host:\n    key: name\n    columns:\n      name: {type: integer, max_length: 3}\n",
            "s.yaml:5:13: tables.host.columns.name.max_length: `max_length` needs a text column and a positive length (got 3)"
        ),
        (
            "tables:\n  host:\n    key: name\n    columns:\n      name: {type: text, null: maybe}\n",
            "s.yaml:5:32: tables.host.columns.name.null: expected a boolean (true/false, yes/no, on/off), found 'maybe'"
        ),
        (
            "tables:\n  host:\n    key: name\n    columns:\n      name: text\n      name: integer\n",
            "s.yaml:6:7: duplicate key 'name' (first at line 5, column 7)"
        ),
        (
            "tables:\n  host:\n    key: name\n    columns:\n      name: text\n    indexes:\n      - {columns: [nmae]}\n",
            "s.yaml:7:9: tables.host.indexes[0]: unknown column 'nmae' (did you mean 'name'?)"
        ),
        (
            "tables:\n  host:\n    key: [name\n",
            "s.yaml:4:1: did not find expected ',' or ']' (while parsing a flow sequence at line 3, column 10)"
        ),
    ])
    func brokenSchemaGetsOneClearError(_ text: String, _ expected: String) {
        #expect(schemaErrors(["s.yaml": text]) == [expected])
    }

    @Test func tableDefinedInTwoFilesNamesBoth() {
        let errors = schemaErrors([
            "a.yaml": "tables:\n  host:\n    key: name\n    columns: {name: text}\n",
            "b.yaml": "tables:\n  host:\n    key: name\n    columns: {name: text}\n",
        ])
        #expect(errors == ["b.yaml:3:5: tables.host: table 'host' is already defined at a.yaml:3:5"])
    }

    @Test func severalFilesMergeIntoOneSchema() throws {
        let schema = try loadSchema([
            "a.yaml": "tables:\n  role:\n    key: name\n    columns: {name: text}\n",
            "b.yaml": "tables:\n  host:\n    key: name\n    columns: {name: text, role: {ref: role}}\n",
        ])
        #expect(schema.table("host")?.column("role")?.reference?.column == "name")
        #expect(schema.table("schema_history") != nil, "the migration history table is added")
    }

    @Test func allProblemsAreReportedAtOnce() {
        let errors = schemaErrors([
            "s.yaml":
                "tables:\n  host:\n    key: name\n    columns:\n      name: text\n      a: {ref: nope}\n      b: {ref: nada}\n"
        ])
        #expect(errors.count == 2)
        // Mistakes the decoder finds (a misspelled type, a misspelled key) in one file, all at once too.
        let decoding = schemaErrors([
            "s.yaml":
                "tables:\n  host:\n    key: name\n    columns:\n      name: strng\n      notes: {type: text, nul: true}\n"
        ])
        #expect(decoding.count == 2, "\(decoding)")
        #expect(decoding.contains { $0.contains("unknown value 'strng'") })
        #expect(decoding.contains { $0.contains("unknown key 'nul' (did you mean 'null'?)") })
    }

    @Test func nonUTF8SchemaIsRefused() {
        let bytes: [UInt8] = Array("tables:\n  host:\n    comment: ".utf8) + [0xe9, 0x74, 0xe9] + Array("\n".utf8)
        do {
            _ = try SchemaLoader().load(sources: [("latin1.yaml", bytes)])
            Issue.record("expected an error")
        } catch {
            #expect(error.issues.count == 1)
            #expect(error.issues[0].location.file == "latin1.yaml")
            #expect(error.issues[0].message.contains("UTF-8"))
        }
    }

    @Test func referencesTakeTheTypeOfTheirTarget() throws {
        let schema = try loadSchema([
            "s.yaml":
                "tables:\n  nic:\n    key: mac\n    columns: {mac: macaddr}\n  lease:\n    key: id\n    columns:\n      id: {type: integer, generated: true}\n      nic: {ref: nic}\n"
        ])
        #expect(schema.table("lease")?.column("nic")?.type == .macaddr)
    }

    @Test func longConstraintNamesStayWithinPostgresLimit() throws {
        let long = String(repeating: "a", count: 60)
        let schema = try loadSchema([
            "s.yaml": "tables:\n  \(long):\n    key: \(long)\n    columns: {\(long): text}\n    unique: [[\(long)]]\n"
        ])
        let ddl = DDLGenerator(dialect: .postgres).script(for: schema)
        for name in ddl.matches(of: /CONSTRAINT "([^"]+)"/).map({ String($0.1) }) {
            #expect(name.utf8.count <= 63, "\(name) is too long")
        }
    }
}

@Suite("the built-in schema and extensions")
struct BuiltInSchemaTests {
    @Test("the built-in schema is Schemas/ as committed (run scripts/embed-schema after editing it)")
    func builtInIsTheSchemaDirectory() throws {
        for file in BuiltInSchema.files {
            let onDisk = try String(contentsOfFile: repositoryRoot + "/Schemas/" + file.name, encoding: .utf8)
            #expect(file.text + "\n" == onDisk, "\(file.name) differs: run scripts/embed-schema")
        }
        let names = try FileManager.default.contentsOfDirectory(atPath: repositoryRoot + "/Schemas").filter {
            $0.hasSuffix(".yaml")
        }
        #expect(Set(names) == Set(BuiltInSchema.files.map(\.name)))
    }

    @Test("a file on top extends built-in tables and adds its own; conflicts are located, all at once")
    func extensions() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try writeFiles(
            [
                "local.yaml": """
                extend:
                  host:
                    columns:
                      owner_team: {ref: team, null: true, on_delete: set_null}
                    indexes:
                      - {columns: [owner_team]}
                tables:
                  team:
                    key: name
                    columns:
                      name: text

                """
            ], under: dir)
        let schema = try SchemaLoader().load(builtInWith: dir)
        let host = try #require(schema.table("host"))
        #expect(host.column("owner_team")?.reference?.table == "team")
        #expect(host.column("name") != nil && host.indexes.contains { $0.columns == ["owner_team"] })
        #expect(schema.table("team") != nil && schema.table("site") != nil)

        // A file named like the built-in one replaces it.
        try writeFiles(
            ["motherbrain.yaml": "tables:\n  solo:\n    key: id\n    columns:\n      id: integer\n"], under: dir)
        try FileManager.default.removeItem(atPath: dir + "/local.yaml")
        let replaced = try SchemaLoader().load(builtInWith: dir)
        #expect(replaced.table("host") == nil && replaced.table("solo") != nil)

        try FileManager.default.removeItem(atPath: dir + "/motherbrain.yaml")
        try writeFiles(
            [
                "bad.yaml":
                    "extend:\n  host:\n    columns:\n      name: text\n  hots:\n    columns:\n      x: text\n"
            ], under: dir)
        do {
            _ = try SchemaLoader().load(builtInWith: dir)
            Issue.record("a conflicting extension was accepted")
        } catch {
            let messages = error.issues.map(\.description)
            #expect(messages.count == 2, "\(messages)")
            #expect(
                messages.contains {
                    $0.hasPrefix(
                        dir
                            + "/bad.yaml:4:13: extend.host.columns.name: table 'host' already has a column 'name' (at built-in:motherbrain.yaml:"
                    )
                }, "\(messages)")
            #expect(messages.contains { $0.contains("no table 'hots' to extend (did you mean 'host'?)") })
        }
        #expect(throws: SchemaError.self) { try SchemaLoader().load(builtInWith: dir + "/missing") }
    }
}
