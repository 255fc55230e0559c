import ArgumentParser
import InstallRoot
import Service

struct ServiceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "service",
        abstract: "Start or stop a role's services on this host (systemd units, or the role's run command).",
        discussion: """
            With systemd running, `restart` enables and restarts the units. Without it, it runs the command given \
            by --run in ROOT/current, in a session of its own, supervised through ROOT/.redeye/run.pid (output in \
            ROOT/.redeye/run.log), stopping the previous one first.

            EXAMPLES:
              redeye service restart --root /opt/web --unit web.service
              redeye service restart --root /srv/demo/web01 --run 'exec ./bin/web --port 8080'
              redeye service stop --root /srv/demo/web01
            """,
        subcommands: [Restart.self, Stop.self])

    struct Restart: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "restart", abstract: "Restart the units, or the run command.",
            discussion: """
                EXAMPLES:
                  redeye service restart --root /opt/web --unit web.service --unit web-worker.service
                  redeye service restart --root /srv/demo/web01 --run 'exec ./bin/web --port 8080'
                """)
        @Option(help: "The install root (its file system path).") var root: String
        @Option(name: .customLong("unit"), help: "A systemd unit (repeatable).") var units: [String] = []
        @Option(name: .customLong("run"), help: "The command to run where systemd is not running.") var command: String?

        func run() throws {
            try reportingErrors {
                print(try ServiceManager(layout: InstallLayout(root: root)).restart(units: units, run: command))
            }
        }
    }

    struct Stop: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "stop", abstract: "Stop what `restart --run` started.",
            discussion: """
                EXAMPLES:
                  redeye service stop --root /srv/demo/web01
                """)
        @Option(help: "The install root (its file system path).") var root: String

        func run() throws {
            ServiceManager(layout: InstallLayout(root: root)).stop()
        }
    }
}
