import ArgumentParser
import InstallRoot
import Service

extension ServiceCommand {
    struct Restart: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "restart", abstract: "Restart the units, or the run command.",
            discussion: """
                EXAMPLES:
                  redeye service restart --root /opt/web --unit web.service --unit web-worker.service
                  redeye service restart --root /srv/demo/web01 --run 'exec ./bin/web --port 8080'
                """ + ExitStatus.section())
        @Option(help: "The install root (its file system path).") var root: String
        @Option(name: .customLong("unit"), help: "A systemd unit (repeatable).") var units: [String] = []
        @Option(name: .customLong("run"), help: "The command to run where systemd is not running.") var command: String?

        func run() throws {
            try reportingErrors {
                print(try ServiceManager(layout: InstallLayout(root: root)).restart(units: units, run: command))
            }
        }
    }
}
