import ArgumentParser
import Foundation
import Git
import Plan
import Signing

extension PlanCommand {
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
}
