import ArgumentParser
import FoundationEssentials
import Git
import Glibc
import Plan
import Signing

extension PlanCommand {
    struct Validate: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "validate",
            abstract: "Check a plans tree: every reference, MAC, address and template; all errors at once.",
            discussion: """
                EXAMPLES:
                  redeye plan validate
                  redeye plan validate --plans ./plans --json
                """ + ExitStatus.section())

        @OptionGroup(title: "Global Options") var global: GlobalOptions
        @Flag(help: "Print a JSON summary or the errors.") var json = false

        func run() throws {
            do {
                let plans = try global.loadPlans()
                if json {
                    struct Summary: Encodable { var valid = true; var roles: Int; var hosts: Int; var sites: Int }
                    try printJSON(Summary(roles: plans.roles.count, hosts: plans.hosts.count, sites: plans.sites.count))
                } else {
                    print(
                        "\(try global.plansDirectory()): valid (\(counted(plans.roles.count, "role")), \(counted(plans.hosts.count, "host")), \(counted(plans.sites.count, "site")))"
                    )
                }
            } catch let error as PlanError {
                try failValidation(
                    error.issues.map { ($0.location, $0.path, $0.message) }, text: error.description, noun: "plans",
                    json: json)
            }
        }
    }
}
