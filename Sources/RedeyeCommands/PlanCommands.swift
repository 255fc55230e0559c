import ArgumentParser
import Foundation
import Git
import Plan
import Signing

struct PlanCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plan",
        abstract: "Validate, show, sign, commit, verify and compare role plans.",
        discussion: """
            A plans tree holds site.yaml, roles/NAME.yaml and hosts.yaml (or hosts/*.yaml); see docs/plans.md.

            EXAMPLES:
              redeye plan validate --plans Plans
              redeye plan show web01
              redeye plan commit --plans Plans --repo /srv/redeye/plans.git -m "web to v1653" --sign-key ~/.ssh/id_ed25519
              redeye plan verify --repo /srv/redeye/plans.git --ref main --allowed-signers /etc/redeye/allowed_signers
              redeye plan diff HEAD~1 HEAD --repo /srv/redeye/plans.git
            """,
        subcommands: [Validate.self, Show.self, Commit.self, Verify.self, Diff.self]
    )

    struct PlansOption: ParsableArguments {
        @Option(help: ArgumentHelp("The plans directory.", valueName: "dir")) var plans: String = "Plans"

        func load() throws -> Plans { try PlanLoader().load(directory: plans) }
    }

    struct Validate: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "validate",
            abstract: "Check a plans tree: every reference, MAC, address and template; all errors at once.",
            discussion: """
                EXAMPLES:
                  redeye plan validate
                  redeye plan validate --plans ./plans --json
                """)

        @OptionGroup var options: PlansOption
        @Flag(help: "Print a JSON summary or the errors.") var json = false

        func run() throws {
            do {
                let plans = try options.load()
                if json {
                    struct Summary: Encodable { var valid = true; var roles: Int; var hosts: Int; var sites: Int }
                    try printJSON(Summary(roles: plans.roles.count, hosts: plans.hosts.count, sites: plans.sites.count))
                } else {
                    print(
                        "\(options.plans): valid (\(plans.roles.count) roles, \(plans.hosts.count) hosts, \(plans.sites.count) sites)"
                    )
                }
            } catch let error as PlanError {
                try failValidation(
                    error.issues.map { ($0.location, $0.path, $0.message) }, text: error.description, noun: "plans",
                    json: json)
            }
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "show",
            abstract: "Print the fully resolved plan of one host, found by name or MAC address.",
            discussion: """
                EXAMPLES:
                  redeye plan show web01
                  redeye plan show 52:54:00:12:34:56 --json
                """)

        @OptionGroup var options: PlansOption
        @Argument(help: "A host name or one of its MAC addresses.") var host: String
        @Flag(help: "Print the plan as JSON.") var json = false

        func run() throws {
            try reportingErrors {
                let plans = try options.load()
                guard let found = plans.host(host) else {
                    printError("redeye: no host named or with MAC '\(host)' in \(options.plans)")
                    throw ExitCode(ExitStatus.notFound)
                }
                let plan = plans.plan(for: found)
                if json { try printJSON(plan) } else { print(Plans.describe(plan)) }
            }
        }
    }

    struct Commit: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "commit",
            abstract: "Validate the plans and commit them to a git repository, optionally SSH-signed.",
            discussion: """
                The repository (bare when its name ends in .git) is created on first use. The commit holds the \
                whole plans tree on branch main. An invalid plan is never committed; unchanged plans make no \
                commit. --sign-key takes an ed25519 or ECDSA private key in OpenSSH format, or a public key \
                (KEY.pub) whose private half ssh-agent holds; the signature is git's SSH format (gpgsig, \
                namespace git), which `git verify-commit` accepts with gpg.format=ssh.

                EXAMPLES:
                  redeye plan commit --repo plans.git -m "add web05"
                  redeye plan commit --repo plans.git -m "web to v1653" --sign-key ~/.ssh/id_ed25519
                  redeye plan commit --repo plans.git -m "x" --sign-key ~/.ssh/id_ed25519.pub --author "Ops <ops@example.org>"
                """)

        @OptionGroup var options: PlansOption
        @Option(help: "The plans repository (path).") var repo: String
        @Option(name: .shortAndLong, help: "The commit message.") var message: String
        @Option(help: "Sign with this key (OpenSSH private key, or KEY.pub held by ssh-agent).") var signKey: String?
        @Option(
            help: ArgumentHelp(
                "Author as 'Name <email>' (default: git config user.name/user.email).", valueName: "author"))
        var author: String?
        @Option(help: "The branch to commit to.") var branch: String = "main"
        @Flag(help: "Print the result as JSON.") var json = false

        func run() throws {
            try reportingErrors {
                let signer = try signKey.map { try loadSigner(keyPath: $0) }
                let repository = try PlanRepository(path: repo, create: true)
                let now = Int64(Date().timeIntervalSince1970)
                let person: GitPerson
                if let author {
                    guard let parsed = GitPerson(author, time: now) else {
                        throw ValidationError("--author must look like 'Name <email>'")
                    }
                    person = parsed
                } else if var configured = repository.repository.configuredPerson() {
                    configured.time = now
                    person = configured
                } else {
                    throw ValidationError(
                        "no author: pass --author 'Name <email>' or set git config user.name and user.email")
                }
                guard
                    let id = try repository.commit(
                        directory: options.plans, message: message, author: person, signer: signer, branch: branch)
                else {
                    if json {
                        print(#"{"committed": false}"#)
                    } else {
                        print("nothing to commit: the plans are unchanged on \(branch)")
                    }
                    return
                }
                if json {
                    print("{\"committed\": true, \"commit\": \"\(id.hex)\", \"signed\": \(signer != nil)}")
                } else {
                    print(
                        "committed \(id.short) to \(repo) (\(branch))"
                            + (signer.map { ", signed by \($0.publicKey)" } ?? ", unsigned"))
                }
            }
        }
    }

    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "verify",
            abstract: "Verify that a plans commit is SSH-signed by a trusted key (exit 6 when it is not).",
            discussion: """
                The allowed-signers file is git's format: `principals [namespaces="git"] [valid-after=…] [valid-before=…] KEYTYPE KEY`. \
                Refused: an unsigned commit, a malformed or truncated signature, another namespace, a key not in the \
                file or outside its validity at the commit's time or now, a signature that does not match the \
                content, and a branch's commit whose signed message names another branch (or none).

                EXAMPLES:
                  redeye plan verify --repo plans.git --ref main --allowed-signers /etc/redeye/allowed_signers
                  redeye plan verify --repo plans.git --ref v12 --allowed-signers allowed_signers --json
                """)

        @Option(help: "The plans repository (path).") var repo: String
        @Option(help: "The commit, tag or branch to verify.") var ref: String = "main"
        @Option(help: "The allowed-signers file.") var allowedSigners: String
        @Flag(help: "Print the result as JSON.") var json = false

        func run() throws {
            try reportingErrors {
                let signers = try AllowedSigners.load(path: allowedSigners)
                let repository = try PlanRepository(path: repo, create: false)
                do {
                    // A branch's commit must also name that branch in its signed message.
                    let isBranch = (try? repository.repository.resolveCommit("refs/heads/\(ref)")) != nil
                    let result = try repository.verify(ref, allowedSigners: signers, branch: isBranch ? ref : nil)
                    if json {
                        print(
                            "{\"verified\": true, \"commit\": \"\(result.commit.hex)\", \"principals\": [\(result.principals.map { "\"\($0)\"" }.joined(separator: ", "))], \"key\": \"\(result.key.fingerprint)\"}"
                        )
                    } else {
                        print(
                            "good signature on \(result.commit.short) by \(result.principals.joined(separator: ", ")) (\(result.key))"
                        )
                    }
                } catch let error as SigningError {
                    if json { print("{\"verified\": false, \"reason\": \(jsonString(error.message))}") }
                    printError("redeye: not trusted: \(error.message)")
                    throw ExitCode(ExitStatus.untrusted)
                }
            }
        }
    }

    struct Diff: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "diff",
            abstract: "Show what changed between two plans commits, per host and per role.",
            discussion: """
                EXAMPLES:
                  redeye plan diff HEAD~1 HEAD --repo plans.git
                  redeye plan diff v11 v12 --repo plans.git --json
                """)

        @Argument(help: "The older commit.") var from: String
        @Argument(help: "The newer commit.") var to: String
        @Option(help: "The plans repository (path).") var repo: String
        @Flag(help: "Print the differences as JSON.") var json = false

        func run() throws {
            try reportingErrors {
                let repository = try PlanRepository(path: repo, create: false)
                let (_, old) = try repository.plans(at: from)
                let (_, new) = try repository.plans(at: to)
                let diff = PlanDiff(from: old, to: new)
                if json { try printJSON(diff) } else { print(diff.text) }
            }
        }
    }
}

func jsonString(_ s: String) -> String {
    String(decoding: (try? JSONEncoder().encode(s)) ?? Data("\"\"".utf8), as: UTF8.self)
}
