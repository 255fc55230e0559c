import ArgumentParser
import Bundles
import Failures
import Glibc
import InstallRoot

/// The `redeye` command line: a thin layer over the library targets, one file per command group.
public struct Redeye: ParsableCommand {
    public static let version = RedeyeVersion.current

    public static let configuration = CommandConfiguration(
        commandName: "redeye",
        abstract: "Declarative provisioning and self-deploy for Linux fleets.",
        discussion: """
            Everything a host must become is declared in YAML and versioned in git. The operator's commands \
            read their settings from redeye.yaml (the nearest one at or above the working directory), REDEYE_* \
            variables and flags, strongest last: `redeye config show` prints them (docs/cli.md).

            EXAMPLES:
              redeye config show
              redeye schema validate
              redeye schema migrate --db sqlite:inventory.db
              redeye inventory put host name=web01 kind=virtual
              redeye plan validate --plans Plans

            EXIT CODES:
              0   success
              1   failure: bad input, a database error, a refused constraint
              3   drift: `schema plan --check` / `schema migrate --check` found changes to apply;
                  `bundle audit`: the installed release differs from its manifest
              4   refused: a migration holds destructive or conflicting changes (nothing was changed)
              5   not found: `inventory get` / `inventory delete` / `plan show` found no such record;
                  `boot status`: the agent has not run since the host started
              6   untrusted: `plan verify` found no valid signature by an allowed signer
              7   missing content: `bundle apply` needs files that were not sent (the deploy sends them)
              8-10, 130  `deploy`: partial, none, locked, interrupted (see redeye deploy --help)
              11  enlisted: `boot` found no host with this machine's MAC in the plans
              12  `bundle apply --restart`: switched, but restarting the services failed
              64  usage: unknown command or option, missing argument
            """,
        version: version,
        subcommands: [
            SchemaCommand.self, InventoryCommand.self, PlanCommand.self, BundleCommand.self, DeployCommand.self,
            ServiceCommand.self, BootCommand.self, ImageCommand.self, StatusCommand.self, ConfigCommand.self,
        ]
    )

    public init() {}
}

/// Exit statuses, documented in `redeye --help` and docs/cli.md.
enum ExitStatus {
    static let failure: Int32 = 1
    static let drift: Int32 = 3
    static let refused: Int32 = 4
    static let notFound: Int32 = 5
    static let untrusted: Int32 = 6
    static let missingContent = ApplyExit.missingContent.rawValue
    /// A deploy where some hosts failed (others succeeded).
    static let deployPartial: Int32 = 8
    /// A deploy where no host succeeded.
    static let deployFailed: Int32 = 9
    /// The role is being deployed by someone else (its lock is held).
    static let locked: Int32 = 10
    static let enlisted: Int32 = 11
    static let restartFailed = ApplyExit.restartFailed.rawValue
    /// A boot that did its work but could not record it in the inventory (the record is queued on the host).
    static let notRecorded: Int32 = 13
    /// Stopped by Ctrl-C or SIGTERM (128 + SIGINT, as shells report it).
    static let interrupted: Int32 = 130
    /// An unknown command or option, a missing argument, or no arguments at all.
    static let usage: Int32 = 64

    /// What each status means, in the words every command's help uses.
    static let meanings: [Int32: String] = [
        0: "success",
        1: "failure: bad input, a database error, a refused constraint",
        3: "drift: changes found (to apply, with --check; in the installed release, by an audit)",
        4: "refused: destructive, or reaches other records; nothing changed",
        5: "not found: no such record, host, deployment or status",
        6: "untrusted: no valid signature by an allowed signer",
        7: "missing content: files not sent (a deploy sends them and retries)",
        8: "partial: some hosts failed, were rolled back or were not reached",
        9: "no host succeeded",
        10: "locked: another deploy holds the role's lock",
        12: "switched, but restarting the services failed",
        11: "enlisted: no host in the plans has this machine's MAC",
        13: "not recorded: installed; the record waits on the host for the next pass",
        130: "interrupted (Ctrl-C or SIGTERM): `redeye deploy resume` continues",
        64: "usage: unknown command or option, missing argument",
    ]

    /// The EXIT CODES section of a command's help: success, failure and usage, and the command's own `codes`.
    static func section(_ codes: Int32...) -> String {
        let all = [0, 1] + codes.filter { $0 != 0 && $0 != 1 && $0 != 64 } + [64]
        return "\n\nEXIT CODES:\n"
            + all.map { code in
                let number = String(code)
                return "  " + number + String(repeating: " ", count: max(1, 4 - number.count)) + (meanings[code] ?? "")
            }.joined(separator: "\n")
    }

    /// The exit status of a kind of failure: the one place errors become exit codes.
    static func of(_ kind: FailureKind) -> Int32 {
        switch kind {
        case .failure: failure
        case .refused: refused
        case .notFound: notFound
        case .untrusted: untrusted
        case .locked: locked
        case .missingContent: missingContent
        }
    }
}

extension Redeye {
    /// The entry point. It fails closed when the process cannot see its own arguments (Linux hands them over
    /// through /proc/self/cmdline: without /proc, `redeye boot --once` would run as a bare `redeye`, print
    /// the help and exit 0, "this host runs its release"), and a bare `redeye` is a usage error.
    public static func start(_ arguments: [String] = CommandLine.arguments) -> Never {
        guard !arguments.isEmpty else {
            printError("redeye: cannot read this process's arguments (is /proc mounted?); did nothing")
            Glibc.exit(ExitStatus.usage)
        }
        guard arguments.count > 1 else {
            printError(helpMessage())
            Glibc.exit(ExitStatus.usage)
        }
        main(Array(arguments.dropFirst()))
        Glibc.exit(0)
    }
}
