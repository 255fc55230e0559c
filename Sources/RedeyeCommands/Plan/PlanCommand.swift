import ArgumentParser
import FoundationEssentials
import Git
import Glibc
import Plan
import Settings
import Signing

struct PlanCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plan",
        abstract: "Validate, show, sign, commit, verify and compare role plans.",
        discussion: """
            A plans tree holds site.yaml, roles/NAME.yaml and hosts.yaml (or hosts/*.yaml); see docs/plans.md.

            EXAMPLES:
              redeye plan validate --plans Plans
              redeye plan show web01
              redeye plan commit --plans Plans --repo /srv/redeye/plans.git -m "web to v1653" --sign-key ~/.ssh/id_ed25519
              redeye plan verify --repo /srv/redeye/plans.git --ref main --allowed-signers /etc/redeye/allowed_signers
              redeye plan diff HEAD~1 HEAD --repo /srv/redeye/plans.git
            """ + ExitStatus.section(5, 6),
        subcommands: [Validate.self, Show.self, Commit.self, Verify.self, Diff.self, Sync.self]
    )

    /// The plans repository a command reads or commits to: `--repo`, else the `plans.repo` setting.
    struct RepositoryOption: ParsableArguments {
        @Option(help: ArgumentHelp("The plans repository, a path (plans.repo).", valueName: "path")) var repo: String?

        var flag: [Setting: (name: String, values: [String])] {
            repo.map { [.plansRepository: ("repo", [$0])] } ?? [:]
        }

        func path(_ settings: Settings) throws -> String {
            guard let path = settings.text(.plansRepository) else {
                throw ValidationError("no plans repository: pass --repo or set plans.repo in redeye.yaml")
            }
            return path
        }
    }

}

func jsonString(_ s: String) -> String {
    String(decoding: (try? JSONEncoder().encode(s)) ?? Data("\"\"".utf8), as: UTF8.self)
}
