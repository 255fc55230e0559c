import Foundation
import Signing
import TestSupport
import Testing

private func key(_ path: String) throws -> SSHPrivateKey {
    guard case .key(let key) = try SSHPrivateKey.load(path: path) else {
        throw TestSetupError(description: "expected an unencrypted key")
    }
    return key
}

@Suite struct SigningTests {
    @Test(arguments: ["ed25519", "ecdsa"])
    func ourSignaturesVerifyWithSSHKeygen(_ type: String) throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = try generateSSHKey(in: dir, name: "signer", type: type)
        let signer = try key(path)
        let publicText = try String(contentsOfFile: path + ".pub", encoding: .utf8)
        #expect(signer.publicKey == (try SSHPublicKey(openSSH: publicText)))
        let message = Array("plans at commit abc\n".utf8)
        let signature = try SSHSignature.sign(message, namespace: "file", with: signer)
        try signature.armored.write(toFile: dir + "/msg.sig", atomically: true, encoding: .utf8)
        try "ops@example.org \(publicText)".write(toFile: dir + "/allowed", atomically: true, encoding: .utf8)
        let verified = try runTool(
            "ssh-keygen",
            ["-Y", "verify", "-f", dir + "/allowed", "-I", "ops@example.org", "-n", "file", "-s", dir + "/msg.sig"],
            input: message)
        #expect(verified.status == 0, "\(verified.stderr)")
        let tampered = try runTool(
            "ssh-keygen",
            ["-Y", "verify", "-f", dir + "/allowed", "-I", "ops@example.org", "-n", "file", "-s", dir + "/msg.sig"],
            input: message + [0x0a])
        #expect(tampered.status != 0)
    }

    @Test(arguments: ["ed25519", "ecdsa"])
    func sshKeygenSignaturesVerifyWithUs(_ type: String) throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = try generateSSHKey(in: dir, name: "signer", type: type)
        let message = Array("some content".utf8)
        #expect(FileManager.default.createFile(atPath: dir + "/content", contents: Data(message)))
        let signed = try runTool("ssh-keygen", ["-Y", "sign", "-f", path, "-n", "git", dir + "/content"])
        #expect(signed.status == 0, "\(signed.stderr)")
        let signature = try SSHSignature(armored: try String(contentsOfFile: dir + "/content.sig", encoding: .utf8))
        #expect(signature.namespace == "git")
        #expect(signature.isValid(for: message))
        #expect(!signature.isValid(for: message + [0x20]))
    }

    @Test func agentSignsWithoutTheKeyInThisProcess() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = try generateSSHKey(in: dir, name: "locked", passphrase: "correct horse")
        guard case .encrypted(let publicKey) = try SSHPrivateKey.load(path: path) else {
            Issue.record("an encrypted key should read as encrypted")
            return
        }
        let agent = try TestAgent(directory: dir)
        defer { agent.stop() }
        let withoutKey = try SSHAgent(socketPath: agent.socket)
        #expect(throws: SigningError.self) { try withoutKey.signer(for: publicKey) }
        // ssh-add cannot type a passphrase without a terminal: the agent gets an unencrypted key instead.
        let plain = try generateSSHKey(in: dir, name: "plain")
        try agent.add(plain)
        let client = try SSHAgent(socketPath: agent.socket)
        let plainKey = try SSHPublicKey(openSSH: try String(contentsOfFile: plain + ".pub", encoding: .utf8))
        #expect(try client.identities().contains(plainKey))
        let signature = try SSHSignature.sign(Array("x".utf8), namespace: "git", with: try client.signer(for: plainKey))
        #expect(signature.isValid(for: Array("x".utf8)))
    }

    @Test func rsaKeysAreRefusedWithAdvice() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = try generateSSHKey(in: dir, name: "old", type: "rsa")
        do {
            _ = try SSHPrivateKey.load(path: path)
            Issue.record("expected RSA to be refused")
        } catch {
            #expect(error.message.contains("RSA keys are not supported: use an ed25519"))
        }
    }

    @Test func malformedSignaturesSayWhatIsWrong() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let signer = try key(try generateSSHKey(in: dir, name: "k"))
        let armored = try SSHSignature.sign(Array("m".utf8), namespace: "git", with: signer).armored
        let lines = armored.split(separator: "\n")
        let truncated = lines.prefix(lines.count - 2).joined(separator: "\n")
        #expect(throws: SigningError("malformed SSH signature: the END SSH SIGNATURE line is missing (truncated?)")) {
            try SSHSignature(armored: truncated)
        }
        let shortened = lines.prefix(2).joined(separator: "\n") + "\n-----END SSH SIGNATURE-----"
        #expect(throws: SigningError.self) { try SSHSignature(armored: shortened) }
        #expect(throws: SigningError.self) { try SSHSignature(armored: "hello") }
    }

    /// Found by the ssh-keys fuzz target: an END marker before BEGIN made an invalid range (a crash).
    @Test func aPrivateKeyWhoseEndComesFirstIsAnError() {
        let text = "-----END OPENSSH PRIVATE KEY-----\nAAAA\n-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n"
        #expect(throws: SigningError.self) { try SSHPrivateKey.parse(text) }
    }

    @Test func allowedSignersRules() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let a = try key(try generateSSHKey(in: dir, name: "a")).publicKey
        let b = try key(try generateSSHKey(in: dir, name: "b")).publicKey
        let c = try key(try generateSSHKey(in: dir, name: "c")).publicKey
        let text = """
            # trusted plan signers
            ops@example.org namespaces="git" \(a.openSSH) ops key
            old@example.org valid-before="20200101Z" \(b.openSSH)
            files@example.org namespaces="file,backup" \(c.openSSH)
            """
        let signers = try AllowedSigners.parse(text, file: "allowed_signers")
        let now = Date()
        #expect((try? signers.trust(a, namespace: "git", at: now).get())?.principals == ["ops@example.org"])
        #expect(throws: SigningError.self) { try signers.trust(b, namespace: "git", at: now).get() }
        if case .failure(let e) = signers.trust(b, namespace: "git", at: now) { #expect(e.message.contains("expired")) }
        if case .failure(let e) = signers.trust(c, namespace: "git", at: now) {
            #expect(e.message.contains("only for namespaces file,backup"))
        } else {
            Issue.record("a key limited to other namespaces must not be trusted for git")
        }
        let stranger = try key(try generateSSHKey(in: dir, name: "d")).publicKey
        if case .failure(let e) = signers.trust(stranger, namespace: "git", at: now) {
            #expect(e.message.contains("which is not in allowed_signers"))
        }
        // A line Redeye cannot read trusts nothing, and is named.
        let bogus = try AllowedSigners.parse("ops@x bogus-option=1 \(a.openSSH)", file: "f")
        #expect(bogus.entries.isEmpty && bogus.skipped == ["f:1: unknown option 'bogus-option'"])
        if case .failure(let e) = bogus.trust(a, namespace: "git", at: now) {
            #expect(e.message.contains("lines skipped as unreadable: f:1: unknown option"))
        }
    }

    /// The review's lines: each bad one is skipped (never a crash, never the whole file unusable), CRLF endings
    /// are read, and the good lines around them still work.
    @Test func badAllowedSignersLinesAreSkippedNotFatal() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let a = try key(try generateSSHKey(in: dir, name: "a")).publicKey
        let text = [
            "ops@example.org namespaces=\"git\" \(a.openSSH)\r",
            "empty@example.org namespaces=\"git\",, \(a.openSSH)",
            "lead@example.org ,namespaces=\"git\" \(a.openSSH)",
            "time@example.org valid-before=\"٢٠٢٠٠١٠١\" \(a.openSSH)",
            "sk@example.org sk-ssh-ed25519@openssh.com AAAAGnNrLXNzaC1lZDI1NTE5QG9wZW5zc2guY29tAAAAIA==",
            "short",
        ].joined(separator: "\n")
        let signers = try AllowedSigners.parse(text, file: "f")
        #expect(signers.entries.map(\.principals) == [["ops@example.org"]])
        #expect(signers.skipped.count == 5, "\(signers.skipped)")
        #expect(signers.skipped.first?.hasPrefix("f:2: an empty option") == true, "\(signers.skipped)")
        #expect((try? signers.trust(a, namespace: "git", at: Date()).get())?.principals == ["ops@example.org"])
    }
}
