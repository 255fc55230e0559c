import ArgumentParser
import FoundationEssentials
import Glibc
import Inventory

extension InventoryCommand {
    struct Tag: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "tag",
            abstract: "Put tags on a record and take others off; print its tags.",
            discussion: """
                A tag that does not exist yet is created. A composite key is written with '/' (web01/web). Each \
                change is in the change log. Hosts are then selected by tag everywhere a selection is taken: \
                `redeye deploy web --hosts tag=canary`.

                EXAMPLES:
                  redeye inventory tag host web01 canary edge
                  redeye inventory tag host web01 --remove canary
                  redeye inventory tag host web01 --json

                EXIT CODES:
                  0   done
                  1   bad input or a database error; nothing changed
                  5   no such record
                """)

        @OptionGroup var options: Options
        @Argument(help: "The table.") var table: String
        @Argument(help: "The record's key ('/' between the parts of a composite key).") var key: String
        @Argument(help: "Tags to put on it.") var tags: [String] = []
        @Option(name: .customLong("remove"), help: ArgumentHelp("A tag to take off (repeatable).", valueName: "tag"))
        var removals: [String] = []
        @Flag(help: "Print the record's tags as JSON.") var json = false

        func run() throws {
            try reportingErrors {
                let context = try options.open()
                defer { context.db.close() }
                let now = try context.store.tag(
                    table, key: key.split(separator: "/", omittingEmptySubsequences: false).map(String.init),
                    add: tags, remove: removals)
                if json {
                    struct Tags: Encodable {
                        var table: String
                        var key: String
                        var tags: [String]
                    }
                    try printJSON(Tags(table: table, key: key, tags: now))
                } else {
                    print("\(table) \(key): \(now.isEmpty ? "no tags" : now.joined(separator: ", "))")
                }
            }
        }
    }
}
