import ArgumentParser
import Database
import FileSystem
import FoundationEssentials
import Glibc
import Inventory
import Plan
import Schema
import Text
import YAML

extension InventoryCommand {
    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "list",
            abstract: "List the records of a table, filtered and sorted.",
            discussion: """
                --where takes COLUMN=VALUE, COLUMN!=VALUE, <, <=, >, >= (values typed by the column: numbers, \
                times, MAC and IP addresses as `inventory put` reads them), COLUMN~GLOB and COLUMN!~GLOB (* and \
                ?), 'COLUMN in A,B,C', 'COLUMN is null', 'COLUMN is not null'; COLUMN= alone means null. A JSON \
                column is searched by key: attrs.tier>=2. Every --where must hold. --sort, --columns and --limit \
                apply to the text and the JSON output alike.

                EXAMPLES:
                  redeye inventory list host
                  redeye inventory list host --where site=dc1 --where kind=virtual --json
                  redeye inventory list host --where 'name~web*' --where 'status in active,failed' --sort -vcpus
                  redeye inventory list certificate --where 'not_after<2026-06-01'
                  redeye inventory list host --where attrs.tier=gold --columns name,site,status --limit 20
                """ + ExitStatus.section())

        @OptionGroup var options: Options
        @Argument(help: "The table.") var table: String
        @Option(
            name: .customLong("where"),
            help: ArgumentHelp(
                "Only records where this holds (repeatable): column=value, !=, <, <=, >, >=, ~glob, !~glob, 'column in a,b', 'column is null'.",
                valueName: "condition"))
        var filters: [String] = []
        @Option(help: ArgumentHelp("Comma-separated columns to show.", valueName: "list")) var columns: String?
        @Option(help: ArgumentHelp("Sort by these columns (comma-separated; -column descends).", valueName: "list"))
        var sort: String?
        @Option(help: "At most this many records.") var limit: Int?
        @Flag(help: "Print the records as a JSON array.") var json = false

        func run() throws {
            try reportingErrors {
                let parsed = try filters.map { try RecordFilter.parse($0) }
                let context = try options.open()
                defer { context.db.close() }
                let records = try context.store.list(
                    table, filters: parsed, sort: sort.map(RecordSort.parse) ?? [], limit: limit)
                let tableSpec = try context.store.table(table)
                let shown = columns.map { $0.split(separator: ",").map(String.init) } ?? tableSpec.columns.map(\.name)
                for name in shown where tableSpec.column(name) == nil {
                    throw InventoryError(
                        "table '\(table)' has no column '\(name)'\(suggestionSuffix(for: name, among: tableSpec.columns.map(\.name)))"
                    )
                }
                if json {
                    let output = jsonArray(records, in: context.schema, only: columns == nil ? nil : Set(shown)) + [10]
                    try output.withUnsafeBytes { try writeAll(STDOUT_FILENO, $0, display: "standard output") }
                    return
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
                            return clipped.padded(to: widths[i])
                        }.joined(separator: "  ").trimmingTrailingSpaces())
                }
                printError("\(counted(records.count, "record"))")
            }
        }
    }
}
