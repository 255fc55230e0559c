import ArgumentParser
import FoundationEssentials
import Git
import Glibc
import Plan
import Signing

extension PlanCommand {
    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "show",
            abstract: "Print the fully resolved plan of one host, found by name or MAC address.",
            discussion: """
                EXAMPLES:
                  redeye plan show web01
                  redeye plan show 52:54:00:12:34:56 --json
                """ + ExitStatus.section(5))

        @OptionGroup(title: "Global Options") var global: GlobalOptions
        @Argument(help: "A host name or one of its MAC addresses.") var host: String
        @Flag(help: "Print the plan as JSON.") var json = false

        func run() throws {
            try reportingErrors {
                let plans = try global.loadPlans()
                guard let found = plans.host(host) else {
                    printError("redeye: no host named or with MAC '\(host)' in \(try global.plansDirectory())")
                    throw ExitCode(ExitStatus.notFound)
                }
                let plan = plans.plan(for: found)
                if json { try printJSON(plan) } else { print(Plans.describe(plan)) }
            }
        }
    }
}
