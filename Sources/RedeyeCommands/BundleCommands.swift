import ArgumentParser
import Bundle
import Foundation
import Git
import Net
import Service

struct BundleCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bundle",
        abstract: "Least-bit deployment bundles: describe, verify, version in git, install, roll back, audit.",
        discussion: """
            A bundle is a directory plus redeye-bundle.yaml, which names every path with its kind, mode, owner, \
            group and sha256, and nothing else. See docs/bundles.md.

            EXAMPLES:
              redeye bundle init ./web --owner root --group web
              redeye bundle commit ./web --repo /srv/redeye/bundles/web.git --tag v1652 -m "release 1652"
              redeye bundle install --repo /srv/redeye/bundles/web.git --ref v1652 --root /opt/web
              redeye bundle rollback --root /opt/web
            """,
        subcommands: [
            Init.self, Verify.self, Commit.self, Log.self, Diff.self, Install.self, Apply.self, Rollback.self,
            Status.self, Audit.self,
        ]
    )

    struct Init: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "init",
            abstract: "Write the manifest of a directory: every path, its mode as found, owner and group as given.",
            discussion: """
                An existing manifest keeps its hooks and the owners of the paths it already lists.

                EXAMPLES:
                  redeye bundle init ./web
                  redeye bundle init ./web --owner root --group web
                """)

        @Argument(help: "The bundle directory.") var directory: String
        @Option(help: "Owner of paths the manifest does not list yet.") var owner: String = "root"
        @Option(help: "Group of paths the manifest does not list yet.") var group: String = "root"

        func run() throws {
            try reportingErrors {
                let path = directory + "/" + Manifest.fileName
                let previous = FileManager.default.contents(atPath: path).flatMap {
                    try? Manifest.parse(Array($0), file: path)
                }
                let manifest = try Manifest.describe(
                    try TreeScanner.scan(directory), owner: owner, group: group, previous: previous)
                try manifest.yaml.write(toFile: path, atomically: true, encoding: .utf8)
                print("wrote \(path) (\(manifest.entries.count) paths)")
            }
        }
    }

    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "verify",
            abstract: "Check that a directory and its manifest agree exactly (each finding names the path).",
            discussion: """
                Refused: anything on disk the manifest does not name, anything missing, a wrong mode or content, \
                a world-writable file, a setuid/setgid bit the manifest does not declare, a path with '..', an \
                absolute path, a symlink that escapes the bundle.

                EXAMPLES:
                  redeye bundle verify ./web
                  redeye bundle verify ./web --json
                """)

        @Argument(help: "The bundle directory.") var directory: String
        @Flag(help: "Print the findings as JSON.") var json = false

        func run() throws {
            try reportingErrors {
                do {
                    let (manifest, _) = try BundleRepository.load(directory: directory)
                    if json {
                        print(#"{"valid": true, "paths": \#(manifest.entries.count)}"#)
                    } else {
                        print("\(directory): the tree and the manifest agree (\(manifest.entries.count) paths)")
                    }
                } catch let error as BundleError {
                    if json { print("{\"valid\": false, \"findings\": \(jsonString(error.message))}") }
                    printError(error.message)
                    throw ExitCode(ExitStatus.failure)
                }
            }
        }
    }

    struct Commit: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "commit",
            abstract: "Verify a bundle and commit it with its manifest to a bundle repository, with an annotated tag.",
            discussion: """
                The repository (bare when its name ends in .git) is created on first use. Tags are never moved.

                EXAMPLES:
                  redeye bundle commit ./web --repo web.git --tag v1652 -m "release 1652"
                """)

        @Argument(help: "The bundle directory.") var directory: String
        @Option(help: "The bundle repository (path).") var repo: String
        @Option(help: "The version's tag.") var tag: String
        @Option(name: .shortAndLong, help: "The commit and tag message.") var message: String?
        @Option(help: ArgumentHelp("Author as 'Name <email>' (default: git config).", valueName: "author")) var author:
            String?

        func run() throws {
            try reportingErrors {
                let repository = try BundleRepository(path: repo, create: true)
                let now = Int64(Date().timeIntervalSince1970)
                guard
                    let person = author.flatMap({ GitPerson($0, time: now) })
                        ?? repository.repository.configuredPerson().map({
                            var p = $0
                            p.time = now
                            return p
                        })
                else {
                    throw ValidationError(
                        "no author: pass --author 'Name <email>' or set git config user.name and user.email")
                }
                let id = try repository.commit(
                    directory: directory, tag: tag, message: message ?? "bundle \(tag)", author: person)
                print("committed \(id.short) to \(repo), tagged \(tag)")
            }
        }
    }

    struct Log: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "log",
            abstract: "List the versions (tags) of a bundle repository.",
            discussion: """
                EXAMPLES:
                  redeye bundle log --repo web.git
                """)

        @Option(help: "The bundle repository (path).") var repo: String
        @Flag(help: "Print the versions as JSON.") var json = false

        func run() throws {
            try reportingErrors {
                let repository = try BundleRepository(path: repo, create: false)
                let tags = try repository.repository.tags().sorted {
                    ($0.tagger?.time ?? 0, $0.name) < ($1.tagger?.time ?? 0, $1.name)
                }
                if json {
                    struct Version: Encodable {
                        var tag: String; var commit: String; var message: String?; var time: Int64?
                    }
                    try printJSON(
                        tags.map {
                            Version(
                                tag: $0.name, commit: $0.commit.hex,
                                message: $0.message?.trimmingCharacters(in: .newlines), time: $0.tagger?.time)
                        })
                    return
                }
                for tag in tags {
                    let when =
                        tag.tagger.map {
                            ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: TimeInterval($0.time)))
                        } ?? ""
                    print(
                        "\(tag.name)  \(tag.commit.short)  \(when)  \(tag.message?.split(separator: "\n").first ?? "")")
                }
            }
        }
    }

    struct Diff: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "diff",
            abstract: "What changed between two bundle versions, by path.",
            discussion: """
                EXAMPLES:
                  redeye bundle diff --repo web.git v1651 v1652
                """)

        @Option(help: "The bundle repository (path).") var repo: String
        @Argument(help: "The older version.") var from: String
        @Argument(help: "The newer version.") var to: String
        @Flag(help: "Print the changes as JSON.") var json = false

        func run() throws {
            try reportingErrors {
                let changes = try BundleRepository(path: repo, create: false).diff(from, to)
                if json {
                    try printJSON(changes)
                } else if changes.isEmpty {
                    print("no changes")
                } else {
                    changes.forEach { print($0) }
                }
            }
        }
    }

    struct Install: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "install",
            abstract: "Install a bundle version under an install root and switch to it atomically.",
            discussion: """
                Fetches through libgit2, writes ROOT/releases/<id> (unchanged files hard-linked from the current \
                release), applies modes and owners, checks every hash against the manifest, runs the hooks and \
                renames ROOT/current over to it. Installing the current release does nothing.

                EXAMPLES:
                  redeye bundle install --repo /srv/redeye/bundles/web.git --ref v1652 --root /opt/web
                  redeye bundle install --repo file:///srv/bundles/web.git --ref v1652 --root /opt/web --keep 3 --json
                  redeye bundle install --repo ssh://deploy@bundles.example:2222/srv/web.git --ref v1652 --root /opt/web --ssh-key /etc/redeye/id_ed25519
                """)

        @Option(help: "The bundle repository: a path, file:// or ssh://USER@HOST[:PORT]/PATH URL.") var repo: String
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
                installer.accounts = accounts(user: user, group: group)
                let outcome = try installer.install(repository: repo, ref: ref)
                if json {
                    try printJSON(outcome)
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

                EXAMPLES:
                  redeye bundle apply --root /opt/web --objects /opt/web/.redeye/incoming/42 \\
                      --commit 3f2a9c1b07de… --ref v1652 --repository /srv/bundles/web.git < manifest.yaml
                  redeye bundle apply --root /opt/web --objects /opt/web/.redeye/incoming/42 \\
                      --commit 3f2a9c1b07de… --ref v1652 --repository /srv/bundles/web.git \\
                      --restart --unit web.service --json < manifest.yaml
                """)

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
        @Flag(help: "Print the outcome as JSON.") var json = false

        func validate() throws {
            if (user == nil) != (group == nil) { throw ValidationError("--user and --group go together") }
            if !restart, !units.isEmpty || command != nil {
                throw ValidationError("--unit and --run take effect only with --restart")
            }
        }

        func run() throws {
            let input = Array(FileHandle.standardInput.readDataToEndOfFile())
            try reportingErrors {
                let installer = BundleInstaller(
                    root: root, prefix: prefix, keep: max(1, keep), progress: { if !json { printError($0) } })
                let request = ApplyRequest(
                    redeye: "redeye", root: root, objects: objects, commit: commit, ref: ref, repository: repository,
                    keep: max(1, keep), accounts: accounts(user: user, group: group),
                    restart: restart ? RestartRequest(units: units, run: command) : nil)
                let (exit, report) = try installer.apply(request, manifestInput: input)
                if json {
                    try printJSON(report)
                } else if exit == .missingContent {
                    printError(
                        "redeye: \(report.missing?.count ?? 0) files' content was neither sent nor found on the host")
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

    struct Rollback: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "rollback",
            abstract: "Switch an install root back to its previous release (or to --to ID).",
            discussion: """
                EXAMPLES:
                  redeye bundle rollback --root /opt/web
                  redeye bundle rollback --root /opt/web --to 3f2a9c1b07de
                """)

        @Option(help: "The install root.") var root: String
        @Option(help: "Where the file system starts.") var prefix: String = "/"
        @Option(help: "The release to switch to.") var to: String?

        func run() throws {
            try reportingErrors {
                let (from, to) = try BundleInstaller(root: root, prefix: prefix).rollback(to: to)
                print("current: \(from ?? "none") → \(to)")
            }
        }
    }

    struct Status: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "status",
            abstract: "The current release of an install root, its ref and time, and any drift from its manifest.",
            discussion: """
                EXAMPLES:
                  redeye bundle status --root /opt/web
                  redeye bundle status --root /opt/web --json
                """)

        @Option(help: "The install root.") var root: String
        @Option(help: "Where the file system starts.") var prefix: String = "/"
        @Flag(help: "Print the status as JSON.") var json = false

        func run() throws {
            try reportingErrors {
                let status = try BundleInstaller(root: root, prefix: prefix).status()
                if json {
                    try printJSON(status)
                    return
                }
                guard let current = status.current else {
                    print("\(root): no current release")
                    return
                }
                print(
                    "current   \(current)"
                        + (status.record.map {
                            " (\($0.ref) from \($0.repository), installed \(ISO8601DateFormatter().string(from: $0.installedAt)))"
                        } ?? ""))
                print("releases  \(status.releases.map(\.id).joined(separator: ", "))")
                if status.drift.isEmpty {
                    print("drift     none")
                } else {
                    status.drift.forEach { print("drift     \($0)") }
                }
            }
        }
    }

    struct Audit: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "audit",
            abstract: "The least-bit audit of the installed release: exit 1 on any finding.",
            discussion: """
                The verify rules, plus owner and group as installed.

                EXAMPLES:
                  redeye bundle audit --root /opt/web
                """)

        @Option(help: "The install root.") var root: String
        @Option(help: "Where the file system starts.") var prefix: String = "/"

        func run() throws {
            try reportingErrors {
                let findings = try BundleInstaller(root: root, prefix: prefix).audit()
                if findings.isEmpty {
                    print("\(root): the current release matches its manifest exactly")
                } else {
                    findings.forEach { printError("\(root): \($0)") }
                    throw ExitCode(ExitStatus.failure)
                }
            }
        }
    }
}

/// `--user`/`--group` as the installer's accounts (validation makes them come together).
func accounts(user: String?, group: String?) -> InstallAccounts? {
    guard let user, let group else { return nil }
    return InstallAccounts(user: user, group: group)
}
