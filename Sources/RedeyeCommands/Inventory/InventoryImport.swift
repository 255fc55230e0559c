import ArgumentParser
import Database
import FoundationEssentials
import Glibc
import Inventory
import Plan
import Schema
import YAML

extension InventoryCommand {
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
                  redeye inventory import --from-plans --plans Plans --prune
                """ + ExitStatus.section())

        @OptionGroup var options: Options
        @Argument(help: "One or more .yaml/.yml or .csv files, imported together.") var files: [String] = []
        @Option(help: "The table a CSV file fills (default: the file's base name; only with one file).")
        var table: String?
        @Flag(
            help: "Import the plans tree instead (--plans or plans.dir): sites, roles, hosts, MACs, monitors.")
        var fromPlans = false
        @Flag(help: "With --from-plans: remove role assignments, monitors and hosts the plans no longer declare.")
        var prune = false
        @Flag(help: "Print the summary as JSON.") var json = false

        func validate() throws {
            if files.isEmpty && !fromPlans {
                throw ValidationError("give at least one file to import, or --from-plans")
            }
            if !files.isEmpty && fromPlans { throw ValidationError("give files or --from-plans, not both") }
            if table != nil && files.count > 1 { throw ValidationError("--table needs exactly one file") }
            if prune && !fromPlans { throw ValidationError("--prune works with --from-plans") }
        }

        func run() throws {
            if fromPlans {
                try reportingErrors {
                    let plans = try options.global.plansDirectory()
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
                        if prune { print("pruned \(counted(summary.pruned, "record"))") }
                        print(
                            "imported the plans in \(plans): \(counted(loaded.hosts.count, "host")), \(counted(loaded.roles.count, "role"))"
                        )
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
                        "imported \(counted(summary.records, "record")) from \(files.joined(separator: ", "))"
                    )
                }
            }
        }
    }
}
