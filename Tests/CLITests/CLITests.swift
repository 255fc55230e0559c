import ArgumentParser
import Foundation
import RedeyeCommands
import TestSupport
import Testing

@Suite struct CLITests {
    @Test func versionIsPrinted() throws {
        let result = try runRedeye(["--version"])
        #expect(result.status == 0)
        #expect(result.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "0.1.0")
    }

    /// The product links FoundationEssentials only (issue 17): Foundation would bring ICU (34 MB of data) into the
    /// binary and the netboot image. The built binary's own list of libraries says so.
    @Test func theProductLinksNoICU() throws {
        let dynamic = try runProcess("/usr/bin/readelf", ["-d", redeyeBinary])
        #expect(dynamic.status == 0, "\(dynamic.stderr)")
        let needed = dynamic.stdout.split(separator: "\n").filter { $0.contains("(NEEDED)") }
        #expect(needed.contains { $0.contains("[libssh2.so") }, "readelf lists no libraries: \(dynamic.stdout)")
        for library in ["libFoundation.so", "libFoundationInternationalization.so", "lib_FoundationICU.so"] {
            #expect(!needed.contains { $0.contains("[\(library)]") }, "redeye needs \(library)")
        }
        let imports = try runProcess(
            "/usr/bin/grep",
            [
                "-rlE", "^(@preconcurrency )?import (Foundation|FoundationInternationalization)$",
                repositoryRoot + "/Sources",
            ])
        #expect(imports.stdout.isEmpty, "these import Foundation: \(imports.stdout)")
    }

    /// Every command, found by walking the SUBCOMMANDS sections of `--help` down from `redeye` itself, prints
    /// help with examples.
    @Test func everyCommandHasHelpWithExamples() throws {
        var pending: [[String]] = [[]]
        var checked: [String] = []
        let manual = try String(contentsOfFile: repositoryRoot + "/docs/redeye.1", encoding: .utf8)
        while let command = pending.popLast(), checked.count < 200 {
            let result = try runRedeye(command + ["--help"])
            let name = (["redeye"] + command).joined(separator: " ")
            #expect(result.status == 0, "\(name) --help")
            #expect(result.stdout.contains("EXAMPLES:"), "\(name) --help has no examples")
            #expect(result.stdout.contains("EXIT CODES:\n  0   "), "\(name) --help lists no exit codes")
            // The man page is generated from the same help: each command's abstract is in it (else `make man`).
            if let overview = result.stdout.split(separator: "\n").first, overview.hasPrefix("OVERVIEW: "),
                !command.isEmpty
            {
                // The first words of the abstract: the help wraps lines, the manual does not.
                let abstract = overview.dropFirst("OVERVIEW: ".count).prefix(40)
                #expect(manual.contains(abstract), "docs/redeye.1 lacks \(name): run make man")
            }
            pending += Self.subcommands(inHelp: result.stdout).map { command + [$0] }
            checked.append(name)
        }
        #expect(checked.count > 40, "found only \(checked)")
        #expect(checked.contains("redeye deploy lock release"))
    }

    /// The names listed under SUBCOMMANDS: in a help text (`run (default)` counts as `run`).
    static func subcommands(inHelp help: String) -> [String] {
        guard let section = help.range(of: "SUBCOMMANDS:\n") else { return [] }
        var names: [String] = []
        for line in help[section.upperBound...].split(separator: "\n", omittingEmptySubsequences: false) {
            if line.isEmpty { break }
            guard line.hasPrefix("  "), !line.hasPrefix("   ") else { continue }  // a wrapped abstract
            let name = line.dropFirst(2).prefix { $0.isLetter || $0 == "-" }
            if !name.isEmpty { names.append(String(name)) }
        }
        return names
    }

    /// A command without a name of its own is named by ArgumentParser through `String(describing:)`, whose
    /// protocol-conformance scans cost every run of redeye (on each host, twice per deploy) milliseconds.
    @Test func everyCommandIsNamedInItsConfiguration() {
        var pending: [(String, any ParsableCommand.Type)] = [("", Redeye.self)]
        var unnamed: [String] = []
        var count = 0
        while let (path, command) = pending.popLast() {
            count += 1
            let name = command.configuration.commandName
            if name == nil { unnamed.append(path + " " + "\(command)") }
            let full = path.isEmpty ? (name ?? "?") : path + " " + (name ?? "?")
            pending += command.configuration.subcommands.map { (full, $0) }
        }
        #expect(unnamed.isEmpty, "commands without commandName: \(unnamed)")
        #expect(count > 40)
    }

    @Test func inventoryDocumentationIsCurrent() throws {
        let generated = try runRedeye(["schema", "doc", "--schema", repositoryRoot + "/Schemas"])
        #expect(generated.status == 0)
        let committed = try String(contentsOfFile: repositoryRoot + "/docs/inventory.md", encoding: .utf8)
        #expect(
            committed == generated.stdout, "docs/inventory.md is stale: run `redeye schema doc > docs/inventory.md`")
    }

    @Test("the built-in schema: commands work from any directory, and a file on top extends it")
    func builtInSchemaFromAnyDirectory() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let db = ["--db", "sqlite:inv.db"]
        let migrated = try runRedeye(["schema", "migrate"] + db, in: dir)
        #expect(migrated.status == 0, "\(migrated.stderr)")
        #expect(try runRedeye(["inventory", "put", "site", "name=fra1"] + db, in: dir).status == 0)
        let shown = try runRedeye(["schema", "show"], in: dir)
        #expect(
            shown.stdout == (try String(contentsOfFile: repositoryRoot + "/Schemas/motherbrain.yaml", encoding: .utf8)))
        try writeFiles(
            ["local/local.yaml": "extend:\n  host:\n    columns:\n      owner_team: {type: text, null: true}\n"],
            under: dir)
        let extended = try runRedeye(["schema", "migrate", "--schema", "local"] + db, in: dir)
        #expect(extended.status == 0 && extended.stdout.contains("host: add column owner_team"), "\(extended.stdout)")
        let put = try runRedeye(
            ["inventory", "put", "host", "name=api01", "owner_team=payments", "--schema", "local"] + db, in: dir)
        #expect(put.status == 0, "\(put.stderr)")
        let missing = try runRedeye(["schema", "validate", "--schema", "nowhere"], in: dir)
        #expect(missing.status == 1 && missing.stderr.contains("there is no directory nowhere"), "\(missing.stderr)")
    }

    @Test func unknownOptionIsAUsageError() throws {
        let result = try runRedeye(["schema", "plan", "--frobnicate"])
        #expect(result.status == 64)
    }

    @Test func brokenSchemaExitsOneWithLocatedErrors() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try writeFiles(
            ["schema/a.yaml": "tables:\n  host:\n    key: name\n    columns:\n      name: strng\n"], under: dir)
        let result = try runRedeye(["schema", "validate", "--schema", "schema"], in: dir)
        #expect(result.status == 1)
        #expect(result.stderr.contains("schema/a.yaml:5:13: tables.host.columns.name: unknown value 'strng'"))
        let json = try runRedeye(["schema", "validate", "--schema", "schema", "--json"], in: dir)
        #expect(json.status == 1)
        let decoded = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any]
        #expect(decoded?["valid"] as? Bool == false)
        #expect((decoded?["errors"] as? [[String: Any]])?.first?["line"] as? Int == 5)
    }

    @Test func migrateThenCheckForDrift() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let v1 =
            "tables:\n  host:\n    key: name\n    columns:\n      name: text\n      notes: {type: text, null: true}\n"
        try writeFiles(["s/motherbrain.yaml": v1], under: dir)
        let db = ["--schema", "s", "--db", "sqlite:inv.db"]
        let first = try runRedeye(["schema", "migrate"] + db, in: dir)
        #expect(first.status == 0, "\(first.stderr)")
        #expect(first.stdout.contains("host: create table (2 columns)"))
        let again = try runRedeye(["schema", "migrate"] + db, in: dir)
        #expect(again.stdout.hasPrefix("up to date"))
        #expect(try runRedeye(["schema", "plan", "--check"] + db, in: dir).status == 0)

        try writeFiles(["s/motherbrain.yaml": v1 + "      rack: {type: integer, null: true}\n"], under: dir)
        let drift = try runRedeye(["schema", "plan", "--check"] + db, in: dir)
        #expect(drift.status == 3)
        #expect(drift.stdout.contains("+ host: add column rack (integer, null)"))
        #expect(try runRedeye(["schema", "migrate", "--check"] + db, in: dir).status == 3)
        let plan = try runRedeye(["schema", "plan", "--json"] + db, in: dir)
        let decoded = try JSONSerialization.jsonObject(with: Data(plan.stdout.utf8)) as? [String: Any]
        #expect(decoded?["up_to_date"] as? Bool == false)
        #expect((decoded?["sql"] as? [String])?.first == "ALTER TABLE \"host\" ADD COLUMN \"rack\" INTEGER")

        try writeFiles(
            ["s/motherbrain.yaml": "tables:\n  host:\n    key: name\n    columns:\n      name: text\n"], under: dir)
        let refused = try runRedeye(["schema", "migrate"] + db, in: dir)
        #expect(refused.status == 4)
        #expect(refused.stderr.contains("host: drop column notes [destructive"))
        #expect(refused.stderr.contains("--allow-destructive"))
        #expect(try runRedeye(["schema", "migrate", "--allow-destructive"] + db, in: dir).status == 0)
    }

    @Test func inventoryCommandsAndExitCodes() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let common = ["--schema", repositoryRoot + "/Schemas", "--db", "sqlite:inv.db"]
        #expect(try runRedeye(["schema", "migrate"] + common, in: dir).status == 0)
        let put = try runRedeye(["inventory", "put", "site", "name=dc1", "--json"] + common, in: dir)
        #expect(put.status == 0, "\(put.stderr)")
        #expect(put.stdout.contains(#""outcome": "inserted""#))
        #expect(
            try runRedeye(["inventory", "put", "host", "name=web01", "site=dc1", "vcpus=2"] + common, in: dir).stdout
                == "inserted host web01\n")
        let get = try runRedeye(["inventory", "get", "host", "web01", "--json"] + common, in: dir)
        let record = try JSONSerialization.jsonObject(with: Data(get.stdout.utf8)) as? [String: Any]
        #expect(record?["vcpus"] as? Int == 2)
        #expect(record?["serial"] is NSNull)
        let list = try runRedeye(["inventory", "list", "host", "--json", "--where", "site=dc1"] + common, in: dir)
        #expect((try JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as? [Any])?.count == 1)
        // Comparisons typed by the column, and --columns in the JSON output too.
        let some = try runRedeye(
            [
                "inventory", "list", "host", "--where", "vcpus>=2", "--where", "name~web*", "--columns", "name,vcpus",
                "--json",
            ]
                + common, in: dir)
        #expect(
            (try JSONSerialization.jsonObject(with: Data(some.stdout.utf8)) as? [[String: Any]])?.first?.keys.sorted()
                == ["name", "vcpus"], "\(some.stdout) \(some.stderr)")
        let badWhere = try runRedeye(["inventory", "list", "host", "--where", "vcpus>lots"] + common, in: dir)
        #expect(badWhere.status == 1 && badWhere.stderr.contains("--where vcpus>lots"), "\(badWhere.stderr)")
        let missing = try runRedeye(["inventory", "get", "host", "web99"] + common, in: dir)
        #expect(missing.status == 5)
        #expect(missing.stderr.contains("no host record with key web99"))
        let bad = try runRedeye(["inventory", "put", "host", "name=web02", "kind=virtul"] + common, in: dir)
        #expect(bad.status == 1)
        #expect(
            bad.stderr
                == "redeye: error: host.kind: 'virtul' is not one of: physical, virtual, container (did you mean 'virtual'?)\n"
        )
        // A delete that reaches other records: shown, refused (exit 4) unless --cascade.
        let dry = try runRedeye(["inventory", "delete", "site", "dc1", "--dry-run"] + common, in: dir)
        #expect(dry.status == 0, "\(dry.stderr)")
        #expect(
            dry.stdout
                == "would delete site dc1\n  and clears host.site on 1 host record (on_delete: set_null)\nneeds --cascade\n"
        )
        let dryJSON = try runRedeye(["inventory", "delete", "site", "dc1", "--dry-run", "--json"] + common, in: dir)
        let outcome = try JSONSerialization.jsonObject(with: Data(dryJSON.stdout.utf8)) as? [String: Any]
        #expect(outcome?["dry_run"] as? Bool == true && outcome?["deleted"] as? Bool == false)
        let refused = try runRedeye(["inventory", "delete", "site", "dc1"] + common, in: dir)
        #expect(refused.status == 4)
        #expect(refused.stderr.contains("deleting site 'dc1' also clears host.site on 1 host record"))
        let cascaded = try runRedeye(["inventory", "delete", "site", "dc1", "--cascade"] + common, in: dir)
        #expect(cascaded.stdout == "deleted site dc1\n  and cleared host.site on 1 host record (on_delete: set_null)\n")
        #expect(try runRedeye(["inventory", "delete", "host", "web01"] + common, in: dir).status == 0)
        #expect(try runRedeye(["inventory", "delete", "host", "web01"] + common, in: dir).status == 5)
        #expect(try runRedeye(["inventory", "delete", "host", "web01", "--dry-run"] + common, in: dir).status == 5)
    }

    @Test func brokenSchemaLeavesTheDatabaseByteForByteUnchanged() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let good = "tables:\n  host:\n    key: name\n    columns:\n      name: text\n"
        try writeFiles(["s/motherbrain.yaml": good], under: dir)
        #expect(try runRedeye(["schema", "migrate", "--schema", "s", "--db", "sqlite:inv.db"], in: dir).status == 0)
        let before = FileManager.default.contents(atPath: dir + "/inv.db")
        for broken in [
            good + "      role: {ref: nowhere}\n", good + "    colour: red\n", good + "      x: [unclosed\n",
        ] {
            try writeFiles(["s/motherbrain.yaml": broken], under: dir)
            let result = try runRedeye(["schema", "migrate", "--schema", "s", "--db", "sqlite:inv.db"], in: dir)
            #expect(result.status == 1)
            #expect(result.stderr.contains("s/motherbrain.yaml:"))
            #expect(FileManager.default.contents(atPath: dir + "/inv.db") == before)
        }
    }

    @Test func passwordInTheDatabaseURLIsRefusedWithoutEchoingIt() throws {
        let result = try runRedeye(["schema", "plan", "--db", "postgres://redeye:hunter2@127.0.0.1/inv"])
        #expect(result.status == 1)
        #expect(result.stderr.contains("PGPASSWORD or ~/.pgpass"))
        #expect(!result.stderr.contains("hunter2"))
    }

    @Test func planOfAMissingSQLiteDatabaseShowsTheCreationWithoutCreatingIt() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let result = try runRedeye(
            ["schema", "plan", "--schema", repositoryRoot + "/Schemas", "--db", "sqlite:absent.db"], in: dir)
        #expect(result.status == 0)
        #expect(result.stdout.contains("+ host: create table"))
        #expect(!FileManager.default.fileExists(atPath: dir + "/absent.db"))
        let get = try runRedeye(
            ["inventory", "get", "host", "x", "--schema", repositoryRoot + "/Schemas", "--db", "sqlite:absent.db"],
            in: dir)
        #expect(get.status == 1)
        #expect(get.stderr.contains("cannot open SQLite database 'absent.db'"))
        #expect(!FileManager.default.fileExists(atPath: dir + "/absent.db"))
    }
}
