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
    struct Resume: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "resume",
            abstract: "Continue an interrupted deploy from its record, without touching hosts already done.",
            discussion: """
                Takes the newest deployment of the role that is still running (its deployer died) or was \
                interrupted, with the same ref and options, and deploys only the hosts it did not finish.

                EXAMPLES:
                  redeye deploy resume web --yes
                """)

        @Argument(help: "The role.") var role: String
        @Flag(help: "Do not ask for confirmation.") var yes = false
        @Flag(help: "Print the summary as JSON.") var json = false
        @OptionGroup var connection: Connection

        func run() throws {
            try reportingErrors {
                let plans = try connection.loadPlans()
                let journal = try connection.openJournal(plans)
                guard let record = try journal.unfinished(role: role) else {
                    printError("redeye: no unfinished deployment of \(role) to resume")
                    throw ExitCode(ExitStatus.notFound)
                }
                let options = try DeployOptions(resuming: record, role: role, cacheDirectory: connection.cache)
                try DeployCommand.confirm(
                    "resume deployment \(record.id) (\(role) \(record.ref), started \(record.startedAt ?? "?") by \(record.requestedBy))?",
                    yes: yes)
                try DeployCommand.execute(
                    Rollout(plans: plans, options: options, settings: connection.settings, output: printError),
                    journal: journal, json: json, resume: record)
            }
        }
    }
}
