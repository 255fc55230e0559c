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
            """ + ExitStatus.section(),
        subcommands: [Restart.self, Stop.self])

}
