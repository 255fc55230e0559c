import ArgumentParser
import Database
import Deploy
import FoundationEssentials
import Glibc
import Inventory
import Plan
import SSH
import Schema

extension DeployCommand {
    struct Lock: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "lock",
            abstract: "Show or release roles' deploy locks.",
            discussion: """
                A deploy holds its role's lock in the inventory while it runs and refreshes it every 30 s; one \
                not refreshed for 10 minutes is reported as stale. Releasing a lock another running deploy holds \
                lets a second deploy start beside it: check first.

                EXAMPLES:
                  redeye deploy lock status
                  redeye deploy lock release web
                """ + ExitStatus.section(5),
            subcommands: [Status.self, Release.self])

        struct Status: ParsableCommand {
            static let configuration = CommandConfiguration(
                commandName: "status", abstract: "Who holds which role's lock.",
                discussion: """
                    EXAMPLES:
                      redeye deploy lock status
                      redeye deploy lock status --db postgres://redeye@db.example/inventory --json
                    """ + ExitStatus.section(5))
            @OptionGroup(title: "Global Options") var global: GlobalOptions
            @Flag(help: "Print JSON.") var json = false

            func run() throws {
                try reportingErrors {
                    let journal = try global.openExistingJournal()
                    let locks = try journal.locks()
                    if json {
                        try printJSON(locks)
                        return
                    }
                    if locks.isEmpty { print("no deploy locks held") }
                    for lock in locks {
                        let stale = journal.isStale(lock, 600) ? "  STALE (no heartbeat for 10 minutes)" : ""
                        print(
                            "\(lock.role): \(lock.owner) since \(lock.acquiredAt ?? "?")"
                                + (lock.deployment.map { ", deployment \($0)" } ?? "")
                                + (lock.message.map { " (\($0))" } ?? "") + stale)
                    }
                }
            }
        }

        struct Release: ParsableCommand {
            static let configuration = CommandConfiguration(
                commandName: "release", abstract: "Break a role's deploy lock.",
                discussion: """
                    Exits 5 when the role holds no lock.

                    EXAMPLES:
                      redeye deploy lock release web
                    """ + ExitStatus.section(5))
            @Argument(help: "The role.") var role: String
            @OptionGroup(title: "Global Options") var global: GlobalOptions

            func run() throws {
                try reportingErrors {
                    if try global.openExistingJournal().releaseLock(role: role) {
                        print("released the deploy lock of \(role)")
                    } else {
                        printError("redeye: \(role) holds no deploy lock")
                        throw ExitCode(ExitStatus.notFound)
                    }
                }
            }
        }
    }
}
