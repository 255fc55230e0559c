import ArgumentParser
import Bundles
import FoundationEssentials
import Git
import Glibc
import Net
import Service
import Text

extension BundleCommand {
    struct Status: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "status",
            abstract: "The current release of an install root, its ref and time, and any drift from its manifest.",
            discussion: """
                EXAMPLES:
                  redeye bundle status --root /opt/web
                  redeye bundle status --root /opt/web --json
                """ + ExitStatus.section())

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
                            " (\($0.ref) from \($0.repository), installed \(iso8601($0.installedAt)))"
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
}
