import ArgumentParser
import Database
import FoundationEssentials
import Glibc
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
                A delete that would also delete or clear other records (the schema's on_delete: cascade and \
                set_null references, followed as far as they reach) is refused with what it would do, per table \
                and with counts, unless --cascade is given; --dry-run shows that and changes nothing. A record \
                that a restrict reference still names is never deleted. History (deployments, boots, the change \
                log) keeps its rows: it names hosts and roles as data. Exit 4 when refused.

                EXAMPLES:
                  redeye inventory delete host web01 --dry-run
                  redeye inventory delete site fra1 --cascade
                  redeye inventory delete host_role web01 web
                """ + ExitStatus.section(4, 5))

        @OptionGroup var options: Options
        @Argument(help: "The table.") var table: String
        @Argument(help: "The key value(s).") var key: [String] = []
        @Flag(help: "Also delete and clear the records the delete reaches.") var cascade = false
        @Flag(name: .customLong("dry-run"), help: "Show what the delete would do; change nothing.") var dryRun = false
        @Flag(help: "Print what was (or would be) done as JSON.") var json = false

        struct Outcome: Encodable {
            var deleted: Bool
            var dryRun: Bool
            var impact: DeletionImpact
            enum CodingKeys: String, CodingKey {
                case deleted, impact
                case dryRun = "dry_run"
            }
        }

        func run() throws {
            try reportingErrors {
                let context = try options.open()
                defer { context.db.close() }
                let shown = "\(table) \(key.joined(separator: "/"))"
                func notFound() -> ExitCode {
                    printError("redeye: no \(table) record with key \(key.joined(separator: "/"))")
                    return ExitCode(ExitStatus.notFound)
                }
                if dryRun {
                    guard let impact = try context.store.deletionImpact(table, key: key) else { throw notFound() }
                    if json { return try printJSON(Outcome(deleted: false, dryRun: true, impact: impact)) }
                    print("would delete \(shown)")
                    for line in impact.lines { print("  and \(line)") }
                    if !impact.refusals.isEmpty {
                        print("refused: restrict references name it")
                    } else if impact.reachesOthers && !cascade {
                        print("needs --cascade")
                    }
                    return
                }
                guard let impact = try context.store.delete(table, key: key, cascade: cascade) else {
                    throw notFound()
                }
                if json { return try printJSON(Outcome(deleted: true, dryRun: false, impact: impact)) }
                print("deleted \(shown)")
                for line in impact.pastLines { print("  and \(line)") }
            }
        }
    }
}
