import ArgumentParser
import Deploy
import FoundationEssentials
import Glibc
import InstallRoot
import Inventory

extension DeployCommand {
    struct Bootstrap: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "bootstrap",
            abstract: "Install redeye on a role's hosts over SSH, so that deploys can reach them.",
            discussion: """
                Per host, over one SSH connection: if `DEST --version` answers a version compatible with this \
                one, nothing is sent (unless --force); else the executable goes by SFTP to a new file beside \
                DEST, its SHA-256 is checked there, and it is made executable and renamed over DEST, so a host \
                never runs half a file; then DEST must answer a compatible version. The executable needs its \
                shared libraries on the host (libgit2, libssh2, libyaml, libpq, OpenSSL): on Debian, installing \
                the redeye package (`make package`) brings them. DEST is deploy.remote_redeye when that is an \
                absolute path, else /usr/local/bin/redeye.

                EXAMPLES:
                  redeye deploy bootstrap web --yes
                  redeye deploy bootstrap web --hosts 'web0*' --to /opt/redeye/bin/redeye --yes --json
                """ + ExitStatus.section(ExitStatus.deployPartial, ExitStatus.deployFailed))

        @OptionGroup var common: RoleRun
        @Option(help: ArgumentHelp("Only these hosts of the role (a selection, as deploy --hosts).", valueName: "sel"))
        var hosts: String?
        @Option(help: ArgumentHelp("The executable to install (default: this redeye).", valueName: "file"))
        var binary: String?
        @Option(help: ArgumentHelp("Where it goes on the hosts (absolute).", valueName: "path")) var to: String?
        @Flag(help: "Install even where a compatible version answers already.") var force = false
        @Option(help: "Hosts worked on at once.") var window = 10

        func validate() throws {
            if let to, !to.hasPrefix("/") { throw ValidationError("--to must be an absolute path (got '\(to)')") }
            guard window >= 1 else { throw ValidationError("--window must be at least 1") }
        }

        func run() throws {
            try reportingErrors {
                let plans = try common.global.loadPlans()
                var options = DeployOptions(role: common.role, cacheDirectory: try common.global.cacheDirectory())
                options.hosts = try hosts.map { text in
                    do { return try HostSelection(parsing: text) } catch { throw ValidationError("\(error)") }
                }
                if options.hosts != nil { options.inventoryFacts = try common.global.inventoryHostFacts(plans) }
                let settings = try common.global.sshSettings()
                let targets = try Rollout(plans: plans, options: options, settings: settings, output: printError)
                    .targets()
                let destination =
                    to ?? (settings.remoteRedeye.hasPrefix("/") ? settings.remoteRedeye : "/usr/local/bin/redeye")
                let source = binary ?? "/proc/self/exe"
                guard let data = FileManager.default.contents(atPath: source), !data.isEmpty else {
                    throw ValidationError("cannot read the executable \(source)")
                }
                try DeployCommand.confirm(
                    "install redeye at \(destination) on \(counted(targets.count, "host")) of \(common.role)?",
                    yes: common.yes)
                var bootstrap = RedeyeBootstrap(executable: Array(data), destination: destination, settings: settings)
                bootstrap.force = force
                bootstrap.window = window
                let results = bootstrap.run(targets, log: printError)
                if common.json {
                    try printJSON(results)
                } else {
                    print(
                        table(
                            [["HOST", "OUTCOME", "BEFORE", "AFTER"]]
                                + results.map { [$0.host, $0.outcome.rawValue, $0.before ?? "-", $0.after ?? "-"] }))
                }
                let failed = results.filter { $0.outcome == .failed }.count
                if failed == results.count { throw ExitCode(ExitStatus.deployFailed) }
                if failed > 0 { throw ExitCode(ExitStatus.deployPartial) }
            }
        }
    }
}
