import Foundation
import Glibc
import SSH
import TestSupport
import Testing

/// The libssh2 connection wrapper against a real sshd on loopback.
@Suite struct SSHConnectionTests {
    func connect(_ sshd: TestSSHD, knownHosts: String? = nil, key: String? = nil) throws -> SSHConnection {
        try SSHConnection(
            host: "127.0.0.1", port: sshd.port, user: "root",
            hostKeys: HostKeyPolicy(files: [knownHosts ?? sshd.knownHosts]),
            authentication: .keyFile(key ?? sshd.userKey))
    }

    @Test func runsCommandsAndTransfersFiles() throws {
        let sshd = try TestSSHD()
        defer { sshd.stop() }
        let ssh = try connect(sshd)
        let echo = try ssh.run("cat; echo err >&2; exit 3", input: Array("hello".utf8))
        #expect(echo.status == 3)
        #expect(echo.output == "hello")
        #expect(echo.errorOutput == "err\n")
        // Large output on both streams at once does not stall.
        let big = try ssh.run("head -c 3000000 /dev/zero; head -c 3000000 /dev/zero >&2")
        #expect(big.stdout.count == 3_000_000 && big.stderr.count == 3_000_000)

        let sftp = try ssh.sftp()
        let dir = sshd.directory + "/sftp"
        try sftp.mkdir(dir)
        #expect(try sftp.readlink(dir + "/missing") == nil)
        #expect(try sftp.read(dir + "/missing") == nil)
        try sftp.create(dir + "/file", Array("content".utf8), mode: 0o640)
        #expect(try sftp.read(dir + "/file") == Array("content".utf8))
        #expect(throws: SSHError.self) { try sftp.create(dir + "/file", [1]) }
        symlink("file", dir + "/link")
        #expect(try sftp.readlink(dir + "/link") == "file")
        try sftp.unlink(dir + "/file")
        #expect(!sftp.exists(dir + "/file"))
        #expect(shellQuote("it's a $HOME") == "'it'\\''s a $HOME'")
        #expect(try ssh.run("printf %s " + shellQuote("it's a $HOME `x`")).output == "it's a $HOME `x`")
    }

    @Test func refusesUnknownAndChangedHostKeysAndRSAKeys() throws {
        let sshd = try TestSSHD()
        defer { sshd.stop() }
        let other = try generateSSHKey(in: sshd.directory, name: "other")
        let changed = sshd.directory + "/changed_known_hosts"
        let key = try String(contentsOfFile: other + ".pub", encoding: .utf8).split(separator: " ").prefix(2)
            .joined(separator: " ")
        try "[127.0.0.1]:\(sshd.port) \(key)\n".write(toFile: changed, atomically: true, encoding: .utf8)
        let mismatch = #expect(throws: SSHError.self) { _ = try connect(sshd, knownHosts: changed) }
        #expect(mismatch?.message.contains("does not match") == true)
        let unknown = #expect(throws: SSHError.self) { _ = try connect(sshd, knownHosts: sshd.directory + "/none") }
        #expect(unknown?.message.contains("refusing an unknown host key") == true)
        let rsa = try generateSSHKey(in: sshd.directory, name: "rsa", type: "rsa")
        let refused = #expect(throws: SSHError.self) { _ = try connect(sshd, key: rsa) }
        #expect(refused?.message.contains("use an ed25519 key") == true)
        let closed = try freeLoopbackPort()
        let unreachable = #expect(throws: SSHError.self) {
            _ = try SSHConnection(
                host: "127.0.0.1", port: closed, user: "root", hostKeys: HostKeyPolicy(files: [sshd.knownHosts]),
                authentication: .keyFile(sshd.userKey))
        }
        #expect(unreachable?.description.contains("connect to 127.0.0.1:\(closed)") == true)
    }
}
