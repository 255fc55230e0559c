import ArgumentParser
import Bundles
import Foundation
import Git
import Net
import Service

extension BundleCommand {
    struct Commit: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "commit",
            abstract: "Verify a bundle and commit it with its manifest to a bundle repository, with an annotated tag.",
            discussion: """
                The repository (bare when its name ends in .git) is created on first use. Tags are never moved.

                EXAMPLES:
                  redeye bundle commit ./web --repo web.git --tag v1652 -m "release 1652"
                """ + ExitStatus.section())

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
}
