import Bundles
import Foundation
import Git
import SSH
import TestSupport
import Testing

/// Bundles fetched over ssh:// from a real sshd on loopback, with strict host-key checking.
@Suite(.serialized) struct SSHFetchTests {
    @Test func installsOverSSHWithAKnownHostKey() throws {
        let world = try InstallWorld()
        defer { world.remove() }
        let sshd = try TestSSHD()
        defer { sshd.stop() }
        var installer = world.installer
        installer.knownHosts = [sshd.knownHosts]
        installer.sshKey = sshd.userKey
        let url = "ssh://root@127.0.0.1:\(sshd.port)\(world.repo)"
        let outcome = try installer.install(repository: url, ref: "v1")
        #expect(outcome.filesWritten == 2)
        #expect(try installer.audit().isEmpty)

        // Hashed known_hosts entries (ssh-keygen -H) are understood too.
        #expect(try runTool("ssh-keygen", ["-q", "-H", "-f", sshd.knownHosts]).status == 0)
        #expect(try String(contentsOfFile: sshd.knownHosts, encoding: .utf8).hasPrefix("|1|"))
        #expect(try installer.install(repository: url, ref: "v2").filesWritten == 1)
    }

    @Test func aChangedOrUnknownHostKeyIsRefusedAndNothingMoves() throws {
        let world = try InstallWorld()
        defer { world.remove() }
        let sshd = try TestSSHD()
        defer { sshd.stop() }
        let url = "ssh://root@127.0.0.1:\(sshd.port)\(world.repo)"
        var installer = world.installer
        installer.sshKey = sshd.userKey

        let otherKey = try generateSSHKey(in: world.dir, name: "impostor")
        let impostor = try String(contentsOfFile: otherKey + ".pub", encoding: .utf8).split(separator: " ").prefix(2)
            .joined(separator: " ")
        let wrong = world.dir + "/wrong_known_hosts"
        try "[127.0.0.1]:\(sshd.port) \(impostor)\n".write(toFile: wrong, atomically: true, encoding: .utf8)
        installer.knownHosts = [wrong]
        let mismatch = failure { _ = try installer.install(repository: url, ref: "v1") }
        #expect(
            mismatch?.contains("the host key of [127.0.0.1]:\(sshd.port) does not match") == true,
            "\(mismatch ?? "installed!")")
        #expect(installer.currentRelease() == nil)

        installer.knownHosts = [world.dir + "/empty_known_hosts"]
        let unknown = failure { _ = try installer.install(repository: url, ref: "v1") }
        #expect(unknown?.contains("refusing an unknown host key") == true, "\(unknown ?? "installed!")")
        #expect(installer.currentRelease() == nil)
        #expect(world.leftovers().isEmpty)
    }

    /// A reboot asks no server for a version it holds: the pin in the signed plans is the trust, and the cache has
    /// the pinned commit. A pin the cache does not hold still fetches, and a wrong manifest digest is refused.
    @Test func aPinnedVersionInTheCacheIsNotFetchedAgain() throws {
        let world = try InstallWorld()
        defer { world.remove() }
        let sshd = try TestSSHD()
        var installer = world.installer
        installer.knownHosts = [sshd.knownHosts]
        installer.sshKey = sshd.userKey
        let url = "ssh://root@127.0.0.1:\(sshd.port)\(world.repo)"
        func pin(_ ref: String) throws -> BundlePin {
            try BundleVersion.fetch(
                world.repo, ref: ref, cache: world.dir + "/unused.git", hostKeys: HostKeyPolicy(files: []), sshKey: nil
            ).pin
        }
        let v1 = try pin("v1")
        let v2 = try pin("v2")
        #expect(try installer.install(repository: url, ref: "v1", pin: v1).filesWritten == 2)
        sshd.stop()  // the server is gone: what the cache holds is installed from it
        #expect(try installer.install(repository: url, ref: "v1", pin: v1).alreadyCurrent)
        #expect(try installer.install(repository: url, ref: "v2", pin: v2).filesWritten == 1)

        let absent = BundlePin(commit: String(repeating: "ab", count: 20), manifestSHA256: v2.manifestSHA256)
        let unfetched = failure { _ = try installer.install(repository: url, ref: "v2", pin: absent) }
        #expect(unfetched?.contains("cannot fetch the bundle repository \(url)") == true, "\(unfetched ?? "")")
        let forged = BundlePin(commit: v1.commit, manifestSHA256: v2.manifestSHA256)
        let refused = failure { _ = try installer.install(repository: url, ref: "v1", pin: forged) }
        #expect(refused?.contains("does not have the SHA-256 the signed plans pin") == true, "\(refused ?? "")")
        #expect(installer.currentRelease() != nil)
        #expect(world.leftovers().isEmpty)
    }

    @Test func anUnreachableHostIsAClearError() throws {
        let world = try InstallWorld()
        defer { world.remove() }
        let sshd = try TestSSHD()
        let port = sshd.port
        sshd.stop()  // nothing listens there any more
        let error = failure {
            _ = try world.installer.install(repository: "ssh://root@127.0.0.1:\(port)/srv/web.git", ref: "v1")
        }
        #expect(
            error?.contains("cannot fetch the bundle repository ssh://root@127.0.0.1:\(port)/srv/web.git") == true,
            "\(error ?? "")")
        #expect(world.installer.currentRelease() == nil)
    }
}
