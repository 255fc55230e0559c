import ArgumentParser
import Deploy
import FoundationEssentials
import Glibc
import InstallRoot
import Inventory
import Text

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

                With --package, the Debian package (`make package`) goes instead, by SFTP into a new private \
                directory on the host (mktemp -d under /var/tmp), checked the same way, and is installed with \
                apt-get, which brings its Depends from the host's archive (dpkg -i where there is no apt-get); \
                the directory is removed either way, and /usr/bin/redeye must then answer a compatible version.

                EXAMPLES:
                  redeye deploy bootstrap web --yes
                  redeye deploy bootstrap web --hosts 'web0*' --to /opt/redeye/bin/redeye --yes --json
                  redeye deploy bootstrap web --package .build/package/redeye_0.1.0-1_amd64.deb --yes
                """ + ExitStatus.section(ExitStatus.deployPartial, ExitStatus.deployFailed))

        @OptionGroup var common: RoleRun
        @Option(help: ArgumentHelp("Only these hosts of the role (a selection, as deploy --hosts).", valueName: "sel"))
        var hosts: String?
        @Option(help: ArgumentHelp("The executable to install (default: this redeye).", valueName: "file"))
        var binary: String?
        @Option(help: ArgumentHelp("Install this Debian package of redeye with the hosts' apt.", valueName: "deb"))
        var package: String?
        @Option(help: ArgumentHelp("Where it goes on the hosts (absolute).", valueName: "path")) var to: String?
        @Flag(help: "Install even where a compatible version answers already.") var force = false
        @Option(help: "Hosts worked on at once.") var window = 10

        func validate() throws {
            if let to, !to.hasPrefix("/") { throw ValidationError("--to must be an absolute path (got '\(to)')") }
            guard window >= 1 else { throw ValidationError("--window must be at least 1") }
            if package != nil, binary != nil { throw ValidationError("--package and --binary do not go together") }
            if let package {
                let name = lastPathComponent(package)
                guard name.hasSuffix(".deb"), name.utf8.allSatisfy({ Self.packageNameBytes.contains($0) }) else {
                    throw ValidationError(
                        "--package must name a .deb file (letters, digits and ._+~- only; got '\(name)')")
                }
            }
        }

        static let packageNameBytes = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._+~-".utf8)

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
                    to
                    ?? (package != nil
                        ? "/usr/bin/redeye"
                        : settings.remoteRedeye.hasPrefix("/") ? settings.remoteRedeye : "/usr/local/bin/redeye")
                let source = package ?? binary ?? "/proc/self/exe"
                guard let data = FileManager.default.contents(atPath: source), !data.isEmpty else {
                    throw ValidationError("cannot read \(package == nil ? "the executable" : "the package") \(source)")
                }
                // A Debian package is an ar archive whose first member is debian-binary.
                if package != nil, !data.starts(with: Array("!<arch>\ndebian-binary".utf8)) {
                    throw ValidationError("\(source) is not a Debian package")
                }
                try DeployCommand.confirm(
                    "install redeye at \(destination) on \(counted(targets.count, "host")) of \(common.role)?",
                    yes: common.yes)
                var bootstrap = RedeyeBootstrap(executable: Array(data), destination: destination, settings: settings)
                bootstrap.force = force
                if let package { bootstrap.payload = .debianPackage(fileName: lastPathComponent(package)) }
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
