import ArgumentParser
import Bundles
import Foundation
import Git
import Net
import Service

extension BundleCommand {
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
                """ + ExitStatus.section())

        @Argument(help: "The bundle directory.") var directory: String
        @Flag(help: "Print the findings as JSON.") var json = false

        func run() throws {
            try reportingErrors {
                do {
                    let (manifest, _) = try BundleRepository.load(directory: directory)
                    if json {
                        print(#"{"valid": true, "paths": \#(manifest.entries.count)}"#)
                    } else {
                        print(
                            "\(directory): the tree and the manifest agree (\(counted(manifest.entries.count, "path")))"
                        )
                    }
                } catch let error as BundleError {
                    if json { print("{\"valid\": false, \"findings\": \(jsonString(error.message))}") }
                    printError(error.message)
                    throw ExitCode(ExitStatus.failure)
                }
            }
        }
    }
}
