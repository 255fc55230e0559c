import ArgumentParser
import Bundles
import FoundationEssentials
import Git
import Glibc
import Net
import Service

extension BundleCommand {
    struct Rollback: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "rollback",
            abstract: "Switch an install root back to its previous release (or to --to ID).",
            discussion: """
                EXAMPLES:
                  redeye bundle rollback --root /opt/web
                  redeye bundle rollback --root /opt/web --to 3f2a9c1b07de
                """ + ExitStatus.section())

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
}
