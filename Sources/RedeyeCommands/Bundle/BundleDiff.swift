import ArgumentParser
import Bundles
import FoundationEssentials
import Git
import Glibc
import Net
import Service

extension BundleCommand {
    struct Diff: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "diff",
            abstract: "What changed between two bundle versions, by path.",
            discussion: """
                --content adds the content of every file whose bytes changed: a unified diff (libgit2's) for \
                text, sizes and SHA-256 for binary files and files over 1 MiB.

                EXAMPLES:
                  redeye bundle diff --repo web.git v1651 v1652
                  redeye bundle diff --repo web.git v1651 v1652 --content
                """ + ExitStatus.section())

        @Option(help: "The bundle repository (path).") var repo: String
        @Argument(help: "The older version.") var from: String
        @Argument(help: "The newer version.") var to: String
        @Flag(help: "Also show each changed file's content (a unified diff of text).") var content = false
        @Flag(help: "Print the changes as JSON.") var json = false

        func run() throws {
            try reportingErrors {
                let repository = try BundleRepository(path: repo, create: false)
                let changes = try repository.diff(from, to)
                let contents = content ? try repository.contentDiff(from, to) : []
                if json {
                    struct Output: Encodable {
                        var changes: [BundleChange]
                        var content: [ContentDiff]?
                    }
                    if content {
                        try printJSON(Output(changes: changes, content: contents))
                    } else {
                        try printJSON(changes)
                    }
                } else if changes.isEmpty {
                    print("no changes")
                } else {
                    changes.forEach { print($0) }
                    if !contents.isEmpty { print("") }
                    contents.forEach { print($0, terminator: "") }
                }
            }
        }
    }
}
