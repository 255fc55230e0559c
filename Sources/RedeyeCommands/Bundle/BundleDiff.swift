import ArgumentParser
import Bundles
import Foundation
import Git
import Net
import Service

extension BundleCommand {
    struct Diff: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "diff",
            abstract: "What changed between two bundle versions, by path.",
            discussion: """
                EXAMPLES:
                  redeye bundle diff --repo web.git v1651 v1652
                """ + ExitStatus.section())

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
}
