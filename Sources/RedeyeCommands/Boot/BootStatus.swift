import ArgumentParser
import Boot
import FoundationEssentials
import Glibc
import Plan
import Text

extension BootCommand {
    struct Status: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "status",
            abstract: "Show the last boot pass of this host (ROOT/run/redeye/status.json).",
            discussion: """
                Exits 5 when the agent has not run since the host started.

                EXAMPLES:
                  redeye boot status
                  redeye boot status --json
                """ + ExitStatus.section(5))
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
                print("booted    \(iso8601(status.startedAt))")
                switch status.recording {
                case .recorded?: print("recorded  in the inventory")
                case .queued?: print("recorded  NO: kept on this host, to be delivered by the next pass")
                case .unconfigured?: print("recorded  no: no inventory configured")
                case nil: break
                }
                if let error = status.error { print("error     \(error)") }
                for warning in status.warnings { print("warning   \(warning)") }
                for step in status.steps {
                    let name = step.name.rawValue.padded(to: 9)
                    let outcome = step.outcome.rawValue.padded(to: 7)
                    print("  \(name) \(outcome) \(fixed(step.seconds, digits: 2, width: 6))s  \(step.detail)")
                }
            }
        }
    }
}
