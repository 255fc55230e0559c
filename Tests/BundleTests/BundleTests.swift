import Bundles
import Foundation
import Git
import Glibc
import TestSupport
import Testing

let tagger = GitPerson(name: "Ops", email: "ops@example.org", time: Int64(Date().timeIntervalSince1970))

/// A bundle directory with a manifest: bin/web (0755), etc/prod.conf (0640), a symlink, owned nobody:nogroup.
func makeBundle(in dir: String, config: String = "port: 8080\n", extraFiles: Int = 0) throws -> String {
    let bundle = dir + "/web"
    var files = ["web/bin/web": "#!/bin/sh\necho web\n", "web/etc/prod.conf": config]
    for i in 0..<extraFiles { files["web/data/f\(i).txt"] = String(repeating: "line \(i)\n", count: 20) }
    try writeFiles(files, under: dir)
    chmod(bundle + "/bin/web", 0o755)
    chmod(bundle + "/etc/prod.conf", 0o640)
    for d in ["", "/bin", "/etc"] { chmod(bundle + d, 0o755) }
    if extraFiles > 0 { chmod(bundle + "/data", 0o755) }
    for i in 0..<extraFiles { chmod(bundle + "/data/f\(i).txt", 0o644) }
    symlink("prod.conf", bundle + "/etc/current.conf")
    let manifest = try Manifest.describe(try TreeScanner.scan(bundle), owner: "nobody", group: "nogroup")
    try manifest.yaml.write(toFile: bundle + "/" + Manifest.fileName, atomically: true, encoding: .utf8)
    return bundle
}

func findings(_ bundle: String) -> String? {
    do {
        _ = try BundleRepository.load(directory: bundle)
        return nil
    } catch {
        return "\(error)"
    }
}

@Suite struct BundleVerifyTests {
    @Test func aCleanBundleVerifies() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let bundle = try makeBundle(in: dir)
        #expect(findings(bundle) == nil)
    }

    /// Each way a tree can disagree with its manifest is reported, naming the path.
    @Test(arguments: [
        ("extra", "web/etc/stray.txt: on disk but not in the manifest"),
        ("missing", "web/bin/web: in the manifest but missing"),
        ("mode", "web/etc/prod.conf: mode 0644, the manifest says 0640"),
        ("world-writable", "web/etc/prod.conf: is world-writable"),
        ("setuid", "web/bin/web: has a setuid/setgid bit the manifest does not declare"),
        ("content", "web/etc/prod.conf: content does not match the manifest's sha256"),
        ("escaping-symlink", "web/etc/current.conf: points to ../../../etc/passwd, the manifest says prod.conf"),
    ])
    func disagreementsAreNamed(_ change: String, _ expected: String) throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let bundle = try makeBundle(in: dir)
        switch change {
        case "extra": try "x".write(toFile: bundle + "/etc/stray.txt", atomically: true, encoding: .utf8)
        case "missing": unlink(bundle + "/bin/web")
        case "mode": chmod(bundle + "/etc/prod.conf", 0o644)
        case "world-writable": chmod(bundle + "/etc/prod.conf", 0o646)
        case "setuid": chmod(bundle + "/bin/web", 0o4755)
        case "content": try "port: 9999\n".write(toFile: bundle + "/etc/prod.conf", atomically: false, encoding: .utf8)
        case "escaping-symlink":
            unlink(bundle + "/etc/current.conf")
            symlink("../../../etc/passwd", bundle + "/etc/current.conf")
        default: Issue.record("unknown change")
        }
        let result = findings(bundle)
        #expect(result?.contains(expected) == true, "\(result ?? "no findings")")
    }

    @Test(arguments: [
        ("../outside", "'..' is not allowed in a bundle path"),
        ("/etc/passwd", "absolute paths are not allowed in a bundle"),
    ])
    func manifestPathsStayInside(_ path: String, _ expected: String) throws {
        let text = "entries:\n  - {path: \"\(path)\", kind: dir, mode: \"0755\", owner: root, group: root}\n"
        #expect(throws: BundleError.self) { try Manifest.parse(Array(text.utf8), file: "m.yaml") }
        do {
            _ = try Manifest.parse(Array(text.utf8), file: "m.yaml")
        } catch {
            #expect(error.message.contains(expected))
            #expect(error.message.hasPrefix("m.yaml:2:5:"))
        }
    }

    @Test func aManifestSymlinkThatEscapesIsRefused() {
        let text = "entries:\n  - {path: a, kind: symlink, mode: \"0777\", owner: root, group: root, target: ../../x}\n"
        #expect(throws: BundleError.self) { try Manifest.parse(Array(text.utf8), file: "m.yaml") }
    }

    @Test func initRefusesWorldWritableFiles() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let bundle = try makeBundle(in: dir)
        chmod(bundle + "/etc/prod.conf", 0o666)
        do {
            _ = try Manifest.describe(try TreeScanner.scan(bundle), owner: "root", group: "root")
            Issue.record("expected a refusal")
        } catch {
            #expect(error.message == "etc/prod.conf: is world-writable (mode 0666); fix it with chmod o-w")
        }
    }
}

@Suite struct BundleRepositoryTests {
    @Test func commitLogDiffAndTagsNeverMove() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let bundle = try makeBundle(in: dir)
        let repo = try BundleRepository(path: dir + "/web.git", create: true)
        let v1 = try repo.commit(directory: bundle, tag: "v1", message: "first", author: tagger)
        #expect(throws: BundleError.self) {
            try repo.commit(directory: bundle, tag: "v1", message: "again", author: tagger)
        }
        try "port: 9090\n".write(toFile: bundle + "/etc/prod.conf", atomically: false, encoding: .utf8)
        #expect(throws: BundleError.self, "an unverified tree is never committed") {
            try repo.commit(directory: bundle, tag: "v2", message: "x", author: tagger)
        }
        let manifest = try Manifest.describe(try TreeScanner.scan(bundle), owner: "nobody", group: "nogroup")
        try manifest.yaml.write(toFile: bundle + "/" + Manifest.fileName, atomically: true, encoding: .utf8)
        let v2 = try repo.commit(directory: bundle, tag: "v2", message: "second", author: tagger)
        #expect(v1 != v2)
        #expect(try repo.repository.tags().map(\.name) == ["v1", "v2"])
        #expect(try repo.diff("v1", "v2").map(\.description) == ["~ etc/prod.conf: changed content"])
        // git itself sees a normal repository with an annotated tag and the executable bit.
        let show = try runTool("git", ["-C", dir + "/web.git", "cat-file", "-t", "v2"])
        #expect(show.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "tag")
        let tree = try runTool("git", ["-C", dir + "/web.git", "ls-tree", "-r", "v2"])
        #expect(tree.stdout.contains("100755 blob") && tree.stdout.contains("bin/web"))
        #expect(tree.stdout.contains("120000 blob") && tree.stdout.contains("etc/current.conf"))
    }
}
