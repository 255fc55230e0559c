import ArgumentParser
import Database
import FoundationEssentials
import Glibc
import Inventory
import Plan
import Schema
import YAML

extension InventoryCommand {
    struct Put: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "put",
            abstract: "Insert a record, or update the given columns of the record with the same key.",
            discussion: """
                EXAMPLES:
                  redeye inventory put host name=web01 kind=virtual site=dc1
                  redeye inventory put mac_address mac=52-54-00-12-34-56 interface=1
                  redeye inventory put host name=web01 serial=      # set serial to NULL
                """ + ExitStatus.section())

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
}
