import ArgumentParser
import Bundles
import FoundationEssentials
import Git
import Glibc
import Net
import Service

extension BundleCommand {
    struct Install: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "install",
            abstract: "Install a bundle version under an install root and switch to it atomically.",
            discussion: """
                Fetches through libgit2, writes ROOT/releases/<id> (unchanged files hard-linked from the current \
                release), applies modes and owners, checks every hash against the manifest, runs the hooks and \
                renames ROOT/current over to it. Installing the current release does nothing, unless --repair: then \
                the current release is audited and, if anything in it changed (an edited file, a mode or owner, a \
                file the manifest does not name), rewritten from the bundle in a fresh copy that is swapped in whole; \
                rewritten files are new files, so the fix never reaches another release through a hard link. The \
                services are not restarted (`redeye service restart` does).

                EXAMPLES:
                  redeye bundle install --repo /srv/redeye/bundles/web.git --ref v1652 --root /opt/web
                  redeye bundle install --repo /srv/redeye/bundles/web.git --ref v1652 --root /opt/web --repair
                  redeye bundle install --repo file:///srv/bundles/web.git --ref v1652 --root /opt/web --keep 3 --json
                  redeye bundle install --repo ssh://deploy@bundles.example:2222/srv/web.git --ref v1652 --root /opt/web --ssh-key /etc/redeye/id_ed25519
                  redeye bundle install --repo https://git.example.org/ops/web.git --ref v1652 --root /opt/web --ca-file /etc/redeye/ca.pem --token-file /etc/redeye/git.token
                """ + ExitStatus.section())

        @Option(help: "The bundle repository: a path, file://, ssh://USER@HOST[:PORT]/PATH or https:// URL.")
        var repo: String
        @Option(help: "The version: a tag, branch or commit.") var ref: String
        @Option(help: "The install root.") var root: String
        @Option(help: "Where the file system starts (for a root inside a test or image directory).") var prefix:
            String = "/"
        @Option(help: "Releases to keep.") var keep: Int = 5
        @Option(help: "The role's install user: files may be owned only by it or root (with --group).")
        var user: String?
        @Option(help: "The role's install group.") var group: String?
        @Option(
            help: ArgumentHelp(
                "known_hosts file trusted for ssh:// repositories (repeatable; default ~/.ssh/known_hosts and /etc/ssh/ssh_known_hosts).",
                valueName: "file"))
        var knownHosts: [String] = []
        @Option(
            help: ArgumentHelp(
                "Private key for ssh:// repositories (ed25519 or ECDSA; default: ssh-agent).", valueName: "file"))
        var sshKey: String?
        @Option(
            help: ArgumentHelp(
                "CA certificates (PEM) https:// servers are checked against (default: the system store).",
                valueName: "file"))
        var caFile: String?
        @Option(
            help: ArgumentHelp(
                "A file holding the token for an https:// server that asks for one (default: $REDEYE_GIT_TOKEN).",
                valueName: "file"))
        var tokenFile: String?
        @Flag(help: "Audit the current release and rewrite what changed in it.") var repair = false
        @Flag(help: "Print the outcome as JSON.") var json = false

        func validate() throws {
            if (user == nil) != (group == nil) { throw ValidationError("--user and --group go together") }
        }

        func run() throws {
            try reportingErrors {
                var installer = BundleInstaller(
                    root: root, prefix: prefix, keep: max(1, keep), progress: { if !json { printError($0) } })
                if !knownHosts.isEmpty { installer.knownHosts = knownHosts }
                installer.sshKey = sshKey
                installer.https = try https(caFile: caFile, tokenFile: tokenFile)
                installer.accounts = accounts(user: user, group: group)
                let outcome = try installer.install(repository: repo, ref: ref, repair: repair)
                if json {
                    try printJSON(outcome)
                } else if let repaired = outcome.repaired, !repaired.isEmpty {
                    for finding in repaired { print("repaired \(finding)") }
                    print(
                        "repaired release \(outcome.release) (\(ref)): \(counted(repaired.count, "finding")); \(counted(outcome.filesWritten, "file")) rewritten, \(outcome.filesLinked) unchanged"
                    )
                } else if outcome.repaired != nil {
                    print("\(ref) (\(outcome.release)) is current and matches its manifest; nothing to repair")
                } else if outcome.alreadyCurrent {
                    print("\(ref) (\(outcome.release)) is already current; nothing to do")
                } else {
                    print(
                        "installed \(ref) as release \(outcome.release): \(outcome.filesWritten) files written (\(outcome.bytesWritten) bytes), \(outcome.filesLinked) unchanged files linked"
                    )
                }
            }
        }
    }
}
