import ArgumentParser
import Database
import Deploy
import Foundation
import Glibc
import Inventory
import Plan
import SSH
import Schema

extension DeployCommand {
    struct Rollback: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "rollback",
            abstract: "Deploy the ref the role ran before its last successful deploy, the same way as a deploy.",
            discussion: """
                EXAMPLES:
                  redeye deploy rollback web --yes
                  redeye deploy rollback web --window 5 --yes --json
                """)

        @Argument(help: "The role.") var role: String
        @Option(help: "Only hosts whose name matches one of these comma-separated globs.") var hosts: String?
        @Option(help: "Batch sizes: N, P%, or a ramp like 1,5,25%.") var batch: String?
        @Option(help: "Hosts in flight at once, instead of batches.") var window: Int?
        @Flag(help: "Do not ask for confirmation.") var yes = false
        @Flag(help: "Print the summary as JSON.") var json = false
        @OptionGroup var connection: Connection

        func run() throws {
            try reportingErrors {
                let plans = try connection.loadPlans()
                let journal = try connection.openJournal(plans)
                guard let refs = try journal.refBeforeLastSuccess(role: role) else {
                    printError("redeye: no earlier successful deploy of \(role) to roll back to")
                    throw ExitCode(ExitStatus.notFound)
                }
                var options = DeployOptions(role: role, cacheDirectory: connection.cache)
                options.ref = refs.previous
                options.hosts = hosts
                options.batch = try batch.map { try BatchPlan(parsing: $0) }
                options.window = window
                options.kind = "rollback"
                options.message = "rollback from \(refs.current)"
                try DeployCommand.confirm("roll \(role) back from \(refs.current) to \(refs.previous)?", yes: yes)
                try DeployCommand.execute(
                    Rollout(plans: plans, options: options, settings: connection.settings, output: printError),
                    journal: journal, json: json, resume: nil)
            }
        }
    }
}
