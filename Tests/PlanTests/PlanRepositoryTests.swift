import Foundation
import Git
import Plan
import Signing
import TestSupport
import Testing

private let ops = GitPerson(name: "Ops", email: "ops@example.org", time: Int64(Date().timeIntervalSince1970))

/// A temporary world: a plans directory, a key pair, an allowed-signers file, and a repository path.
private struct World {
    let dir: String
    let plansDir: String
    let repoPath: String
    let keyPath: String
    let allowedPath: String

    init(keyType: String = "ed25519", allowedOptions: String = "namespaces=\"git\"") throws {
        dir = try makeTemporaryDirectory()
        plansDir = dir + "/plans"
        repoPath = dir + "/plans.git"
        try writeFiles(
            ["plans/site.yaml": siteYAML, "plans/roles/web.yaml": webRole, "plans/hosts.yaml": twoHosts], under: dir)
        keyPath = try generateSSHKey(in: dir, name: "ops", type: keyType)
        allowedPath = dir + "/allowed_signers"
        let publicKey = try String(contentsOfFile: keyPath + ".pub", encoding: .utf8)
        try "ops@example.org \(allowedOptions) \(publicKey)".write(
            toFile: allowedPath, atomically: true, encoding: .utf8)
    }

    func signer() throws -> any SSHSigner { try loadSigner(keyPath: keyPath) }
    func allowed() throws -> AllowedSigners { try AllowedSigners.load(path: allowedPath) }

    func gitVerify(_ ref: String) throws -> CommandResult {
        try runTool(
            "git",
            [
                "-C", repoPath, "-c", "gpg.format=ssh", "-c", "gpg.ssh.allowedSignersFile=\(allowedPath)",
                "verify-commit", ref,
            ])
    }

    func remove() { try? FileManager.default.removeItem(atPath: dir) }
}

private func refusal(_ body: () throws -> Void) -> String? {
    do {
        try body()
        return nil
    } catch {
        return "\(error)"
    }
}

@Suite struct PlanRepositoryTests {
    @Test(arguments: ["ed25519", "ecdsa"])
    func signedCommitsVerifyWithGitAndWithRedeye(_ keyType: String) throws {
        let world = try World(keyType: keyType)
        defer { world.remove() }
        let repo = try PlanRepository(path: world.repoPath, create: true)
        let id = try #require(
            try repo.commit(directory: world.plansDir, message: "plans", author: ops, signer: try world.signer()))
        let git = try world.gitVerify("main")
        #expect(git.status == 0, "git verify-commit: \(git.stderr)")
        #expect(git.stderr.contains("Good \"git\" signature for ops@example.org"))
        let verified = try repo.verify("main", allowedSigners: try world.allowed())
        #expect(verified.commit == id)
        #expect(verified.principals == ["ops@example.org"])
        #expect(
            try repo.commit(directory: world.plansDir, message: "again", author: ops, signer: try world.signer()) == nil
        )
    }

    @Test func commitsSignedByGitVerifyWithRedeye() throws {
        let world = try World()
        defer { world.remove() }
        let work = world.dir + "/work"
        for args in [
            ["init", "-q", "-b", "main", work],
            ["-C", work, "config", "user.name", "Ops"], ["-C", work, "config", "user.email", "ops@example.org"],
            ["-C", work, "config", "gpg.format", "ssh"], ["-C", work, "config", "user.signingkey", world.keyPath],
        ] {
            #expect(try runTool("git", args).status == 0)
        }
        try writeFiles(
            ["work/site.yaml": siteYAML, "work/roles/web.yaml": webRole, "work/hosts.yaml": twoHosts], under: world.dir)
        #expect(try runTool("git", ["-C", work, "add", "."]).status == 0)
        let committed = try runTool("git", ["-C", work, "commit", "-q", "-S", "-m", "signed by git"])
        #expect(committed.status == 0, "\(committed.stderr)")
        let repo = try PlanRepository(path: work, create: false)
        #expect(try repo.verify("HEAD", allowedSigners: try world.allowed()).principals == ["ops@example.org"])
        let (_, plans) = try repo.plans(at: "HEAD")
        #expect(plans.hosts.count == 2)
    }

    @Test func untrustedCommitsAreRefusedWithTheReason() throws {
        let world = try World()
        defer { world.remove() }
        let repo = try PlanRepository(path: world.repoPath, create: true)
        let allowed = try world.allowed()
        let signer = try world.signer()

        // Unsigned.
        _ = try repo.commit(directory: world.plansDir, message: "unsigned", author: ops, signer: nil)
        #expect(refusal { _ = try repo.verify("main", allowedSigners: allowed) }?.hasSuffix("is not signed") == true)
        #expect(try world.gitVerify("main").status != 0)

        // Signed by a key that is not allowed.
        let strangerKey = try generateSSHKey(in: world.dir, name: "stranger")
        try writeFiles(
            ["plans/hosts.yaml": twoHosts + "  - {name: web03, role: web, address: 10.0.0.3}\n"], under: world.dir)
        _ = try repo.commit(
            directory: world.plansDir, message: "stranger", author: ops, signer: try loadSigner(keyPath: strangerKey))
        #expect(refusal { _ = try repo.verify("main", allowedSigners: allowed) }?.contains("which is not in") == true)
        #expect(try world.gitVerify("main").status != 0)

        let files = try repo.repository.files(at: try repo.repository.resolveCommit("main"))
        func commitWith(_ message: String, signature: @escaping ([UInt8]) throws -> String) throws -> ObjectID? {
            var changed = files
            changed["note.txt"] = GitFile(contents: Array(message.utf8))
            return try repo.repository.commit(files: changed, message: message, author: ops, sign: signature)
        }

        // Signed for another namespace.
        _ = try commitWith("namespace") { try SSHSignature.sign($0, namespace: "file", with: signer).armored }
        #expect(
            refusal { _ = try repo.verify("main", allowedSigners: allowed) }?.contains("namespace 'file', not 'git'")
                == true)

        // A valid signature of other content.
        let other = try SSHSignature.sign(Array("other content".utf8), namespace: "git", with: signer).armored
        _ = try commitWith("replayed") { _ in other }
        #expect(
            refusal { _ = try repo.verify("main", allowedSigners: allowed) }?.contains(
                "does not match the commit's content") == true)
        #expect(try world.gitVerify("main").status != 0)

        // A truncated signature.
        _ = try commitWith("truncated") { content in
            let armored = try SSHSignature.sign(content, namespace: "git", with: signer).armored
            return String(armored.dropLast(40))
        }
        #expect(
            refusal { _ = try repo.verify("main", allowedSigners: allowed) }?.contains("malformed SSH signature")
                == true)
    }

    @Test func expiredKeysAreRefused() throws {
        let world = try World(allowedOptions: "namespaces=\"git\",valid-before=\"20200101Z\"")
        defer { world.remove() }
        let repo = try PlanRepository(path: world.repoPath, create: true)
        _ = try repo.commit(directory: world.plansDir, message: "late", author: ops, signer: try world.signer())
        #expect(
            refusal { _ = try repo.verify("main", allowedSigners: try world.allowed()) }?.contains("expired") == true)
        #expect(try world.gitVerify("main").status != 0, "git agrees")
    }

    /// A signature is bound to its branch: a commit signed for staging, moved onto main (a rogue repository's
    /// main), is refused as main; a commit whose message names no branch is refused where a branch is asked.
    @Test func aSignatureIsBoundToItsBranch() throws {
        let world = try World()
        defer { world.remove() }
        let repo = try PlanRepository(path: world.repoPath, create: true)
        let staging = try #require(
            try repo.commit(
                directory: world.plansDir, message: "for staging", author: ops, signer: try world.signer(),
                branch: "staging"))
        #expect(try repo.verify("staging", allowedSigners: try world.allowed(), branch: "staging").commit == staging)
        #expect(try world.gitVerify("staging").status == 0, "still a good git signature")
        #expect(try runTool("git", ["-C", world.repoPath, "update-ref", "refs/heads/main", staging.hex]).status == 0)
        #expect(
            refusal { _ = try repo.verify("main", allowedSigners: try world.allowed(), branch: "main") }?.contains(
                "was signed for branch 'staging', not 'main'") == true)
        // Signed, but by a client that names no branch (plain `git commit -S`).
        let signer = try world.signer()
        _ = try repo.repository.commit(
            files: ["site.yaml": GitFile(contents: Array(siteYAML.utf8))], message: "no trailer", author: ops,
            branch: "other"
        ) { content in try SSHSignature.sign(content, namespace: "git", with: signer).armored }
        #expect(
            refusal { _ = try repo.verify("other", allowedSigners: try world.allowed(), branch: "other") }?.contains(
                "names no branch") == true)
    }

    /// A key past its valid-before signs nothing now, whatever (earlier) time its commit claims.
    @Test func validityIsCheckedAtTheVerifiersTimeToo() throws {
        let world = try World(allowedOptions: "namespaces=\"git\",valid-before=\"20300101Z\"")
        defer { world.remove() }
        let repo = try PlanRepository(path: world.repoPath, create: true)
        _ = try repo.commit(
            directory: world.plansDir, message: "signed in time", author: ops, signer: try world.signer())
        #expect(throws: Never.self) { try repo.verify("main", allowedSigners: try world.allowed(), branch: "main") }
        let later = Date(timeIntervalSince1970: 1_900_000_000)  // 2030-03
        #expect(
            refusal { _ = try repo.verify("main", allowedSigners: try world.allowed(), branch: "main", now: later) }?
                .contains("expired") == true)
    }

    @Test func invalidPlansAreNeverCommitted() throws {
        let world = try World()
        defer { world.remove() }
        let repo = try PlanRepository(path: world.repoPath, create: true)
        _ = try repo.commit(directory: world.plansDir, message: "good", author: ops, signer: nil)
        let before = try repo.repository.resolveCommit("main")
        let variants: [[String: String]] = [
            ["plans/hosts.yaml": twoHosts + "  - {name: web03, role: nope}\n"],  // a role that does not exist
            ["plans/roles/web.yaml": webRole + "  - {name: empty}\n"],  // a monitor with no target
            ["plans/site.yaml": siteYAML + "colour: red\n"],  // an unknown key
            // one MAC twice
            ["plans/hosts.yaml": twoHosts.replacingOccurrences(of: "52:54:00:00:00:02", with: "52:54:00:00:00:01")],
            // malformed MAC
            ["plans/hosts.yaml": twoHosts.replacingOccurrences(of: "52:54:00:00:00:02", with: "52:54:00:00:00")],
            // unknown variable
            ["plans/roles/web.yaml": webRole.replacingOccurrences(of: "{{port}}", with: "{{nope}}")],
            ["plans/roles/web.yaml": webRole + "rollout: {max_fail: \"150%\"}\n"],  // a percentage over 100
            ["plans/hosts.yaml": "hosts: [\n"],  // broken YAML
        ]
        let good = ["plans/site.yaml": siteYAML, "plans/roles/web.yaml": webRole, "plans/hosts.yaml": twoHosts]
        for variant in variants {
            try writeFiles(good.merging(variant) { _, new in new }, under: world.dir)
            #expect(throws: PlanError.self, "\(variant)") {
                try repo.commit(directory: world.plansDir, message: "bad", author: ops, signer: nil)
            }
            #expect(try repo.repository.resolveCommit("main") == before)
        }
    }

    @Test func agentSignsCommitsWithAPublicKeyReference() throws {
        let world = try World()
        defer { world.remove() }
        let agent = try TestAgent(directory: world.dir)
        defer { agent.stop() }
        try agent.add(world.keyPath)
        let repo = try PlanRepository(path: world.repoPath, create: true)
        let signer = try loadSigner(keyPath: world.keyPath + ".pub", agentSocket: agent.socket)
        _ = try repo.commit(directory: world.plansDir, message: "via agent", author: ops, signer: signer)
        #expect(try world.gitVerify("main").status == 0)
    }

    @Test func diffNamesChangedHostsAndRoles() throws {
        let world = try World()
        defer { world.remove() }
        let repo = try PlanRepository(path: world.repoPath, create: true)
        _ = try repo.commit(directory: world.plansDir, message: "v1", author: ops, signer: nil)
        try writeFiles(
            [
                "plans/roles/web.yaml": webRole.replacingOccurrences(of: "ref: v1", with: "ref: v2"),
                "plans/hosts.yaml": twoHosts.replacingOccurrences(of: "10.0.0.2,", with: "10.0.0.22,")
                    + "  - {name: web03, role: web, address: 10.0.0.3}\n",
            ], under: world.dir)
        _ = try repo.commit(directory: world.plansDir, message: "v2", author: ops, signer: nil)
        let (_, old) = try repo.plans(at: "main~1")
        let (_, new) = try repo.plans(at: "main")
        let diff = PlanDiff(from: old, to: new)
        #expect(diff.roles.map(\.change) == ["bundle ref v1 → v2"])
        #expect(diff.hosts.map(\.host) == ["web01", "web02", "web03"])
        #expect(diff.hosts.first { $0.host == "web02" }?.fields.contains("address 10.0.0.2 → 10.0.0.22") == true)
        #expect(diff.hosts.first { $0.host == "web03" }?.change == "added")
    }
}
