import ArgumentParser
import InstallRoot
import Service

extension ServiceCommand {
    struct Stop: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "stop", abstract: "Stop what `restart --run` started.",
            discussion: """
                EXAMPLES:
                  redeye service stop --root /srv/demo/web01
                """ + ExitStatus.section())
        @Option(help: "The install root (its file system path).") var root: String

        func run() throws {
            ServiceManager(layout: InstallLayout(root: root)).stop()
        }
    }
}
