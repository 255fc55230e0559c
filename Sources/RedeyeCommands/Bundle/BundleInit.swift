import ArgumentParser
import Bundles
import FoundationEssentials
import Git
import Glibc
import Net
import Service

extension BundleCommand {
    struct Init: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "init",
            abstract: "Write the manifest of a directory: every path, its mode as found, owner and group as given.",
            discussion: """
                An existing manifest keeps its hooks and the owners of the paths it already lists.

                EXAMPLES:
                  redeye bundle init ./web
                  redeye bundle init ./web --owner root --group web
                """ + ExitStatus.section())

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
                print("wrote \(path) (\(counted(manifest.entries.count, "path")))")
            }
        }
    }
}
