import ArgumentParser
import Boot
import Foundation
import Plan

struct BootCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "boot",
        abstract:
            "The boot agent: learn who this host is, fetch its signed plans, install its bundle, register its monitors, start it.",
        discussion: """
            Run by bootstrap/redeye-boot.service on every boot, after the network is up. Each pass:

              learn     interfaces from /sys/class/net; the boot interface from BOOTIF= on
                        the kernel command line, else the one holding the DHCP lease; the
                        plans URL from DHCP option 224 in the lease of dhclient, systemd-
                        networkd, NetworkManager (DHCP4_PRIVATE_224) or dhcpcd, then DNS
                        (TXT "url=…" at _redeye-plans._tcp.DOMAIN), then redeye.plans= on
                        the kernel command line, then /etc/redeye/plans.url. Each is only
                        a hint.
              fetch     the plans repository through libgit2 into
                        /var/lib/redeye/plans.git (SSH host keys from
                        /etc/redeye/known_hosts, key /etc/redeye/id_ed25519); its commit
                        must carry an SSH signature by a key in
                        /etc/redeye/allowed_signers, and must not be older than the last
                        plans this host trusted. Retries while the server is down;
                        untrusted plans install nothing.
              identify  this machine's MAC in the plans; an unknown machine is enlisted in
                        the inventory (host discovered-MAC, status discovered) for an
                        operator to give it a role.
              install   the role's bundle at its ref through the bundle installer (nothing
                        when already current).
              monitors  Prometheus file_sd targets and a Consul service definition
                        (written atomically), and registration with the local Consul
                        agent, as the plans' monitoring settings say.
              run       the role's systemd units (enabled and started or restarted), or
                        its run command.
              report    the boot in the inventory (table boot) and
                        /run/redeye/status.json.

            Without --once, a pass that fails or enlists is repeated (5 s, doubling to 60 s) until one succeeds. \
            --root puts every path the agent reads or writes under a directory (a test world or an image being \
            built); /sys and /proc/cmdline have their own options.

            EXAMPLES:
              redeye boot --once
              redeye boot --once --plans ssh://git@plans.example/fleet.git --json
              redeye boot --once --root /srv/test/host1 --sys /srv/test/host1/sys --cmdline /srv/test/host1/cmdline
              redeye boot status

            EXIT CODES:
              0   the host runs its role's release (installed now, or already current)
              1   the pass failed (the step and reason are printed and in the status file)
              6   untrusted: no plans with a valid signature by an allowed signer; nothing was installed
              11  enlisted: no host in the plans has this machine's MAC; it waits for an operator
              64  usage
            """,
        subcommands: [Run.self, Status.self],
        defaultSubcommand: Run.self)

    struct Paths: ParsableArguments {
        @Option(
            help: ArgumentHelp("The host's file system root: every path the agent uses is under it.", valueName: "dir"))
        var root: String = "/"
    }

    struct Run: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "run", abstract: "Boot this host (the default subcommand).",
            discussion: """
                EXAMPLES:
                  redeye boot run --once
                  redeye boot run --once --plans ssh://git@plans.example/fleet.git --json
                """)

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
        @Flag(name: .customLong("no-dns"), help: "Do not ask DNS for the plans URL.") var noDNS = false
        @Option(
            help: ArgumentHelp("Stop after this many passes without --once (0: until one succeeds).", valueName: "n"))
        var passes = 0
        @Flag(help: "Print the report as JSON on standard output.") var json = false

        func validate() throws {
            guard (224...254).contains(optionCode) else {
                throw ValidationError("--option-code must be a private-use DHCP option, 224 to 254")
            }
            guard Plan.Duration.parse(retryFor) != nil else {
                throw ValidationError("--retry-for '\(retryFor)' is not a duration (e.g. 30s, 5m)")
            }
        }

        func run() throws {
            var options = BootOptions(
                layout: BootLayout(root: paths.root, sysfs: sys, cmdline: cmdline), schemaDirectory: schema)
            options.optionCode = optionCode
            options.plansURL = plansURL
            options.plansRef = plansRef
            options.inventory = inventory
            options.retryFor = .milliseconds(Plan.Duration.parse(retryFor) ?? 300_000)
            options.useDNS = !noDNS
            options.environment = ProcessInfo.processInfo.environment
            let agent = BootAgent(options: options) { printError("redeye boot: \($0)") }
            var pause: Swift.Duration = .seconds(5)
            var pass = 0
            while true {
                pass += 1
                let report = agent.run()
                if once || report.succeeded || (passes > 0 && pass >= passes) {
                    if json { try printJSON(report) }
                    printError("redeye boot: \(Self.summary(report))")
                    switch report.state {
                    case .installed, .unchanged: return
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

    struct Status: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "status",
            abstract: "Show the last boot pass of this host (ROOT/run/redeye/status.json).",
            discussion: """
                Exits 5 when the agent has not run since the host started.

                EXAMPLES:
                  redeye boot status
                  redeye boot status --json
                """)
        @OptionGroup var paths: Paths
        @Flag(help: "Print the status file as it is.") var json = false

        func run() throws {
            try reportingErrors {
                let layout = BootLayout(root: paths.root)
                func missing() -> ExitCode {
                    printError(
                        "redeye: no boot status at \(layout.statusFile): the agent has not run since this host started")
                    return ExitCode(ExitStatus.notFound)
                }
                if json {
                    guard let data = FileManager.default.contents(atPath: layout.statusFile) else { throw missing() }
                    print(String(decoding: data, as: UTF8.self))
                    return
                }
                guard let status = try BootReport.read(statusFile: layout.statusFile) else { throw missing() }
                print("state     \(status.state.rawValue)\(status.step.map { " at \($0.rawValue)" } ?? "")")
                print("host      \(status.host ?? "unknown") (\(status.role ?? "no role"))")
                print("mac       \(status.mac ?? "?") on \(status.interface ?? "?")")
                if let plans = status.plans {
                    print(
                        "plans     \(plans.commit.prefix(12)) from \(plans.url) (\(plans.source)), signed by \(plans.signer)"
                    )
                }
                if let release = status.release { print("release   \(release) (\(status.ref ?? "?"))") }
                print("booted    \(ISO8601DateFormatter().string(from: status.startedAt))")
                if let error = status.error { print("error     \(error)") }
                for warning in status.warnings { print("warning   \(warning)") }
                for step in status.steps {
                    let name = step.name.rawValue.padding(toLength: 9, withPad: " ", startingAt: 0)
                    let outcome = step.outcome.rawValue.padding(toLength: 7, withPad: " ", startingAt: 0)
                    print("  \(name) \(outcome) \(String(format: "%6.2f", step.seconds))s  \(step.detail)")
                }
            }
        }
    }
}
