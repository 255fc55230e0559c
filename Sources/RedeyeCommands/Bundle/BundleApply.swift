import ArgumentParser
import Bundles
import FileSystem
import FoundationEssentials
import Git
import Glibc
import Net
import Service

extension BundleCommand {
    struct Apply: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "apply",
            abstract: "Install a release a deploy staged on this host (the receiving end of `redeye deploy`).",
            discussion: """
                Reads the release's manifest from standard input, whole or as a delta against the current \
                release's manifest, and takes every file's content from --objects (files named by their sha256) \
                or from the current release. Same rules as `bundle install`: hashes verified, modes and owners \
                applied, hooks run, ROOT/current renamed over atomically, --keep releases kept.

                Exits 7 and prints {"missing": [sha256, …]} as JSON when content is neither staged nor on the \
                host (the deploy sends it and runs the command again).

                With --restart, the role's services are restarted once `current` has moved, as `service restart` \
                does (--unit, --run): a deploy then needs one remote command per host instead of two. Exits 12 \
                when the switch succeeded and the restart failed (the release stays switched; the deploy rolls \
                the host back).

                With --repair, a release that is current already is audited, and what changed in it (an edited \
                file, a mode, an owner, a file the manifest does not name) is rewritten from the staged content and \
                the files found intact, in a fresh copy swapped in whole; content changed on the host is reported \
                missing (exit 7) so that the deploy sends it. The services are restarted only when something was \
                rewritten.

                EXAMPLES:
                  redeye bundle apply --root /opt/web --objects /opt/web/.redeye/incoming/42 \\
                      --commit 3f2a9c1b07de… --ref v1652 --repository /srv/bundles/web.git < manifest.yaml
                  redeye bundle apply --root /opt/web --objects /opt/web/.redeye/incoming/42 \\
                      --commit 3f2a9c1b07de… --ref v1652 --repository /srv/bundles/web.git \\
                      --restart --unit web.service --json < manifest.yaml
                """ + ExitStatus.section(7, 12))

        @Option(help: "The install root.") var root: String
        @Option(help: "Where the file system starts.") var prefix: String = "/"
        @Option(help: "Directory of staged content, one file per sha256.") var objects: String
        @Option(help: "The release's commit id (40 hex digits).") var commit: String
        @Option(help: "The ref it was deployed as.") var ref: String
        @Option(help: "The bundle repository it came from (recorded).") var repository: String
        @Option(help: "Releases to keep.") var keep: Int = 5
        @Option(help: "The role's install user: files may be owned only by it or root (with --group).")
        var user: String?
        @Option(help: "The role's install group.") var group: String?
        @Flag(help: "After switching, restart the services (--unit, --run) as `service restart` does.")
        var restart = false
        @Option(name: .customLong("unit"), help: "With --restart: a systemd unit (repeatable).")
        var units: [String] = []
        @Option(name: .customLong("run"), help: "With --restart: the command to run where systemd is not running.")
        var command: String?
        @Flag(help: "When the release is current: audit it and rewrite what changed.") var repair = false
        @Flag(help: "Print the outcome as JSON.") var json = false

        func validate() throws {
            if (user == nil) != (group == nil) { throw ValidationError("--user and --group go together") }
            if !restart, !units.isEmpty || command != nil {
                throw ValidationError("--unit and --run take effect only with --restart")
            }
        }

        func run() throws {
            try reportingErrors {
                // A manifest of a million files is about 150 MB; nothing read is unbounded.
                let input = try readAll(STDIN_FILENO, limit: 1 << 30, display: "the manifest on standard input")
                let installer = BundleInstaller(
                    root: root, prefix: prefix, keep: max(1, keep), progress: { if !json { printError($0) } })
                let request = ApplyRequest(
                    redeye: "redeye", root: root, objects: objects, commit: commit, ref: ref, repository: repository,
                    keep: max(1, keep), accounts: accounts(user: user, group: group),
                    restart: restart ? RestartRequest(units: units, run: command) : nil, repair: repair)
                let (exit, report) = try installer.apply(request, manifestInput: input)
                if json {
                    try printJSON(report)
                } else if exit == .missingContent {
                    printError(
                        "redeye: \(report.missing?.count ?? 0) files' content was neither sent nor found on the host")
                } else if let repaired = report.repaired {
                    for finding in repaired { print("repaired \(finding)") }
                    print(
                        repaired.isEmpty
                            ? "\(ref) (\(report.release ?? "")) is current and matches its manifest; nothing to repair"
                            : "repaired release \(report.release ?? "") (\(ref)): \(counted(repaired.count, "finding"))"
                    )
                    if let services = report.services { print(services) }
                } else {
                    print(
                        report.alreadyCurrent == true
                            ? "\(ref) (\(report.release ?? "")) is already current; nothing to do"
                            : "installed \(ref) as release \(report.release ?? ""): \(report.filesWritten ?? 0) files written, \(report.filesLinked ?? 0) linked"
                    )
                    if let services = report.services { print(services) }
                }
                if let failure = report.restartError { printError("redeye: error: restart: \(failure)") }
                if exit != .switched { throw ExitCode(exit.rawValue) }
            }
        }
    }
}
