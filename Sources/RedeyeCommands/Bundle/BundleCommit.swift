import ArgumentParser
import Bundles
import FoundationEssentials
import Git
import Glibc
import Net
import Service
import Signing

extension BundleCommand {
    struct Commit: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "commit",
            abstract: "Verify a bundle and commit it with its manifest to a bundle repository, with an annotated tag.",
            discussion: """
                The repository (bare when its name ends in .git) is created on first use. Tags are never moved. \
                With --sign-key the tag is SSH-signed (namespace "git") as `git tag -s` signs with \
                gpg.format=ssh: `git verify-tag` and `redeye bundle verify --tag` accept it.

                EXAMPLES:
                  redeye bundle commit ./web --repo web.git --tag v1652 -m "release 1652"
                  redeye bundle commit ./web --repo web.git --tag v1653 --sign-key ~/.ssh/id_ed25519
                """ + ExitStatus.section())

        @Argument(help: "The bundle directory.") var directory: String
        @Option(help: "The bundle repository (path).") var repo: String
        @Option(help: "The version's tag.") var tag: String
        @Option(name: .shortAndLong, help: "The commit and tag message.") var message: String?
        @Option(help: ArgumentHelp("Author as 'Name <email>' (default: git config).", valueName: "author")) var author:
            String?
        @Option(
            name: .customLong("sign-key"),
            help: ArgumentHelp(
                "Sign the tag with this SSH key: a private key file, or KEY.pub whose private half ssh-agent holds.",
                valueName: "key"))
        var signKey: String?

        func run() throws {
            try reportingErrors {
                let signer = try signKey.map { try loadSigner(keyPath: $0) }
                let repository = try BundleRepository(path: repo, create: true)
                let person = try commitAuthor(author, configured: repository.repository)
                let id = try repository.commit(
                    directory: directory, tag: tag, message: message ?? "bundle \(tag)", author: person,
                    signer: signer)
                print("committed \(id.short) to \(repo), tagged \(tag)\(signer == nil ? "" : " (signed)")")
            }
        }
    }
}
