import ArgumentParser
import FoundationEssentials
import Glibc
import Inventory
import Text

extension InventoryCommand {
    struct History: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "history",
            abstract: "Show the change log of one record: who changed it, when, and its values before and after.",
            discussion: """
                Every write through redeye (inventory put, delete and import, plans synced by a deploy or a boot, \
                boot records, the deploy journal) is logged in the same transaction as the write. A deleted \
                record keeps its history. Exit 5 when the record has no history.

                EXAMPLES:
                  redeye inventory history host web01
                  redeye inventory history deployment 12 --json
                """ + ExitStatus.section(5))

        @OptionGroup var options: Options
        @Argument(help: "The table.") var table: String
        @Argument(help: "The key value(s).") var key: [String] = []
        @Flag(help: "Print the entries as a JSON array.") var json = false

        func run() throws {
            try reportingErrors {
                let context = try options.open()
                defer { context.close() }
                let entries = try context.store.history(table, key: key)
                if json {
                    print(
                        "[" + entries.map { "\n  " + $0.json }.joined(separator: ",") + (entries.isEmpty ? "]" : "\n]"))
                    if entries.isEmpty { throw ExitCode(ExitStatus.notFound) }
                    return
                }
                guard !entries.isEmpty else {
                    printError("redeye: no history for \(table) \(key.joined(separator: "/"))")
                    throw ExitCode(ExitStatus.notFound)
                }
                for entry in entries {
                    print("\(entry.at)  \(entry.action)  by \(entry.actor)\(entry.message.map { "  (\($0))" } ?? "")")
                    for line in Self.differences(entry) { print("  " + line) }
                }
            }
        }

        /// The columns an entry changed, `column: before → after`.
        static func differences(_ entry: ChangeEntry) -> [String] {
            func fields(_ value: DisplayValue) -> [String: JSONValue] {
                guard case .json(let text) = value, case .object(let object)? = JSONValue(parsing: text) else {
                    return [:]
                }
                return object
            }
            func shown(_ value: JSONValue?) -> String { (value ?? .null).text }
            let before = fields(entry.before)
            let after = fields(entry.after)
            // A new or a deleted record: its values, not a list of "null →".
            if before.isEmpty || after.isEmpty {
                let values = before.isEmpty ? after : before
                return values.keys.sorted().compactMap { column in
                    values[column] == .null ? nil : "\(column) = \(shown(values[column]))"
                }
            }
            return Set(before.keys).union(after.keys).sorted().compactMap { column in
                let was = shown(before[column])
                let now = shown(after[column])
                return was == now ? nil : "\(column): \(was) → \(now)"
            }
        }
    }
}
