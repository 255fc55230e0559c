import Foundation
import TestSupport
import Testing

/// Signed bundle tags: redeye signs as `git tag -s` with gpg.format=ssh does, so real git verifies redeye's tags
/// and redeye verifies git's; everything else (unsigned, lightweight, another key, another namespace, edited
/// content, PGP, an expired key, no tag) is refused with its reason.
@Suite struct SignedTagTests {
    struct World {
        let dir: String
        let key: String
        let signers: String
        var repo: String { dir + "/web.git" }

        init() throws {
            dir = try makeTemporaryDirectory()
            key = try generateSSHKey(in: dir, name: "ops_key")
            let pub = try String(contentsOfFile: key + ".pub", encoding: .utf8)
            signers = dir + "/allowed_signers"
            try "ops@example.org namespaces=\"git\" \(pub)".write(toFile: signers, atomically: true, encoding: .utf8)
            try writeFiles(["app/index.html": "v1\n"], under: dir)
            #expect(try runRedeye(["bundle", "init", dir + "/app"]).status == 0)
        }

        func git(_ arguments: [String]) throws -> CommandResult {
            try runTool(
                "git",
                ["-C", repo, "-c", "user.name=Ops", "-c", "user.email=ops@example.org", "-c", "gpg.format=ssh"]
                    + arguments)
        }

        func verify(_ tag: String, signers: String? = nil, json: Bool = false) throws -> CommandResult {
            try runRedeye(
                ["bundle", "verify", "--repo", repo, "--tag", tag, "--allowed-signers", signers ?? self.signers]
                    + (json ? ["--json"] : []))
        }

        /// Writes `content` as a tag object under refs/tags/`name`, as a hostile repository could hold it.
        func writeTag(_ name: String, _ content: String) throws {
            let written = try runTool(
                "git", ["-C", repo, "hash-object", "-t", "tag", "-w", "--stdin"], input: Array(content.utf8))
            #expect(written.status == 0, "\(written.stderr)")
            let id = written.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(try runTool("git", ["-C", repo, "update-ref", "refs/tags/" + name, id]).status == 0)
        }
    }

    @Test func gitAndRedeyeAcceptEachOthersSignedTags() throws {
        let world = try World()
        defer { try? FileManager.default.removeItem(atPath: world.dir) }
        let committed = try runRedeye([
            "bundle", "commit", world.dir + "/app", "--repo", world.repo, "--tag", "v1", "--sign-key", world.key,
            "--author", "Ops <ops@example.org>",
        ])
        #expect(committed.status == 0, "\(committed.stderr)")
        #expect(committed.stdout.contains("tagged v1 (signed)"))
        let gitVerifies = try world.git(["-c", "gpg.ssh.allowedSignersFile=" + world.signers, "verify-tag", "v1"])
        #expect(gitVerifies.status == 0, "\(gitVerifies.stderr)")
        #expect(gitVerifies.stderr.contains("Good \"git\" signature for ops@example.org"), "\(gitVerifies.stderr)")
        let ours = try world.verify("v1", json: true)
        #expect(ours.status == 0, "\(ours.stderr)")
        let report = try JSONSerialization.jsonObject(with: Data(ours.stdout.utf8)) as? [String: Any] ?? [:]
        #expect(report["valid"] as? Bool == true)
        #expect(report["signer"] as? [String] == ["ops@example.org"])

        // A tag signed by git itself with the same SSH key.
        let gitSigns = try world.git(["-c", "user.signingkey=" + world.key, "tag", "-s", "v2", "-m", "by git", "v1^{}"])
        #expect(gitSigns.status == 0, "\(gitSigns.stderr)")
        let theirs = try world.verify("v2")
        #expect(theirs.status == 0, "\(theirs.stderr)")
        #expect(theirs.stdout.contains("signed by ops@example.org"), "\(theirs.stdout)")
    }

    @Test func tagsThatAreNotSignedByAnAllowedKeyAreRefused() throws {
        let world = try World()
        defer { try? FileManager.default.removeItem(atPath: world.dir) }
        #expect(
            try runRedeye([
                "bundle", "commit", world.dir + "/app", "--repo", world.repo, "--tag", "v1", "--sign-key", world.key,
                "--author", "Ops <ops@example.org>",
            ]).status == 0)
        let raw = try world.git(["cat-file", "tag", "v1"]).stdout
        let commit = try world.git(["rev-parse", "v1^{commit}"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)

        #expect(try world.git(["tag", "-a", "plain", "-m", "unsigned", commit]).status == 0)
        #expect(try world.git(["tag", "light", commit]).status == 0)
        // The signed tag with its message edited: the signature no longer covers it.
        try world.writeTag("edited", raw.replacingOccurrences(of: "bundle v1\n", with: "bundle v1 (approved)\n"))
        // A PGP block where the signature is.
        try world.writeTag(
            "pgp",
            "object \(commit)\ntype commit\ntag pgp\ntagger Ops <ops@example.org> 1700000000 +0000\n\nx\n"
                + "-----BEGIN PGP SIGNATURE-----\n\niQEzBAABCAAdFiEE\n-----END PGP SIGNATURE-----\n")
        // Signed by the right key, but for another namespace (a file signature is not a git signature).
        let payload = "object \(commit)\ntype commit\ntag file\ntagger Ops <ops@example.org> 1700000000 +0000\n\nx\n"
        try payload.write(toFile: world.dir + "/payload", atomically: true, encoding: .utf8)
        #expect(
            try runTool("ssh-keygen", ["-Y", "sign", "-q", "-n", "file", "-f", world.key, world.dir + "/payload"])
                .status == 0)
        try world.writeTag("file", payload + (try String(contentsOfFile: world.dir + "/payload.sig", encoding: .utf8)))
        // Another key.
        let stranger = try generateSSHKey(in: world.dir, name: "stranger")
        #expect(
            try world.git(["-c", "user.signingkey=" + stranger, "tag", "-s", "stranger", "-m", "x", commit]).status == 0
        )

        for (tag, reason) in [
            ("plain", "tag 'plain' is not signed"), ("light", "tag 'light' is a lightweight tag"),
            ("edited", "does not match the tag's content"), ("pgp", "is signed with PGP, not an SSH key"),
            ("file", "is signed for namespace 'file', not 'git'"), ("stranger", "which is not in \(world.signers)"),
        ] {
            let refused = try world.verify(tag)
            #expect(refused.status == 6, "\(tag): \(refused.stdout) \(refused.stderr)")
            #expect(refused.stderr.contains(reason), "\(tag): \(refused.stderr)")
            #expect(!refused.stdout.contains("agree"), "\(tag): \(refused.stdout)")
        }

        // A key past its valid-before signs nothing, whatever time the tag claims.
        let pub = try String(contentsOfFile: world.key + ".pub", encoding: .utf8)
        let expired = world.dir + "/expired_signers"
        try "ops@example.org namespaces=\"git\",valid-before=\"20200101\" \(pub)".write(
            toFile: expired, atomically: true, encoding: .utf8)
        let old = try world.verify("v1", signers: expired)
        #expect(old.status == 6, "\(old.stderr)")

        let missing = try world.verify("v9", json: true)
        #expect(missing.status == 5)
        #expect(missing.stderr.contains("there is no tag 'v9'"))
        #expect((try? JSONSerialization.jsonObject(with: Data(missing.stdout.utf8))) != nil, "\(missing.stdout)")

        // A malformed --author is refused, not replaced by git config's identity; nothing is tagged.
        let badAuthor = try runRedeye([
            "bundle", "commit", world.dir + "/app", "--repo", world.repo, "--tag", "v8", "--author", "no email",
        ])
        #expect(badAuthor.status == 64, "\(badAuthor.stderr)")
        #expect(badAuthor.stderr.contains("--author must look like 'Name <email>'"), "\(badAuthor.stderr)")
        #expect(try world.git(["tag", "-l", "v8"]).stdout.isEmpty)

        // Without --allowed-signers only the content is checked; --allowed-signers alone is a usage error.
        #expect(try runRedeye(["bundle", "verify", "--repo", world.repo, "--tag", "plain"]).status == 0)
        #expect(
            try runRedeye(["bundle", "verify", world.dir + "/app", "--allowed-signers", world.signers]).status == 64)
    }
}
