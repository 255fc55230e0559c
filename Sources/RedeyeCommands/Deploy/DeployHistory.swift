import ArgumentParser
import Database
import Deploy
import FoundationEssentials
import Glibc
import Inventory
import Plan
import SSH
import Schema
import Text

extension DeployCommand {
    struct History: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "history",
            abstract: "Past deploys (newest first), each with every host's outcome.",
            discussion: """
                EXAMPLES:
                  redeye deploy history
                  redeye deploy history web --limit 5 --json
                """ + ExitStatus.section())

        @Argument(help: "Only this role.") var role: String?
        @Option(help: "How many deployments.") var limit: Int = 10
        @OptionGroup(title: "Global Options") var global: GlobalOptions
        @Flag(help: "Print JSON.") var json = false

        func run() throws {
            try reportingErrors {
                let journal = try global.openExistingJournal()
                var records = try journal.deployments(role: role, limit: limit)
                for i in records.indices { records[i].hosts = try journal.hosts(of: records[i].id) }
                if json {
                    try printJSON(records)
                    return
                }
                if records.isEmpty { print("no deployments recorded") }
                for r in records {
                    print(
                        "#\(r.id) \(r.startedAt ?? "?")  \(r.role ?? "?") \(r.ref)  \(r.kind)  \(r.state)  by \(r.requestedBy)"
                            + (r.message.map { "  \"\($0)\"" } ?? ""))
                    for h in r.hosts {
                        var line = "    \(h.host): \(h.state.rawValue)"
                        if let step = h.step, h.state != .succeeded { line += " at \(step)" }
                        if let before = h.releaseBefore, let after = h.releaseAfter, before != after {
                            line += " (\(before) → \(after))"
                        } else if let after = h.releaseAfter ?? h.releaseBefore {
                            line += " (\(after))"
                        }
                        if h.filesSent > 0 {
                            line += ", sent \(counted(h.filesSent, "file")) (\(h.bytesSent) B)"
                        }
                        if h.seconds > 0 { line += ", " + fixed(h.seconds, digits: 2) + " s" }
                        if let error = h.error { line += ": \(error.prefix(160))" }
                        print(line)
                    }
                }
            }
        }
    }
}
