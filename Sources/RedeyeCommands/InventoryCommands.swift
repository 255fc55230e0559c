import ArgumentParser
import Database
import Foundation
import Inventory
import Plan
import Schema
import YAML

struct InventoryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inventory",
        abstract: "Read and write inventory records by primary key, through the schema.",
        discussion: """
            Values are checked and normalized by column type before they reach the database: MAC addresses \
            become lowercase with colons, IP addresses canonical, timestamps UTC ISO 8601, enums must be one \
            of their values. An empty value (col=) means NULL.

            EXAMPLES:
              redeye inventory put site name=dc1
              redeye inventory put host name=web01 site=dc1 kind=virtual
              redeye inventory get host web01 --json
              redeye inventory list host --where site=dc1
              redeye inventory delete host web01
              redeye inventory import fleet.yaml
            """,
        subcommands: [Get.self, Put.self, Delete.self, List.self, Import.self]
    )

    /// Opens the schema and the database for a record command.
    struct Context {
        let schema: Schema
        let db: any SQLConnection
        var store: RecordStore { RecordStore(schema: schema, db: db) }
    }

    struct Options: ParsableArguments {
        @OptionGroup var schemaOptions: SchemaOptions
        @OptionGroup var database: DatabaseOptions

        func open() throws -> Context {
            Context(schema: try schemaOptions.load(), db: try database.open(create: false))
        }
    }

    struct Get: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "get",
            abstract: "Print one record by its key (exit 5 when there is none).",
            discussion: """
                A composite key is given as several values, in key order.

                EXAMPLES:
                  redeye inventory get host web01
                  redeye inventory get mac_address 52:54:00:12:34:56 --json
                  redeye inventory get host_role web01 web
                """)

        @OptionGroup var options: Options
        @Argument(help: "The table.") var table: String
        @Argument(help: "The key value(s).") var key: [String] = []
        @Flag(help: "Print the record as JSON.") var json = false

        func run() throws {
            try reportingErrors {
                let context = try options.open()
                defer { context.db.close() }
                guard let record = try context.store.get(table, key: key) else {
                    printError("redeye: no \(table) record with key \(key.joined(separator: "/"))")
                    throw ExitCode(ExitStatus.notFound)
                }
                if json {
                    print(record.json(in: context.schema))
                } else {
                    let fields = record.display(in: context.schema)
                    let width = fields.map(\.column.count).max() ?? 0
                    for field in fields {
                        print(
                            field.column.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + field.value.text
                        )
                    }
                }
            }
        }
    }

    struct Put: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "put",
            abstract: "Insert a record, or update the given columns of the record with the same key.",
            discussion: """
                EXAMPLES:
                  redeye inventory put host name=web01 kind=virtual site=dc1
                  redeye inventory put mac_address mac=52-54-00-12-34-56 interface=1
                  redeye inventory put host name=web01 serial=      # set serial to NULL
                """)

        @OptionGroup var options: Options
        @Argument(help: "The table.") var table: String
        @Argument(help: "Values as column=value.") var assignments: [String] = []
        @Flag(help: "Print the outcome as JSON.") var json = false

        func run() throws {
            var pairs: [(String, String?)] = []
            for assignment in assignments {
                guard let eq = assignment.firstIndex(of: "="), eq != assignment.startIndex else {
                    throw ValidationError("'\(assignment)' is not column=value")
                }
                let value = String(assignment[assignment.index(after: eq)...])
                pairs.append((String(assignment[..<eq]), value.isEmpty ? nil : value))
            }
            if pairs.isEmpty { throw ValidationError("give at least one column=value") }
            try reportingErrors {
                let context = try options.open()
                defer { context.db.close() }
                let outcome = try context.store.put(table, pairs)
                let (word, key): (String, [String])
                switch outcome {
                case .inserted(let k): (word, key) = ("inserted", k)
                case .updated(let k): (word, key) = ("updated", k)
                case .unchanged(let k): (word, key) = ("unchanged", k)
                }
                if json {
                    print(
                        "{\"outcome\": \(jsonQuote(word)), \"table\": \(jsonQuote(table)), \"key\": [\(key.map(jsonQuote).joined(separator: ", "))]}"
                    )
                } else {
                    print("\(word) \(table) \(key.joined(separator: "/"))")
                }
            }
        }
    }

    struct Delete: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "delete",
            abstract: "Delete one record by its key (exit 5 when there is none).",
            discussion: """
                Refused, naming the referring records, while other records refer to it without on_delete: cascade.

                EXAMPLES:
                  redeye inventory delete host web01
                  redeye inventory delete host_role web01 web
                """)

        @OptionGroup var options: Options
        @Argument(help: "The table.") var table: String
        @Argument(help: "The key value(s).") var key: [String] = []

        func run() throws {
            try reportingErrors {
                let context = try options.open()
                defer { context.db.close() }
                guard try context.store.delete(table, key: key) else {
                    printError("redeye: no \(table) record with key \(key.joined(separator: "/"))")
                    throw ExitCode(ExitStatus.notFound)
                }
                print("deleted \(table) \(key.joined(separator: "/"))")
            }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "list",
            abstract: "List the records of a table, in key order.",
            discussion: """
                EXAMPLES:
                  redeye inventory list host
                  redeye inventory list host --where site=dc1 --where kind=virtual --json
                  redeye inventory list host --columns name,site,status --limit 20
                """)

        @OptionGroup var options: Options
        @Argument(help: "The table.") var table: String
        @Option(
            name: .customLong("where"),
            help: ArgumentHelp(
                "Only records with column=value (repeatable; col= means NULL).", valueName: "column=value"))
        var filters: [String] = []
        @Option(help: ArgumentHelp("Comma-separated columns to show (text output).", valueName: "list")) var columns:
            String?
        @Option(help: "At most this many records.") var limit: Int?
        @Flag(help: "Print the records as a JSON array.") var json = false

        func run() throws {
            var parsed: [(String, String)] = []
            for filter in filters {
                guard let eq = filter.firstIndex(of: "=") else {
                    throw ValidationError("'\(filter)' is not column=value")
                }
                parsed.append((String(filter[..<eq]), String(filter[filter.index(after: eq)...])))
            }
            try reportingErrors {
                let context = try options.open()
                defer { context.db.close() }
                let records = try context.store.list(table, where: parsed, limit: limit)
                if json {
                    print(
                        "[" + records.map { "\n  " + $0.json(in: context.schema, indent: "  ") }.joined(separator: ",")
                            + (records.isEmpty ? "]" : "\n]"))
                    return
                }
                let tableSpec = try context.store.table(table)
                let shown = columns.map { $0.split(separator: ",").map(String.init) } ?? tableSpec.columns.map(\.name)
                for name in shown where tableSpec.column(name) == nil {
                    throw InventoryError(
                        "table '\(table)' has no column '\(name)'\(suggestionSuffix(for: name, among: tableSpec.columns.map(\.name)))"
                    )
                }
                var grid = [shown]
                for record in records {
                    let display = Dictionary(
                        uniqueKeysWithValues: record.display(in: context.schema).map { ($0.column, $0.value) })
                    grid.append(shown.map { display[$0]?.text ?? "" })
                }
                let widths = shown.indices.map { i in min(40, grid.map { $0[i].count }.max() ?? 0) }
                for row in grid {
                    print(
                        row.enumerated().map { i, cell in
                            let clipped = cell.count > 40 ? String(cell.prefix(39)) + "…" : cell
                            return clipped.padding(toLength: widths[i], withPad: " ", startingAt: 0)
                        }.joined(separator: "  ").trimmingTrailingSpaces())
                }
                printError("\(records.count) record\(records.count == 1 ? "" : "s")")
            }
        }
    }

    struct Import: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "import",
            abstract: "Import records from YAML or CSV in one transaction: all of them or none.",
            discussion: """
                YAML maps table names to lists of records; CSV holds one table (named by --table, else by the \
                file name) with a header row of column names. Existing records (same key) are updated.

                EXAMPLES:
                  redeye inventory import fleet.yaml
                  redeye inventory import hosts.csv --table host --json
                  redeye inventory import host.csv interface.csv   # one transaction
                  redeye inventory import --plans Plans --prune
                """)

        @OptionGroup var options: Options
        @Argument(help: "One or more .yaml/.yml or .csv files, imported together.") var files: [String] = []
        @Option(help: "The table a CSV file fills (default: the file's base name; only with one file).")
        var table: String?
        @Option(
            help: ArgumentHelp("Import a plans tree instead: sites, roles, hosts, MACs, monitors.", valueName: "dir"))
        var plans: String?
        @Flag(help: "With --plans: remove role assignments, monitors and hosts the plans no longer declare.")
        var prune = false
        @Flag(help: "Print the summary as JSON.") var json = false

        func validate() throws {
            if files.isEmpty && plans == nil {
                throw ValidationError("give at least one file to import, or --plans DIR")
            }
            if !files.isEmpty && plans != nil { throw ValidationError("give files or --plans, not both") }
            if table != nil && files.count > 1 { throw ValidationError("--table needs exactly one file") }
            if prune && plans == nil { throw ValidationError("--prune works with --plans") }
        }

        func run() throws {
            if let plans {
                try reportingErrors {
                    let loaded = try PlanLoader().load(directory: plans)
                    let context = try options.open()
                    defer { context.db.close() }
                    let summary = try InventorySync(plans: loaded, store: context.store).run(prune: prune)
                    if json {
                        try printJSON(summary)
                    } else {
                        for t in summary.written.tables {
                            print("\(t.table): \(t.inserted) inserted, \(t.updated) updated")
                        }
                        if prune { print("pruned \(summary.pruned) record\(summary.pruned == 1 ? "" : "s")") }
                        print(
                            "imported the plans in \(plans): \(loaded.hosts.count) hosts, \(loaded.roles.count) roles")
                    }
                }
                return
            }
            try reportingErrors {
                var batches: [ImportBatch] = []
                for file in files { batches += try ImportReader.read(path: file, table: table) }
                let context = try options.open()
                defer { context.db.close() }
                let summary = try context.store.importBatches(batches)
                if json {
                    try printJSON(summary)
                } else {
                    for t in summary.tables { print("\(t.table): \(t.inserted) inserted, \(t.updated) updated") }
                    print(
                        "imported \(summary.records) record\(summary.records == 1 ? "" : "s") from \(files.joined(separator: ", "))"
                    )
                }
            }
        }
    }
}

extension String {
    func trimmingTrailingSpaces() -> String {
        var s = Substring(self)
        while s.last == " " { s = s.dropLast() }
        return String(s)
    }
}
