import ArgumentParser
import FoundationEssentials
import Git
import Glibc
import Plan
import Signing

extension PlanCommand {
    struct Diff: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "diff",
            abstract: "Show what changed between two plans commits, per host and per role.",
            discussion: """
                EXAMPLES:
                  redeye plan diff HEAD~1 HEAD --repo plans.git
                  redeye plan diff v11 v12 --repo plans.git --json
                """ + ExitStatus.section())

        @Argument(help: "The older commit.") var from: String
        @Argument(help: "The newer commit.") var to: String
        @OptionGroup var repoOption: RepositoryOption
        @OptionGroup(title: "Global Options") var global: GlobalOptions
        @Flag(help: "Print the differences as JSON.") var json = false

        func run() throws {
            try reportingErrors {
                let repository = try PlanRepository(
                    path: try repoOption.path(try global.settings(extra: repoOption.flag)), create: false)
                let (_, old) = try repository.plans(at: from)
                let (_, new) = try repository.plans(at: to)
                let diff = PlanDiff(from: old, to: new)
                if json { try printJSON(diff) } else { print(diff.text) }
            }
        }
    }
}
