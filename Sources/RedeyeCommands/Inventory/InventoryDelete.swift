import ArgumentParser
import Database
import Foundation
import Inventory
import Plan
import Schema
import YAML

extension InventoryCommand {
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
}
