import Bundles
import CLinux
import Digest
import FileSystem
import Foundation
import Git
import Glibc
import Synchronization
import TestSupport
import Testing

/// A git tree made with plumbing, as a hostile bundle author would: entries are `(mode, name, content)` where
/// content is the bytes of a blob or, for mode 040000, the entries of a subtree. Names may repeat (libgit2 reads
/// such trees; only `git fsck` objects).
indirect enum HostileTree {
    case blob(String, String, [UInt8])
    case tree(String, [HostileTree])

    static func file(_ name: String, _ text: String) -> HostileTree { .blob("100644", name, Array(text.utf8)) }
    static func link(_ name: String, _ target: String) -> HostileTree { .blob("120000", name, Array(target.utf8)) }

    /// Writes the tree into the bare repository `repo`; returns its id.
    static func write(_ entries: [HostileTree], repo: String) throws -> String {
        var lines = ""
        for entry in entries {
            switch entry {
            case .blob(let mode, let name, let bytes):
                let r = try runTool("git", ["-C", repo, "hash-object", "-w", "--stdin"], input: bytes)
                lines += "\(mode) blob \(r.stdout.trimmingCharacters(in: .whitespacesAndNewlines))\t\(name)\n"
            case .tree(let name, let children):
                lines += "040000 tree \(try write(children, repo: repo))\t\(name)\n"
            }
        }
        let r = try runTool("git", ["-C", repo, "mktree"], input: Array(lines.utf8))
        guard r.status == 0 else { throw TestSetupError(description: "git mktree: \(r.stderr)") }
        return r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// A repository whose tag `v1` is a commit of `entries`.
    static func repository(_ entries: [HostileTree], in dir: String) throws -> String {
        let repo = dir + "/hostile.git"
        #expect(try runTool("git", ["init", "-q", "--bare", repo]).status == 0)
        let tree = try write(entries, repo: repo)
        let commit = try runTool(
            "git", ["-C", repo, "-c", "user.name=M", "-c", "user.email=m@x", "commit-tree", tree, "-m", "v1"])
        let id = commit.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(try runTool("git", ["-C", repo, "update-ref", "refs/heads/main", id]).status == 0)
        #expect(try runTool("git", ["-C", repo, "tag", "v1", id]).status == 0)
        return repo
    }
}

func sha256Hex(_ text: String) -> String {
    let hasher = SHA256Hasher()
    Array(text.utf8).withUnsafeBytes { hasher.update($0) }
    return hexString(hasher.finalize())
}

/// Every path under `dir` whose last component is `name`.
func paths(named name: String, under dir: String) -> [String] {
    let enumerator = FileManager.default.enumerator(atPath: dir)
    var out: [String] = []
    while let path = enumerator?.nextObject() as? String {
        if (path as NSString).lastPathComponent == name { out.append(path) }
    }
    return out
}

@Suite(.serialized) struct HostileBundleTests {
    /// The review's finding: a tree holding `x/l` as a symlink to `..` and as a directory, so that entries
    /// "inside" the symlink are created through it, one level further up each time, and a setuid file lands
    /// outside the install root.
    @Test func aBundleCannotWriteThroughItsOwnSymlinks() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let payload = "#!/bin/sh\nid > /tmp/owned\n"
        let manifest = """
            entries:
              - {path: x, kind: dir, mode: "0755", owner: root, group: root}
              - {path: x/l, kind: symlink, mode: "0777", owner: root, group: root, target: ".."}
              - {path: x/l/pwned, kind: file, mode: "4755", owner: root, group: root, sha256: \(sha256Hex(payload))}
              - {path: x/l/y, kind: symlink, mode: "0777", owner: root, group: root, target: ".."}

            """
        let repo = try HostileTree.repository(
            [
                .file(Manifest.fileName, manifest),
                .tree("x", [.link("l", ".."), .tree("l", [.file("pwned", payload), .link("y", "..")])]),
            ], in: dir)
        let installer = BundleInstaller(root: "/opt/web", prefix: dir + "/host")
        let error = failure { _ = try installer.install(repository: repo, ref: "v1") }
        #expect(
            error?.contains("x/l/pwned: its directory x/l is a symlink in the manifest, not a dir") == true,
            "\(error ?? "installed!")")
        #expect(paths(named: "pwned", under: dir).isEmpty)
        #expect(installer.currentRelease() == nil)
    }

    /// Symlinks that are each lexically inside the bundle but escape when followed: `d/q -> ..` is the root, so
    /// `d/p -> q/../..` is the root's parent.
    @Test func symlinksAreFollowedThroughTheBundleWhenChecked() throws {
        func check(_ links: [(String, String)]) -> String? {
            var yaml = "entries:\n  - {path: d, kind: dir, mode: \"0755\", owner: root, group: root}\n"
            for (path, target) in links {
                yaml +=
                    "  - {path: \(path), kind: symlink, mode: \"0777\", owner: root, group: root, target: \"\(target)\"}\n"
            }
            return failure { _ = try Manifest.parse(Array(yaml.utf8), file: "m.yaml") }
        }
        #expect(check([("d/q", ".."), ("d/p", "q/../..")])?.contains("d/p: symlink target q/../.. escapes") == true)
        #expect(check([("d/a", "b"), ("d/b", "a")])?.contains("loops") == true)
        #expect(check([("d/a", "../../x")])?.contains("escapes") == true)
        // `..` after a name the bundle does not hold: what is not there may be made later by someone else.
        #expect(check([("d/a", "missing/../..")])?.contains("climbs out of d/missing") == true)
        #expect(check([("d/q", ".."), ("d/p", "q/d/x"), ("d/r", "../d")]) == nil)
        // A file beneath a file, and beneath a name the manifest lacks.
        let beneathFile = """
            entries:
              - {path: f, kind: file, mode: "0644", owner: root, group: root, sha256: \(sha256Hex(""))}
              - {path: f/g, kind: file, mode: "0644", owner: root, group: root, sha256: \(sha256Hex(""))}

            """
        let error = failure { _ = try Manifest.parse(Array(beneathFile.utf8), file: "m.yaml") }
        #expect(error?.contains("f/g: its directory f is a file in the manifest, not a dir") == true, "\(error ?? "")")
    }

    /// libgit2 reads a tree holding one name twice; the bundle reader refuses it, naming the path.
    @Test func aTreeWithADuplicateNameIsRefused() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let repoPath = try HostileTree.repository(
            [.file(Manifest.fileName, "entries: []\n"), .link("a", ".."), .tree("a", [.file("b", "x")])], in: dir)
        let repository = try Repository.open(repoPath)
        let commit = try repository.resolveCommit("v1")
        let error = failure { try repository.forEachFile(at: commit) { _, _, _ in } }
        #expect(error?.contains("the tree holds 'a' twice") == true, "\(error ?? "read")")
    }

    /// A service account that owns a directory of the previous release swaps one of its subdirectories with a
    /// symlink to a root-only directory (renameat2 RENAME_EXCHANGE), over and over, while the release is removed:
    /// the removal never deletes anything the symlink points to.
    @Test func removingATreeNeverFollowsASwappedSymlink() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let secret = dir + "/root-only"
        try FileManager.default.createDirectory(atPath: secret, withIntermediateDirectories: true)
        let releases = try Directory.open(dir + "/releases", create: 0o755)
        for round in 0..<200 {
            for name in (0..<20).map({ "f\($0)" }) {
                try "keep me\n".write(toFile: secret + "/" + name, atomically: false, encoding: .utf8)
            }
            let data = dir + "/releases/r/data"
            try FileManager.default.createDirectory(atPath: data + "/sub", withIntermediateDirectories: true)
            for name in (0..<20).map({ "f\($0)" }) {
                try "x".write(toFile: data + "/sub/" + name, atomically: false, encoding: .utf8)
            }
            #expect(symlink(secret, data + "/alt") == 0)
            let swapping = Swapper(directory: data)
            // While the names keep moving the removal may give up, naming the path; it never goes elsewhere.
            let raced = failure { try releases.removeTree("r") }
            swapping.stop()
            if let raced { #expect(raced.contains("releases/r/data"), "\(raced)") }
            try releases.removeTree("r")
            let left = try FileManager.default.contentsOfDirectory(atPath: secret).count
            #expect(left == 20, "round \(round): \(20 - left) of root's files were removed through the symlink")
            if left != 20 { break }
            #expect(!FileManager.default.fileExists(atPath: dir + "/releases/r"))
        }
    }

    /// A hook sees the minimal child environment, not the caller's secrets; and whatever it starts is gone when
    /// it ends, also a process that left its group with setsid.
    @Test func hooksGetNoSecretsAndLeaveNothingRunning() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let envFile = dir + "/hook-env"
        let pidFile = dir + "/hook-ran"
        let hooks = """
            hooks:
              before_switch: {run: "env > \(envFile); setsid sh -c 'exec sleep 297.13' & sleep 0.5; touch \(pidFile)", timeout: 10s}

            """
        // Secrets in this process's environment, as PGPASSWORD and SSH_AUTH_SOCK are in a deploy's (those two are
        // left alone here: the PostgreSQL and agent tests beside need them).
        setenv("REDEYE_TEST_PARENT_SECRET", "hunter2", 1)
        let world = try InstallWorld(hooks: hooks)
        defer { world.remove() }
        _ = try world.installer.install(repository: world.repo, ref: "v1")
        let env = try String(contentsOfFile: envFile, encoding: .utf8)
        #expect(!env.contains("hunter2") && !env.contains("PGPASSWORD") && !env.contains("SSH_AUTH_SOCK"), "\(env)")
        #expect(env.contains("REDEYE_RELEASE=") && env.contains("PATH=/usr/local/sbin:"))
        #expect(FileManager.default.fileExists(atPath: pidFile))
        let left = try runTool("pgrep", ["-f", "sleep 297.13"])
        #expect(left.stdout.isEmpty, "the hook's setsid child still runs: \(left.stdout)")
        _ = try runTool("pkill", ["-f", "sleep 297.13"])
    }

    /// Release records are data, not paths: an id that is not 12 hex digits is ignored (prune never removes
    /// `../../etc` because releases.json says so), and the system's own directories are never an install root.
    @Test func releaseRecordsAreNotPathsAndTheRootIsNotTheSystem() throws {
        let world = try InstallWorld()
        defer { world.remove() }
        _ = try world.installer.install(repository: world.repo, ref: "v1")
        let victim = world.dir + "/victim"
        try FileManager.default.createDirectory(atPath: victim, withIntermediateDirectories: true)
        try "keep\n".write(toFile: victim + "/file", atomically: false, encoding: .utf8)
        let records = world.base + "/.redeye/releases.json"
        var text = try String(contentsOfFile: records, encoding: .utf8)
        let forged = """
            {"id": "../../../../victim", "commit": "0", "ref": "x", "repository": "x", "installed_at": "2001-01-01T00:00:00Z"},
            """
        text = text.replacingOccurrences(of: "[\n", with: "[\n" + forged + "\n", options: .anchored)
        try text.write(toFile: records, atomically: true, encoding: .utf8)
        let parsed = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [Any]
        #expect(parsed?.count == 2, "the forged record must be valid JSON: \(text)")
        var installer = world.installer
        installer.keep = 1
        _ = try installer.install(repository: world.repo, ref: "v2")
        #expect(FileManager.default.fileExists(atPath: victim + "/file"))
        #expect(!(try String(contentsOfFile: records, encoding: .utf8)).contains("victim"))
        for root in ["/", "/etc", "/usr"] {
            let error = failure {
                _ = try BundleInstaller(root: root, prefix: world.prefix).install(repository: world.repo, ref: "v1")
            }
            #expect(error?.contains("refusing the install root \(root)") == true, "\(error ?? "installed")")
        }
    }

    /// The plans' install.user and install.group bound what a bundle may give its files to: those accounts and
    /// root, and a set-id bit only as those accounts.
    @Test func installAccountsBoundTheBundlesOwners() throws {
        let world = try InstallWorld()
        defer { world.remove() }
        var installer = world.installer
        installer.accounts = InstallAccounts(user: "daemon", group: "daemon")
        let error = failure { _ = try installer.install(repository: world.repo, ref: "v1") }
        #expect(
            error?.contains("refused: bin: owned by nobody, but the plans install this role as daemon:daemon") == true,
            "\(error ?? "installed")")
        #expect(installer.currentRelease() == nil)
        installer.accounts = InstallAccounts(user: "nobody", group: "nogroup")
        _ = try installer.install(repository: world.repo, ref: "v1")

        func manifest(_ entry: String) throws -> Manifest {
            try Manifest.parse(Array("entries:\n  - \(entry)\n".utf8), file: "m.yaml")
        }
        let sha = sha256Hex("")
        let web = InstallAccounts(user: "web", group: "web")
        #expect(
            web.refusal(
                try manifest("{path: su, kind: file, mode: \"4755\", owner: root, group: root, sha256: \(sha)}"))?
                .problem.contains("setuid root") == true)
        #expect(
            web.refusal(
                try manifest("{path: sg, kind: file, mode: \"2755\", owner: web, group: root, sha256: \(sha)}"))?
                .problem.contains("setgid root") == true)
        #expect(
            web.refusal(try manifest("{path: ok, kind: file, mode: \"4755\", owner: web, group: web, sha256: \(sha)}"))
                == nil)
        #expect(
            web.refusal(
                try manifest("{path: conf, kind: file, mode: \"0644\", owner: root, group: web, sha256: \(sha)}"))
                == nil)
        let root = InstallAccounts(user: "root", group: "root")
        #expect(
            root.refusal(
                try manifest("{path: su, kind: file, mode: \"4755\", owner: root, group: root, sha256: \(sha)}")) == nil
        )
    }

    /// Writes beneath a directory never follow a symlink someone planted: an atomic write replaces the planted
    /// link (the file it points to is untouched), and a create through a symlinked directory fails.
    @Test func writesBeneathADirectoryFollowNoSymlink() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let victim = dir + "/shadow"
        try "secret\n".write(toFile: victim, atomically: false, encoding: .utf8)
        chmod(victim, 0o600)
        let config = dir + "/consul.d"
        try FileManager.default.createDirectory(atPath: config, withIntermediateDirectories: true)
        // Planted for the final name and for every temporary name the old writer used.
        #expect(symlink(victim, config + "/web.json") == 0)
        for pid in 1..<64 { symlink(victim, config + "/.web.json.\(pid).tmp") }
        try Directory.open(config).writeAtomically("web.json", Array("{}\n".utf8), mode: 0o644)
        #expect(try String(contentsOfFile: victim, encoding: .utf8) == "secret\n")
        var st = stat()
        #expect(stat(victim, &st) == 0 && st.st_mode & 0o777 == 0o600)
        #expect(try String(contentsOfFile: config + "/web.json", encoding: .utf8) == "{}\n")
        #expect(lstat(config + "/web.json", &st) == 0 && st.st_mode & S_IFMT == S_IFREG)
        #expect(symlink(dir, config + "/up") == 0)
        let error = failure { _ = try Directory.open(config).createFile("up/shadow2", mode: 0o644) }
        #expect(error != nil)
        #expect(!FileManager.default.fileExists(atPath: dir + "/shadow2"))
    }
}

/// Swaps `sub` and `alt` in `directory` on a thread of its own until stopped (or until they are gone).
final class Swapper: Sendable {
    private let done = DispatchSemaphore(value: 0)
    private let stopped = Atomic<Bool>(false)

    init(directory: String) {
        let fd = open(directory, O_RDONLY | O_DIRECTORY)
        Thread.detachNewThread {
            for _ in 0..<1_000_000 where !self.stopped.load(ordering: .relaxed) {
                if clinux_exchange(fd, "sub", fd, "alt") != 0 { break }
            }
            close(fd)
            self.done.signal()
        }
    }

    func stop() {
        stopped.store(true, ordering: .relaxed)
        done.wait()
    }
}
