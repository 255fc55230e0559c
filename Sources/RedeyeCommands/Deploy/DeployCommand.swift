import ArgumentParser
import Database
import Deploy
import Dispatch
import FoundationEssentials
import Glibc
import Inventory
import Plan
import SSH
import Schema
import Text

struct DeployCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "deploy",
        abstract: "Rolling deploys of a role's bundle over SSH: batches, health checks, rollback, a record of each.",
        discussion: """
            Per host, over one SSH connection (libssh2, strict host-key checking): take the host's lock, drain, \
            send only the files the host does not have (SFTP), switch releases atomically with the host's redeye \
            (`bundle apply`), restart the role's services, run its health checks, undrain. A failure after the \
            switch puts that host back on its previous release. See docs/deploy.md.

            EXAMPLES:
              redeye deploy web --ref v1653 --plan
              redeye deploy web --ref v1653 --batch 1,5,25% --max-fail 10% --yes
              redeye deploy web --ref v1653 --window 10 --hosts 'web0*' --yes --json
              redeye deploy resume web
              redeye deploy rollback web --yes
              redeye deploy history web
              redeye deploy lock status
              redeye deploy bootstrap web --yes

            EXIT CODES:
              0   every host runs the new release (or already did)
              1   the deploy could not start: bad input, the bundle, the inventory
              8   partial: some hosts failed, were rolled back or were not reached
              9   no host succeeded
              10  another deploy holds the role's lock
              130 interrupted (Ctrl-C or SIGTERM): `redeye deploy resume` continues
            """,
        subcommands: [Run.self, Resume.self, Rollback.self, History.self, Lock.self, Bootstrap.self],
        defaultSubcommand: Run.self)

    /// The role a deploying command acts on, and what every such command shares.
    struct RoleRun: ParsableArguments {
        @Argument(help: "The role.") var role: String
        @Flag(help: "Do not ask for confirmation.") var yes = false
        @Flag(help: "Print the summary (or the plan) as JSON.") var json = false
        @OptionGroup(title: "Global Options") var global: GlobalOptions

        /// The plans, and the inventory ready to record a deploy (migrated, holding the plans' hosts).
        func open() throws -> (Plans, Journal) {
            let plans = try global.loadPlans()
            return (plans, try global.openJournal(plans))
        }

        /// Asks (unless --yes), then runs the rollout and reports it.
        func execute(
            _ options: DeployOptions, plans: Plans, journal: Journal, question: String, resume: DeploymentRecord?
        )
            throws
        {
            try DeployCommand.confirm(question, yes: yes)
            try DeployCommand.execute(
                Rollout(plans: plans, options: options, settings: try global.sshSettings(), output: printError),
                journal: journal, json: json, resume: resume)
        }
    }

    static func report(_ summary: DeploySummary, json: Bool) throws -> Never {
        if json {
            try printJSON(summary)
        } else {
            print("")
            print(summaryTable(summary))
        }
        switch summary.state {
        case .succeeded: throw ExitCode.success
        case .interrupted: throw ExitCode(ExitStatus.interrupted)
        case .failed: throw ExitCode(ExitStatus.deployFailed)
        case .partial, .running: throw ExitCode(ExitStatus.deployPartial)
        }
    }

    static func summaryTable(_ summary: DeploySummary) -> String {
        var rows = [["HOST", "BATCH", "STATE", "STEP", "RUNS", "SENT", "SECONDS", "ERROR"]]
        for h in summary.hosts {
            rows.append([
                h.host, String(h.batch), h.state.rawValue, h.step?.rawValue ?? "", h.runs ?? "-",
                h.bytesSent > 0 ? "\(counted(h.filesSent, "file")), \(h.bytesSent) B" : "",
                fixed(h.seconds, digits: 2),
                h.error.map { String($0.prefix(100)) } ?? "",
            ])
        }
        var lines = [table(rows)]
        let counts = Dictionary(grouping: summary.hosts, by: \.state).map { "\($0.value.count) \($0.key.rawValue)" }
            .sorted()
        lines.append("")
        lines.append(
            "deployment \(summary.deployment.map(String.init) ?? "-"): \(summary.role) \(summary.ref) (\(summary.release)) \(summary.state)"
                + " in \(fixed(summary.seconds, digits: 1)) s: \(counts.joined(separator: ", "))"
                + (summary.stoppedBecause.map { "; stopped: \($0)" } ?? ""))
        return lines.joined(separator: "\n")
    }

    static func confirm(_ question: String, yes: Bool) throws {
        if yes { return }
        guard isatty(0) == 1 else {
            throw ValidationError("not a terminal: pass --yes to deploy without confirmation")
        }
        printError(question + " [y/N] ")
        guard let answer = readLine(), ["y", "yes"].contains(answer.lowercased()) else {
            printError("nothing done")
            throw ExitCode.failure
        }
    }

    // MARK: run

    static func preview(_ rollout: Rollout, json: Bool, content: Bool = false) throws {
        let hosts = try rollout.preview(content: content)
        if json {
            try printJSON(hosts)
            return
        }
        for batch in Dictionary(grouping: hosts, by: \.batch).sorted(by: { $0.key < $1.key }) {
            print(batch.key == 0 ? "window:" : "batch \(batch.key):")
            for h in batch.value {
                if let error = h.error {
                    print("  \(h.host): \(h.current == nil && h.changes.isEmpty ? "unreachable: " : "")\(error)")
                } else if h.current == h.target {
                    print("  \(h.host): already runs \(h.target)")
                } else {
                    print(
                        "  \(h.host): \(h.current ?? "nothing") → \(h.target), \(counted(h.changes.count, "path")) change"
                    )
                    for change in h.changes.prefix(20) { print("      \(change)") }
                    if h.changes.count > 20 { print("      … and \(h.changes.count - 20) more") }
                }
            }
        }
        guard content else { return }
        // Hosts on the same release see the same change: each diff is printed once, naming its hosts.
        let groups = Dictionary(grouping: hosts.filter { $0.current != nil && $0.current != $0.target }) {
            $0.current ?? ""
        }
        for (release, group) in groups.sorted(by: { $0.key < $1.key }) {
            let names = group.map(\.host).joined(separator: ", ")
            guard let diffs = group.first?.content else {
                print(
                    "\n\(release) → \(group[0].target) (\(names)): \(release) is not in the bundle repository; paths only"
                )
                continue
            }
            print("\n\(release) → \(group[0].target) (\(names)):")
            diffs.forEach { print($0, terminator: "") }
        }
    }

    /// Runs the rollout with its record in the inventory; prints the summary and exits with its status.
    static func execute(_ rollout: Rollout, journal: Journal, json: Bool, resume: DeploymentRecord?) throws {
        // Ctrl-C or SIGTERM: the rollout starts no new host; hosts in flight finish (or roll back).
        let interrupts = [SIGINT, SIGTERM].map { number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { rollout.interrupt(signal: number) }
            source.resume()
            return source
        }
        defer {
            interrupts.forEach { $0.cancel() }
            signal(SIGINT, SIG_DFL)
            signal(SIGTERM, SIG_DFL)
        }
        try report(try rollout.run(actor: currentActor(), journal: journal, resume: resume), json: json)
    }

    // MARK: resume, rollback

    // MARK: history, lock

}

/// The help of every `--hosts`.
let hostsHelp = ArgumentHelp(
    "Only these hosts: globs over name, role, site or tag joined by ':' or ','; &TERM keeps, !TERM removes; name=, role=, site=, tag=, status= look at one field (web0*:&tag=canary:!web03).",
    valueName: "selection")

extension GlobalOptions {
    /// The inventory's facts of the hosts, when there is an inventory to read (a deploy's first run may have none).
    /// A SQLite inventory that does not exist yet has no facts; one that exists but cannot be read is an
    /// error, never "no tags": a selection that excludes by tag or status must not fail open.
    func inventoryHostFacts(_ plans: Plans) throws -> [String: HostFacts] {
        let url = try inventoryURL(plans: plans)
        if case .sqlite(let path) = try DatabaseURL(url), path != ":memory:",
            !FileManager.default.fileExists(atPath: path)
        {
            return [:]
        }
        let journal = try Journal.openExisting(url, schema: try loadSchema(), actor: currentActor())
        defer { journal.close() }
        return try journal.hostFacts()
    }

    /// The inventory for commands that only read or release locks.
    func openExistingJournal() throws -> Journal {
        try Journal.openExisting(
            try inventoryURL(plans: try? loadPlans()), schema: try loadSchema(), actor: currentActor())
    }

    /// The inventory, migrated (never destructively) and holding the plans' roles and hosts.
    func openJournal(_ plans: Plans) throws -> Journal {
        try Journal.open(try inventoryURL(plans: plans), schema: try loadSchema(), actor: currentActor(), plans: plans)
    }
}
