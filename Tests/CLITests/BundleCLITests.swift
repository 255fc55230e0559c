import Foundation
import Glibc
import TestSupport
import Testing

@Suite struct BundleCLITests {
    @Test func initVerifyCommitInstallAuditExitCodes() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try writeFiles(["app/bin/run": "#!/bin/sh\necho ok\n", "app/README": "hello\n"], under: dir)
        chmod(dir + "/app/bin/run", 0o755)
        chmod(dir + "/app/README", 0o644)
        chmod(dir + "/app/bin", 0o755)
        chmod(dir + "/app", 0o755)
        #expect(try runRedeye(["bundle", "init", "app"], in: dir).status == 0)
        #expect(try runRedeye(["bundle", "verify", "app"], in: dir).status == 0)
        try "stray".write(toFile: dir + "/app/bin/stray", atomically: true, encoding: .utf8)
        let bad = try runRedeye(["bundle", "verify", "app"], in: dir)
        #expect(bad.status == 1)
        #expect(bad.stderr.contains("app/bin/stray: on disk but not in the manifest"))
        unlink(dir + "/app/bin/stray")

        let author = ["--author", "Ops <ops@example.org>"]
        #expect(
            try runRedeye(["bundle", "commit", "app", "--repo", "app.git", "--tag", "v1"] + author, in: dir).status == 0
        )
        let again = try runRedeye(["bundle", "commit", "app", "--repo", "app.git", "--tag", "v1"] + author, in: dir)
        #expect(again.status == 1)
        #expect(again.stderr.contains("tag 'v1' already exists"))

        let install = try runRedeye(
            [
                "bundle", "install", "--repo", "app.git", "--ref", "v1", "--root", "/srv/app", "--prefix",
                dir + "/host", "--json",
            ], in: dir)
        #expect(install.status == 0, "\(install.stderr)")
        let outcome = try JSONSerialization.jsonObject(with: Data(install.stdout.utf8)) as? [String: Any]
        #expect(outcome?["files_written"] as? Int == 2)
        #expect(try runRedeye(["bundle", "audit", "--root", "/srv/app", "--prefix", dir + "/host"]).status == 0)
        chmod(dir + "/host/srv/app/current/README", 0o666)
        let audit = try runRedeye(["bundle", "audit", "--root", "/srv/app", "--prefix", dir + "/host"])
        #expect(audit.status == 3, "drift has its own exit status")
        #expect(audit.stderr.contains("README: is world-writable"))
        let nothing = try runRedeye(["bundle", "audit", "--root", "/srv/none", "--prefix", dir + "/host"])
        #expect(nothing.status == 1 && nothing.stderr.contains("has no current release"), "\(nothing.stderr)")
        let missingRef = try runRedeye(
            ["bundle", "install", "--repo", "app.git", "--ref", "v9", "--root", "/srv/app", "--prefix", dir + "/host"],
            in: dir)
        #expect(missingRef.status == 1)
        #expect(missingRef.stderr.contains("has no ref 'v9'"))
    }

    /// `bundle diff --content`: libgit2's unified diff for text; binary files, and text carrying terminal
    /// escapes from the bundle's author, by size and digest only.
    @Test func contentDiffsShowTextAndNameBinaries() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try writeFiles(
            [
                "app/etc/app.conf": "port: 8080\nworkers: 4\nlog: info\n", "app/lib/blob.bin": "\u{0}\u{1}\u{2}",
                "app/etc/banner": "plain\n",
            ], under: dir)
        for path in ["app", "app/etc", "app/lib"] { chmod(dir + "/" + path, 0o755) }
        for path in ["app/etc/app.conf", "app/lib/blob.bin", "app/etc/banner"] { chmod(dir + "/" + path, 0o644) }
        let author = ["--author", "Ops <ops@example.org>"]
        #expect(try runRedeye(["bundle", "init", "app"], in: dir).status == 0)
        #expect(
            try runRedeye(["bundle", "commit", "app", "--repo", "app.git", "--tag", "v1"] + author, in: dir).status == 0
        )
        try writeFiles(
            [
                "app/etc/app.conf": "port: 9090\nworkers: 4\nlog: info\n", "app/lib/blob.bin": "\u{0}\u{9}",
                "app/etc/banner": "\u{1B}[2Jowned\n", "app/etc/new.conf": "added\n",
            ], under: dir)
        chmod(dir + "/app/etc/new.conf", 0o644)
        #expect(try runRedeye(["bundle", "init", "app"], in: dir).status == 0)
        #expect(
            try runRedeye(["bundle", "commit", "app", "--repo", "app.git", "--tag", "v2"] + author, in: dir).status == 0
        )

        let diff = try runRedeye(["bundle", "diff", "--repo", "app.git", "v1", "v2", "--content"], in: dir)
        #expect(diff.status == 0, "\(diff.stderr)")
        #expect(
            diff.stdout.contains(
                "--- a/etc/app.conf\n+++ b/etc/app.conf\n@@ -1,3 +1,3 @@\n-port: 8080\n+port: 9090\n workers: 4\n"),
            "\(diff.stdout)")
        #expect(diff.stdout.contains("+++ b/etc/new.conf\n@@ -0,0 +1 @@\n+added\n"))
        #expect(diff.stdout.contains("binary lib/blob.bin: 3 bytes, sha256 "))
        #expect(diff.stdout.contains("binary etc/banner: 6 bytes"))
        #expect(!diff.stdout.contains("\u{1B}"), "an escape from the bundle reached the terminal")

        let json = try runRedeye(["bundle", "diff", "--repo", "app.git", "v1", "v2", "--content", "--json"], in: dir)
        let parsed = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any]
        let content = parsed?["content"] as? [[String: Any]] ?? []
        #expect(
            content.map { $0["path"] as? String } == ["etc/app.conf", "etc/banner", "etc/new.conf", "lib/blob.bin"])
        #expect(content.last?["new_size"] as? Int == 2)
    }
}
