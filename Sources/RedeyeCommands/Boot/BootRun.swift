import ArgumentParser
import Boot
import FoundationEssentials
import Glibc
import Plan

extension BootCommand {
    struct Run: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "run", abstract: "Boot this host (the default subcommand).",
            discussion: """
                EXAMPLES:
                  redeye boot run --once
                  redeye boot run --once --plans ssh://git@plans.example/fleet.git --json
                """ + ExitStatus.section(6, 11, 13))

        @OptionGroup var paths: Paths
        @Flag(help: "One pass, then exit with its outcome.") var once = false
        @Option(help: ArgumentHelp("Where sysfs is mounted.", valueName: "dir")) var sys = "/sys"
        @Option(help: ArgumentHelp("The kernel command line file.", valueName: "file")) var cmdline = "/proc/cmdline"
        @Option(
            name: .customLong("plans"),
            help: ArgumentHelp("The plans repository, overriding discovery (still verified).", valueName: "url"))
        var plansURL: String?
        @Option(name: .customLong("plans-ref"), help: "The plans branch or tag to follow.") var plansRef = "main"
        @Option(name: .customLong("option-code"), help: "The DHCP option carrying the plans URL (224–254).")
        var optionCode = 224
        @Option(
            help: ArgumentHelp(
                "The inventory (sqlite:PATH or postgres://…; password from PGPASSWORD or ~/.pgpass). Default: the plans' inventory, else ROOT/etc/redeye/inventory.url.",
                valueName: "url"))
        var inventory: String?
        @Option(help: ArgumentHelp("The inventory schema. Default: ROOT/usr/share/redeye/schema.", valueName: "dir"))
        var schema: String?
        @Option(
            name: .customLong("retry-for"),
            help: ArgumentHelp(
                "Keep retrying an unreachable plans server this long (e.g. 5m, 30s).", valueName: "duration"))
        var retryFor = "5m"
        @Option(
            name: .customLong("record-retry-for"),
            help: ArgumentHelp(
                "Keep retrying an unreachable or busy inventory this long before keeping the record on the host for the next pass.",
                valueName: "duration"))
        var recordRetryFor = "1m"
        @Flag(name: .customLong("no-dns"), help: "Do not ask DNS for the plans URL.") var noDNS = false
        @Option(
            help: ArgumentHelp("Stop after this many passes without --once (0: until one succeeds).", valueName: "n"))
        var passes = 0
        @Flag(help: "Print the report as JSON on standard output.") var json = false

        func validate() throws {
            guard (224...254).contains(optionCode) else {
                throw ValidationError("--option-code must be a private-use DHCP option, 224 to 254")
            }
            guard PlanDuration.parse(retryFor) != nil else {
                throw ValidationError("--retry-for '\(retryFor)' is not a duration (e.g. 30s, 5m)")
            }
            guard PlanDuration.parse(recordRetryFor) != nil else {
                throw ValidationError("--record-retry-for '\(recordRetryFor)' is not a duration (e.g. 30s, 5m)")
            }
        }

        func run() throws {
            var options = BootOptions(
                layout: BootLayout(root: paths.root, sysfs: sys, cmdline: cmdline), schemaDirectory: schema)
            options.optionCode = optionCode
            options.plansURL = plansURL
            options.plansRef = plansRef
            options.inventory = inventory
            options.retryFor = .milliseconds(PlanDuration.parse(retryFor) ?? 300_000)
            options.recordRetryFor = .milliseconds(PlanDuration.parse(recordRetryFor) ?? 60_000)
            options.useDNS = !noDNS
            options.environment = ProcessInfo.processInfo.environment
            let agent = BootAgent(options: options) { printError("redeye boot: \($0)") }
            var pause: Swift.Duration = .seconds(5)
            var pass = 0
            while true {
                pass += 1
                let report = agent.run()
                // A pass that did its work but is not in the inventory is not done: the next one delivers it.
                let done = report.succeeded && report.recording != .queued
                if once || done || (passes > 0 && pass >= passes) {
                    if json { try printJSON(report) }
                    printError("redeye boot: \(Self.summary(report))")
                    switch report.state {
                    case .installed, .unchanged:
                        if report.recording == .queued { throw ExitCode(ExitStatus.notRecorded) }
                        return
                    case .enlisted: throw ExitCode(ExitStatus.enlisted)
                    case .failed, .running:
                        throw ExitCode(report.step == .verify ? ExitStatus.untrusted : ExitStatus.failure)
                    }
                }
                printError("redeye boot: \(Self.summary(report)); next pass in \(pause)")
                agent.sleep(pause)
                pause = min(pause * 2, .seconds(60))
            }
        }

        static func summary(_ report: BootReport) -> String {
            let outcome = stateSummary(report)
            guard report.recording == .queued else { return outcome }
            return outcome + "; NOT recorded in the inventory (kept on this host for the next pass)"
        }

        static func stateSummary(_ report: BootReport) -> String {
            switch report.state {
            case .installed:
                return
                    "\(report.host ?? "?") (\(report.role ?? "?")) now runs release \(report.release ?? "?") (\(report.ref ?? "?"))"
            case .unchanged:
                return
                    "\(report.host ?? "?") (\(report.role ?? "?")) already runs release \(report.release ?? "?") (\(report.ref ?? "?")); nothing changed"
            case .enlisted:
                return
                    "no role for \(report.mac ?? "this machine") yet: enlisted in the inventory, waiting for an operator"
            case .failed, .running:
                return "boot failed at \(report.step?.rawValue ?? "?"): \(report.error ?? "?")"
                    + (report.release.map { "; this host still runs \($0)" } ?? "")
            }
        }
    }
}
