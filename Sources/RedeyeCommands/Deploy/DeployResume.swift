import ArgumentParser
import Database
import Deploy
import FoundationEssentials
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
                """ + ExitStatus.section(5, 8, 9, 10, 130))

        @OptionGroup var common: RoleRun

        func run() throws {
            try reportingErrors {
                let (plans, journal) = try common.open()
                guard let record = try journal.unfinished(role: common.role) else {
                    printError("redeye: no unfinished deployment of \(common.role) to resume")
                    throw ExitCode(ExitStatus.notFound)
                }
                var options = try DeployOptions(
                    resuming: record, role: common.role, cacheDirectory: try common.global.cacheDirectory())
                options.bundleHTTPS = try common.global.httpsTransport()
                try common.execute(
                    options, plans: plans, journal: journal,
                    question:
                        "resume deployment \(record.id) (\(common.role) \(record.ref), started \(record.startedAt ?? "?") by \(record.requestedBy))?",
                    resume: record)
            }
        }
    }
}
