import Foundation
import TestSupport
import Testing

/// `deploy bootstrap` puts redeye on hosts over SSH: sent to a new file, checked by SHA-256, renamed into
/// place; a host that answers a compatible version already is left alone; an executable that does not answer
/// is reported, host by host.
@Suite(.serialized) struct BootstrapTests {
    @Test func bootstrapInstallsRedeyeSoThatDeploysCanReachTheHosts() throws {
        let fleet = try Fleet(hosts: 2)
        defer { fleet.remove() }
        let destination = fleet.dir + "/bin/redeye"
        try FileManager.default.createDirectory(atPath: fleet.dir + "/bin", withIntermediateDirectories: true)
        func bootstrap(_ extra: [String]) throws -> CommandResult {
            try runRedeye(["deploy", "bootstrap", "web", "--yes"] + extra + fleet.sshArguments())
        }
        // Both simulated hosts are this machine: the first installs, the second finds it there.
        let first = try bootstrap(["--to", destination, "--window", "1", "--json"])
        #expect(first.status == 0, "\(first.stderr)")
        let results = try JSONSerialization.jsonObject(with: Data(first.stdout.utf8)) as? [[String: Any]] ?? []
        #expect(results.map { $0["outcome"] as? String } == ["installed", "current"], "\(first.stdout)")
        #expect(FileManager.default.contents(atPath: destination) == FileManager.default.contents(atPath: redeyeBinary))
        #expect(access(destination, X_OK) == 0)
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: fleet.dir + "/bin")
        #expect(leftovers == ["redeye"], "\(leftovers)")

        let deployed = try fleet.deploy(["web", "--ref", "v1", "--yes"], remoteRedeye: destination)
        #expect(deployed.status == 0, "\(deployed.stderr)")

        // An executable that answers no version is installed, then reported as not working, on every host.
        let broken = fleet.dir + "/bin/broken"
        try "#!/bin/sh\nexit 0\n".write(toFile: fleet.dir + "/silent", atomically: true, encoding: .utf8)
        let failed = try bootstrap(["--to", broken, "--binary", fleet.dir + "/silent", "--force"])
        #expect(failed.status == 9, "\(failed.stdout) \(failed.stderr)")
        #expect(failed.stderr.contains("--version` answers nothing"), "\(failed.stderr)")

        let relative = try bootstrap(["--to", "bin/redeye"])
        #expect(relative.status == 64)
        #expect(relative.stderr.contains("--to must be an absolute path"))

        // --package takes a Debian package only (its installation is checked by scripts/package-check, in a
        // fresh Debian root behind its own sshd): nothing is sent otherwise.
        let both = try bootstrap(["--package", fleet.dir + "/redeye_1_amd64.deb", "--binary", redeyeBinary])
        #expect(both.status == 64 && both.stderr.contains("--package and --binary do not go together"))
        let named = try bootstrap(["--package", fleet.dir + "/red eye;.deb"])
        #expect(named.status == 64 && named.stderr.contains("--package must name a .deb file"), "\(named.stderr)")
        try "not an archive".write(toFile: fleet.dir + "/redeye_1_amd64.deb", atomically: true, encoding: .utf8)
        let notPackage = try bootstrap(["--package", fleet.dir + "/redeye_1_amd64.deb"])
        #expect(
            notPackage.status == 64 && notPackage.stderr.contains("is not a Debian package"), "\(notPackage.stderr)")
    }
}
