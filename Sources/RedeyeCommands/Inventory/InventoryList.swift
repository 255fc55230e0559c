import ArgumentParser
import Database
import Foundation
import Inventory
import Plan
import Schema
import YAML

extension InventoryCommand {
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
}
