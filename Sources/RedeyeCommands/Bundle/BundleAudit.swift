import ArgumentParser
import Bundles
import FoundationEssentials
import Git
import Glibc
import Net
import Service

extension BundleCommand {
    struct Audit: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "audit",
            abstract: "The least-bit audit of the installed release: exit 3 on any finding.",
            discussion: """
                The verify rules, plus owner and group as installed. Each finding is printed on standard error; \
                the exit status tells drift (3) from a release that cannot be audited (1). `bundle install \
                --repair` and `deploy --repair` rewrite what changed.

                EXAMPLES:
                  redeye bundle audit --root /opt/web
                """ + ExitStatus.section(3))

        @Option(help: "The install root.") var root: String
        @Option(help: "Where the file system starts.") var prefix: String = "/"

        func run() throws {
            try reportingErrors {
                let findings = try BundleInstaller(root: root, prefix: prefix).audit()
                if findings.isEmpty {
                    print("\(root): the current release matches its manifest exactly")
                } else {
                    findings.forEach { printError("\(root): \($0)") }
                    throw ExitCode(ExitStatus.drift)
                }
            }
        }
    }
}
