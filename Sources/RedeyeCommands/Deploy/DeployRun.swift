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
    struct Run: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "run",
            abstract: "Deploy a role (the default: `redeye deploy ROLE …`).",
            discussion: """
                Batches come from --batch, else the role's rollout in the plans: a count (5), a percentage (25%) \
                or a ramp (1,5,25%: the last step repeats). --window N instead keeps N hosts in flight and starts \
                the next as soon as one finishes. --max-fail counts failed and unreachable hosts over the whole \
                run; once exceeded no new host starts and those in flight finish or roll back.

                --repair also converges hosts that already run the release: each host's own audit finds what \
                changed in it (an edited file, a mode, an owner, a file the manifest does not name), the deploy \
                sends the content the host no longer has intact, and the host rewrites it in a fresh copy swapped \
                in whole; then, only where something was rewritten, drain, restart, health check, undrain. A host \
                whose health check fails after a repair stays drained (there is no release to go back to).

                EXAMPLES:
                  redeye deploy web --ref v1653 --plan --diff
                  redeye deploy web --ref v1653 --batch 1,5,25% --max-fail 10% --yes
                  redeye deploy web --window 10 --identity ~/.ssh/id_ed25519 --yes --json
                  redeye deploy web --ref v1653 --jump ops@bastion.example.org:2222 --yes
                  redeye deploy web --repair --hosts 'status=active' --yes
                """ + ExitStatus.section(8, 9, 10, 130))

        @OptionGroup var common: RoleRun
        @Option(help: "The bundle version (default: the ref the role pins in the plans).") var ref: String?
        @Option(help: hostsHelp) var hosts: String?
        @Option(help: "Batch sizes: N, P%, or a ramp like 1,5,25%.") var batch: String?
        @Option(help: "Hosts in flight at once, instead of batches.") var window: Int?
        @Option(help: "Failures tolerated over the run: N or P%.") var maxFail: String?
        @Option(name: [.customShort("m"), .long], help: "Why (recorded with the deployment and the lock).")
        var message: String?
        @Flag(help: "Show the batches and, per host, its release and the files that would change; change nothing.")
        var plan = false
        @Flag(
            help: "With --plan: also each changed file's content (a unified diff of text; binaries by size and hash).")
        var diff = false
        @Flag(help: "Deploy a --ref other than the one the signed plans pin (the bundle server's word for it).")
        var unpinned = false
        @Flag(help: "Also rewrite what drifted in the release of hosts that already run it (each host's audit).")
        var repair = false

        func validate() throws {
            if let window, window < 1 { throw ValidationError("--window must be at least 1") }
            if window != nil && batch != nil { throw ValidationError("give --batch or --window, not both") }
            if let batch { _ = try parse { try BatchPlan(parsing: batch) } }
            if let maxFail { _ = try parse { try FailureBudget(parsing: maxFail) } }
            if let hosts { _ = try parse { try HostSelection(parsing: hosts) } }
            if diff && !plan { throw ValidationError("--diff goes with --plan") }
        }

        func parse<T>(_ body: () throws -> T) throws -> T {
            do { return try body() } catch { throw ValidationError("\(error)") }
        }

        func options() throws -> DeployOptions {
            var options = DeployOptions(role: common.role, cacheDirectory: try common.global.cacheDirectory())
            options.bundleHTTPS = try common.global.httpsTransport()
            options.ref = ref
            options.hosts = try hosts.map { h in try parse { try HostSelection(parsing: h) } }
            options.batch = try batch.map { b in try parse { try BatchPlan(parsing: b) } }
            options.window = window
            options.maxFail = try maxFail.map { m in try parse { try FailureBudget(parsing: m) } }
            options.message = message
            options.unpinned = unpinned
            if repair { options.kind = .repair }
            return options
        }

        func run() throws {
            try reportingErrors {
                let plans = try common.global.loadPlans()
                var options = try options()
                if options.hosts != nil { options.inventoryFacts = try common.global.inventoryHostFacts(plans) }
                let rollout = Rollout(
                    plans: plans, options: options, settings: try common.global.sshSettings(), output: printError)
                if plan {
                    try DeployCommand.preview(rollout, json: common.json, content: diff)
                    return
                }
                // Refused before anything is asked or opened: a pin the ref goes past, no host to deploy.
                _ = try rollout.pin()
                let targets = try rollout.targets()
                try common.execute(
                    options, plans: plans, journal: try common.global.openJournal(plans),
                    question:
                        "deploy \(common.role) \(try rollout.ref) to \(counted(targets.count, "host"))?",
                    resume: nil)
            }
        }
    }
}
