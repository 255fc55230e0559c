import ArgumentParser
import Database
import FoundationEssentials
import Glibc
import Inventory
import Plan
import Schema
import Text
import YAML

extension InventoryCommand {
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
                """ + ExitStatus.section(5))

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
                            field.column.padded(to: width) + "  " + field.value.text
                        )
                    }
                }
            }
        }
    }
}
