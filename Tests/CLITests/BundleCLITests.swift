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
        #expect(audit.status == 1)
        #expect(audit.stderr.contains("README: is world-writable"))
        let missingRef = try runRedeye(
            ["bundle", "install", "--repo", "app.git", "--ref", "v9", "--root", "/srv/app", "--prefix", dir + "/host"],
            in: dir)
        #expect(missingRef.status == 1)
        #expect(missingRef.stderr.contains("has no ref 'v9'"))
    }
}
