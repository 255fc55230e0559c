import ArgumentParser
import Database
import Deploy
import Foundation
import Glibc
import Inventory
import Plan
import SSH
import Schema

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

            EXIT CODES:
              0   every host runs the new release (or already did)
              1   the deploy could not start: bad input, the bundle, the inventory
              8   partial: some hosts failed, were rolled back or were not reached
              9   no host succeeded
              10  another deploy holds the role's lock
              130 interrupted (Ctrl-C or SIGTERM): `redeye deploy resume` continues
            """,
        subcommands: [Run.self, Resume.self, Rollback.self, History.self, Lock.self],
        defaultSubcommand: Run.self)

    /// Where the plans and the inventory are, shared by every deploy command.
    struct InventoryLocation: ParsableArguments {
        @Option(help: ArgumentHelp("The plans directory.", valueName: "dir")) var plans: String = "Plans"
        @Option(
            help: ArgumentHelp(
                "Inventory database (default: $REDEYE_DB, else the plans' site inventory, else sqlite:inventory.db).",
                valueName: "url"))
        var db: String?

        func loadPlans() throws -> Plans { try PlanLoader().load(directory: plans) }

        /// `--db`, else `$REDEYE_DB`, else the plans' site inventory, else the default.
        func url(_ plans: Plans?) -> String {
            db ?? ProcessInfo.processInfo.environment["REDEYE_DB"] ?? plans?.defaults.inventory
                ?? DatabaseURL.defaultURL
        }

        /// The inventory for commands that only read or release locks.
        func openExistingJournal() throws -> Journal {
            Journal(db: try openDatabase(try DatabaseURL(url(try? loadPlans())), create: false))
        }
    }

    /// How to reach the hosts and the inventory, shared by the commands that deploy.
    struct Connection: ParsableArguments {
        @OptionGroup var inventory: InventoryLocation
        @OptionGroup var schemaOptions: SchemaOptions
        @Option(help: "SSH user (a host's `ssh_user` variable overrides it).") var sshUser: String = "root"
        @Option(help: "SSH port (a host's `ssh_port` variable overrides it).") var sshPort: Int = 22
        @Option(
            help: ArgumentHelp(
                "Private key (ed25519 or ECDSA; default: ssh-agent through $SSH_AUTH_SOCK).", valueName: "file"))
        var identity: String?
        @Option(
            help: ArgumentHelp(
                "known_hosts file (repeatable; default ~/.ssh/known_hosts and /etc/ssh/ssh_known_hosts).",
                valueName: "file"))
        var knownHosts: [String] = []
        @Option(
            help: ArgumentHelp(
                "Reach every host through this bastion, as ssh -J (its host key checked the same way; the same key or agent).",
                valueName: "[user@]host[:port]"))
        var jump: String?
        @Option(help: "Seconds to wait for a host to answer.") var connectTimeout: Int = 10
        @Option(help: "The redeye executable on the hosts.") var remoteRedeye: String = "redeye"
        @Option(help: ArgumentHelp("Where bundle repositories are fetched to.", valueName: "dir"))
        var cache: String = NSHomeDirectory() + "/.cache/redeye/bundles"

        func validate() throws {
            if let jump {
                do {
                    _ = try JumpHost(parsing: jump, defaultUser: sshUser)
                } catch {
                    throw ValidationError("--jump: \(error.message)")
                }
            }
        }

        var settings: SSHSettings {
            SSHSettings(
                user: sshUser, port: sshPort,
                authentication: identity.map { .keyFile($0) } ?? .agent(socket: nil),
                hostKeys: knownHosts.isEmpty ? HostKeyPolicy() : HostKeyPolicy(files: knownHosts),
                connectTimeout: .seconds(max(1, connectTimeout)), remoteRedeye: remoteRedeye,
                jump: jump.flatMap { try? JumpHost(parsing: $0, defaultUser: sshUser) })
        }

        func loadPlans() throws -> Plans { try inventory.loadPlans() }

        /// The inventory, migrated (never destructively) and holding the plans' roles and hosts.
        func openJournal(_ plans: Plans) throws -> Journal {
            let connection = try openDatabase(try DatabaseURL(inventory.url(plans)), create: true)
            let schema = try schemaOptions.load()
            _ = try Migrator(schema: schema, actor: currentActor()).migrate(connection)
            _ = try InventorySync(plans: plans, store: RecordStore(schema: schema, db: connection)).run(prune: false)
            return Journal(db: connection)
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
                h.bytesSent > 0 ? "\(h.filesSent) files, \(h.bytesSent) B" : "", String(format: "%.2f", h.seconds),
                h.error.map { String($0.prefix(100)) } ?? "",
            ])
        }
        let widths = (0..<rows[0].count).map { c in rows.map { $0[c].count }.max() ?? 0 }
        var lines = rows.map { row in
            zip(row, widths).map { $0.padding(toLength: $1, withPad: " ", startingAt: 0) }.joined(separator: "  ")
                .trimmingCharacters(in: .whitespaces)
        }
        let counts = Dictionary(grouping: summary.hosts, by: \.state).map { "\($0.value.count) \($0.key.rawValue)" }
            .sorted()
        lines.append("")
        lines.append(
            "deployment \(summary.deployment.map(String.init) ?? "-"): \(summary.role) \(summary.ref) (\(summary.release)) \(summary.state)"
                + " in \(String(format: "%.1f", summary.seconds)) s: \(counts.joined(separator: ", "))"
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

    struct Run: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "run",
            abstract: "Deploy a role (the default: `redeye deploy ROLE …`).",
            discussion: """
                Batches come from --batch, else the role's rollout in the plans: a count (5), a percentage (25%) \
                or a ramp (1,5,25%: the last step repeats). --window N instead keeps N hosts in flight and starts \
                the next as soon as one finishes. --max-fail counts failed and unreachable hosts over the whole \
                run; once exceeded no new host starts and those in flight finish or roll back.

                EXAMPLES:
                  redeye deploy web --ref v1653 --plan
                  redeye deploy web --ref v1653 --batch 1,5,25% --max-fail 10% --yes
                  redeye deploy web --window 10 --identity ~/.ssh/id_ed25519 --yes --json
                  redeye deploy web --ref v1653 --jump ops@bastion.example.org:2222 --yes
                """)

        @Argument(help: "The role to deploy.") var role: String
        @Option(help: "The bundle version (default: the ref the role pins in the plans).") var ref: String?
        @Option(help: "Only hosts whose name matches one of these comma-separated globs.") var hosts: String?
        @Option(help: "Batch sizes: N, P%, or a ramp like 1,5,25%.") var batch: String?
        @Option(help: "Hosts in flight at once, instead of batches.") var window: Int?
        @Option(help: "Failures tolerated over the run: N or P%.") var maxFail: String?
        @Option(name: [.customShort("m"), .long], help: "Why (recorded with the deployment and the lock).")
        var message: String?
        @Flag(help: "Show the batches and, per host, its release and the files that would change; change nothing.")
        var plan = false
        @Flag(help: "Do not ask for confirmation.") var yes = false
        @Flag(help: "Print the summary (or the plan) as JSON.") var json = false
        @OptionGroup var connection: Connection

        func validate() throws {
            if let window, window < 1 { throw ValidationError("--window must be at least 1") }
            if window != nil && batch != nil { throw ValidationError("give --batch or --window, not both") }
            if let batch { _ = try parse { try BatchPlan(parsing: batch) } }
            if let maxFail { _ = try parse { try FailureBudget(parsing: maxFail) } }
        }

        func parse<T>(_ body: () throws -> T) throws -> T {
            do { return try body() } catch { throw ValidationError("\(error)") }
        }

        func options() throws -> DeployOptions {
            var options = DeployOptions(role: role, cacheDirectory: connection.cache)
            options.ref = ref
            options.hosts = hosts
            options.batch = try batch.map { b in try parse { try BatchPlan(parsing: b) } }
            options.window = window
            options.maxFail = try maxFail.map { m in try parse { try FailureBudget(parsing: m) } }
            options.message = message
            return options
        }

        func run() throws {
            try reportingErrors {
                let plans = try connection.loadPlans()
                let rollout = Rollout(
                    plans: plans, options: try options(), settings: connection.settings, output: printError)
                if plan {
                    try DeployCommand.preview(rollout, json: json)
                    return
                }
                let targets = try rollout.targets()
                try DeployCommand.confirm(
                    "deploy \(role) \(try rollout.ref) to \(targets.count) hosts?", yes: yes)
                try DeployCommand.execute(
                    rollout, journal: try connection.openJournal(plans), json: json, resume: nil)
            }
        }
    }

    static func preview(_ rollout: Rollout, json: Bool) throws {
        let hosts = try rollout.preview()
        if json {
            try printJSON(hosts)
            return
        }
        for batch in Dictionary(grouping: hosts, by: \.batch).sorted(by: { $0.key < $1.key }) {
            print(batch.key == 0 ? "window:" : "batch \(batch.key):")
            for h in batch.value {
                if let error = h.error {
                    print("  \(h.host): unreachable: \(error)")
                } else if h.current == h.target {
                    print("  \(h.host): already runs \(h.target)")
                } else {
                    print("  \(h.host): \(h.current ?? "nothing") → \(h.target), \(h.changes.count) paths change")
                    for change in h.changes.prefix(20) { print("      \(change)") }
                    if h.changes.count > 20 { print("      … and \(h.changes.count - 20) more") }
                }
            }
        }
    }

    /// Runs the rollout with its record in the inventory; prints the summary and exits with its status.
    static func execute(_ rollout: Rollout, journal: Journal, json: Bool, resume: DeploymentRecord?) throws {
        let summary: DeploySummary
        do {
            summary = try rollout.run(actor: currentActor(), journal: journal, resume: resume)
        } catch let locked as DeployLocked {
            printError("redeye: \(locked)")
            throw ExitCode(ExitStatus.locked)
        }
        try report(summary, json: json)
    }

    // MARK: resume, rollback

    struct Resume: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "resume",
            abstract: "Continue an interrupted deploy from its record, without touching hosts already done.",
            discussion: """
                Takes the newest deployment of the role that is still running (its deployer died) or was \
                interrupted, with the same ref and options, and deploys only the hosts it did not finish.

                EXAMPLES:
                  redeye deploy resume web --yes
                """)

        @Argument(help: "The role.") var role: String
        @Flag(help: "Do not ask for confirmation.") var yes = false
        @Flag(help: "Print the summary as JSON.") var json = false
        @OptionGroup var connection: Connection

        func run() throws {
            try reportingErrors {
                let plans = try connection.loadPlans()
                let journal = try connection.openJournal(plans)
                guard let record = try journal.unfinished(role: role) else {
                    printError("redeye: no unfinished deployment of \(role) to resume")
                    throw ExitCode(ExitStatus.notFound)
                }
                var options = DeployOptions(role: role, cacheDirectory: connection.cache)
                options.ref = record.ref
                options.hosts = record.options?.hosts
                options.batch = try record.options?.batch.map { try BatchPlan(parsing: $0.joined(separator: ",")) }
                options.window = record.options?.window
                options.maxFail = try record.options?.maxFail.map { try FailureBudget(parsing: $0) }
                options.kind = record.kind
                try DeployCommand.confirm(
                    "resume deployment \(record.id) (\(role) \(record.ref), started \(record.startedAt ?? "?") by \(record.requestedBy))?",
                    yes: yes)
                let rollout = Rollout(
                    plans: plans, options: options, settings: connection.settings, output: printError)
                try DeployCommand.execute(rollout, journal: journal, json: json, resume: record)
            }
        }
    }

    struct Rollback: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "rollback",
            abstract: "Deploy the ref the role ran before its last successful deploy, the same way as a deploy.",
            discussion: """
                EXAMPLES:
                  redeye deploy rollback web --yes
                  redeye deploy rollback web --window 5 --yes --json
                """)

        @Argument(help: "The role.") var role: String
        @Option(help: "Only hosts whose name matches one of these comma-separated globs.") var hosts: String?
        @Option(help: "Batch sizes: N, P%, or a ramp like 1,5,25%.") var batch: String?
        @Option(help: "Hosts in flight at once, instead of batches.") var window: Int?
        @Flag(help: "Do not ask for confirmation.") var yes = false
        @Flag(help: "Print the summary as JSON.") var json = false
        @OptionGroup var connection: Connection

        func run() throws {
            try reportingErrors {
                let plans = try connection.loadPlans()
                let journal = try connection.openJournal(plans)
                guard let refs = try journal.refBeforeLastSuccess(role: role) else {
                    printError("redeye: no earlier successful deploy of \(role) to roll back to")
                    throw ExitCode(ExitStatus.notFound)
                }
                var options = DeployOptions(role: role, cacheDirectory: connection.cache)
                options.ref = refs.previous
                options.hosts = hosts
                options.batch = try batch.map { try BatchPlan(parsing: $0) }
                options.window = window
                options.kind = "rollback"
                options.message = "rollback from \(refs.current)"
                try DeployCommand.confirm("roll \(role) back from \(refs.current) to \(refs.previous)?", yes: yes)
                let rollout = Rollout(
                    plans: plans, options: options, settings: connection.settings, output: printError)
                try DeployCommand.execute(rollout, journal: journal, json: json, resume: nil)
            }
        }
    }

    // MARK: history, lock

    struct History: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "history",
            abstract: "Past deploys (newest first), each with every host's outcome.",
            discussion: """
                EXAMPLES:
                  redeye deploy history
                  redeye deploy history web --limit 5 --json
                """)

        @Argument(help: "Only this role.") var role: String?
        @Option(help: "How many deployments.") var limit: Int = 10
        @OptionGroup var inventory: InventoryLocation
        @Flag(help: "Print JSON.") var json = false

        func run() throws {
            try reportingErrors {
                let journal = try inventory.openExistingJournal()
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
                        if let error = h.error { line += ": \(error.prefix(160))" }
                        print(line)
                    }
                }
            }
        }
    }

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
                """,
            subcommands: [Status.self, Release.self])

        struct Status: ParsableCommand {
            static let configuration = CommandConfiguration(
                commandName: "status", abstract: "Who holds which role's lock.",
                discussion: """
                    EXAMPLES:
                      redeye deploy lock status
                      redeye deploy lock status --db postgres://redeye@db.example/inventory --json
                    """)
            @OptionGroup var inventory: InventoryLocation
            @Flag(help: "Print JSON.") var json = false

            func run() throws {
                try reportingErrors {
                    let journal = try inventory.openExistingJournal()
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
                    """)
            @Argument(help: "The role.") var role: String
            @OptionGroup var inventory: InventoryLocation

            func run() throws {
                try reportingErrors {
                    if try inventory.openExistingJournal().releaseLock(role: role) {
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
