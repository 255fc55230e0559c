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
    struct Rollback: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "rollback",
            abstract: "Deploy the ref the role ran before its last successful deploy, the same way as a deploy.",
            discussion: """
                EXAMPLES:
                  redeye deploy rollback web --yes
                  redeye deploy rollback web --to v1652 --yes
                  redeye deploy rollback web --window 5 --yes --json
                """ + ExitStatus.section(5, 8, 9, 10, 130))

        @OptionGroup var common: RoleRun
        @Option(
            help: ArgumentHelp(
                "Roll back to this ref (a tag or branch of the role's bundle) instead of the one that ran before.",
                valueName: "ref"))
        var to: String?
        @Option(help: hostsHelp) var hosts: String?
        @Option(help: "Batch sizes: N, P%, or a ramp like 1,5,25%.") var batch: String?
        @Option(help: "Hosts in flight at once, instead of batches.") var window: Int?

        func run() throws {
            try reportingErrors {
                let (plans, journal) = try common.open()
                let role = common.role
                let current = try journal.deployments(role: role, limit: 20).first { $0.state == .succeeded }?.ref
                let target: String
                if let to {
                    target = to
                } else {
                    guard let refs = try journal.refBeforeLastSuccess(role: role) else {
                        printError("redeye: no earlier successful deploy of \(role) to roll back to (give --to REF)")
                        throw ExitCode(ExitStatus.notFound)
                    }
                    target = refs.previous
                }
                var options = DeployOptions(role: role, cacheDirectory: try common.global.cacheDirectory())
                options.bundleHTTPS = try common.global.httpsTransport()
                options.ref = target
                options.hosts = try hosts.map { h in
                    do { return try HostSelection(parsing: h) } catch { throw ValidationError("\(error)") }
                }
                options.inventoryFacts = try journal.hostFacts()
                options.batch = try batch.map { try BatchPlan(parsing: $0) }
                options.window = window
                options.kind = .rollback
                options.message = "rollback from \(current ?? "an unrecorded release") to \(target)"
                try common.execute(
                    options, plans: plans, journal: journal,
                    question: "roll \(role) back from \(current ?? "its current release") to \(target)?", resume: nil)
            }
        }
    }
}
