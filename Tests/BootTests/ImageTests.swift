import Foundation
import Glibc
import Image
import TestSupport
import Testing

/// The Debian kernel package the image tests build from (`scripts/test-kernel`, run by `make test`).
func testKernelPackage() throws -> String {
    if let path = ProcessInfo.processInfo.environment["REDEYE_TEST_KERNEL"], !path.isEmpty { return path }
    let found = try runProcess(repositoryRoot + "/scripts/test-kernel", [])
    guard found.status == 0 else { throw TestSetupError(description: "scripts/test-kernel: \(found.stderr)") }
    return found.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
}

/// A trust root as an operator keeps one (or an image holds it, in etc/redeye): the signers, the git server's
/// host key, the agent's key.
@discardableResult
func makeTrustRoot(at trust: String, allowedSigners: String, knownHosts: String, clientKey: String) throws -> String {
    try FileManager.default.createDirectory(atPath: trust, withIntermediateDirectories: true)
    try FileManager.default.copyItem(atPath: allowedSigners, toPath: trust + "/allowed_signers")
    try FileManager.default.copyItem(atPath: knownHosts, toPath: trust + "/known_hosts")
    try FileManager.default.copyItem(atPath: clientKey, toPath: trust + "/id_ed25519")
    try FileManager.default.copyItem(atPath: clientKey + ".pub", toPath: trust + "/id_ed25519.pub")
    return trust
}

@Suite(.serialized) struct ImageTests {
    /// `redeye image build`: what --list says is exactly what a real cpio unpacks, nothing else; the agent
    /// runs inside it with only the libraries it holds; drivers come after what they depend on; the agent's key
    /// is private; and without /proc the agent refuses to run instead of "succeeding" with no arguments.
    @Test func anImageHoldsTheAgentAndWhatItNeedsAndNothingElse() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let key = try generateSSHKey(in: dir, name: "client_key")
        try "ops@example.org namespaces=\"git\" ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA\n".write(
            toFile: dir + "/signers", atomically: true, encoding: .utf8)
        try "[10.213.0.1]:22 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA\n".write(
            toFile: dir + "/known", atomically: true, encoding: .utf8)
        let trust = try makeTrustRoot(
            at: dir + "/trust", allowedSigners: dir + "/signers", knownHosts: dir + "/known", clientKey: key)
        let built = try runRedeye([
            "image", "build", "--kernel", try testKernelPackage(), "--trust", trust, "--out", dir + "/out",
            "--module", "virtio_net", "--module", "e1000", "--json",
        ])
        #expect(built.status == 0, "\(built.stderr)")
        let report = try JSONSerialization.jsonObject(with: Data(built.stdout.utf8)) as? [String: Any] ?? [:]
        let listed = Set(((report["contents"] as? [[String: Any]]) ?? []).compactMap { $0["path"] as? String })
        let outputs = ((report["outputs"] as? [[String: Any]]) ?? []).compactMap { $0["path"] as? String }
        #expect(outputs == ["vmlinuz", "initrd.zst", "boot.ipxe", "dnsmasq.conf"])

        let root = dir + "/root"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        let unpacked = try runTool("/bin/sh", ["-c", "cd '\(root)' && zstd -dc ../out/initrd.zst | cpio -idm --quiet"])
        #expect(unpacked.status == 0, "\(unpacked.stderr)")
        let found = try runTool("/bin/sh", ["-c", "cd '\(root)' && find . -mindepth 1 | sed 's|^\\.||'"])
        let onDisk = Set(found.stdout.split(separator: "\n").map(String.init))
        #expect(
            onDisk == listed,
            "unpacked but not listed: \(onDisk.subtracting(listed)); listed, not unpacked: \(listed.subtracting(onDisk))"
        )
        for path in [
            "/init", "/bin/busybox", "/usr/bin/redeye", "/etc/inittab", "/etc/redeye/udhcpc.script",
            "/etc/redeye/allowed_signers", "/etc/redeye/known_hosts", "/usr/share/redeye/schema/motherbrain.yaml",
            "/dev/console",
        ] {
            #expect(listed.contains(path), "\(path)")
        }
        #expect(!listed.contains("/etc/redeye/plans.url"), "optional trust files only when given")
        var st = stat()
        #expect(lstat(root + "/etc/redeye/id_ed25519", &st) == 0 && st.st_mode & 0o777 == 0o600)

        // Dependencies first: virtio_net needs net_failover, which needs failover.
        let order = try String(contentsOfFile: root + "/etc/redeye/modules", encoding: .utf8).split(separator: "\n")
            .map { ($0 as NSString).lastPathComponent }
        let at = { (name: String) in order.firstIndex(of: name) ?? -1 }
        #expect(at("failover.ko") >= 0 && at("failover.ko") < at("net_failover.ko"), "\(order)")
        #expect(at("net_failover.ko") < at("virtio_net.ko") && at("e1000.ko") >= 0, "\(order)")

        // The agent runs from the image alone (its own loader and libraries), once /proc is there…
        let inside = try runTool(
            "/usr/bin/unshare",
            [
                "-m", "--propagation", "private", "/usr/sbin/chroot", root, "/bin/sh", "-c",
                "mount -t proc proc /proc && /usr/bin/redeye --version",
            ])
        #expect(inside.status == 0 && inside.stdout == "0.1.0\n", "\(inside.stdout) \(inside.stderr)")
        // … and without it (no arguments to read) refuses to do anything, rather than exit 0.
        let blind = try runTool("/usr/sbin/chroot", [root, "/usr/bin/redeye", "boot", "--once"])
        #expect(blind.status == 64, "\(blind.stdout)")
        #expect(blind.stderr.contains("cannot read this process's arguments (is /proc mounted?)"))
        let script = try String(contentsOfFile: dir + "/out/boot.ipxe", encoding: .utf8)
        #expect(script.hasPrefix("#!ipxe\n") && script.contains("kernel vmlinuz initrd=initrd.zst "))
        #expect(script.contains("\ninitrd initrd.zst\n"), "\(script)")

        // gzip, faster to build, into the same directory: the same archive, byte for byte, under the other name;
        // the zstd one is gone (served on, it would carry an older trust root).
        try FileManager.default.copyItem(atPath: dir + "/out/initrd.zst", toPath: dir + "/first.zst")
        let gzip = try runRedeye([
            "image", "build", "--kernel", try testKernelPackage(), "--trust", trust, "--out", dir + "/out",
            "--module", "virtio_net", "--module", "e1000", "--compression", "gzip",
        ])
        #expect(gzip.status == 0, "\(gzip.stderr)")
        let compared = try runTool(
            "/bin/bash", ["-c", "cd '\(dir)' && cmp <(zstd -dc first.zst) <(zcat out/initrd.gz)"])
        #expect(compared.status == 0, "\(compared.stdout) \(compared.stderr)")
        let gzipScript = try String(contentsOfFile: dir + "/out/boot.ipxe", encoding: .utf8)
        #expect(gzipScript.contains("initrd=initrd.gz ") && gzipScript.contains("\ninitrd initrd.gz\n"))
        #expect(!FileManager.default.fileExists(atPath: dir + "/out/initrd.zst"))
    }

    /// Bad inputs: one error each, naming the input, and nothing written.
    @Test func badInputsAreRefusedBeforeAnythingIsWritten() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let key = try generateSSHKey(in: dir, name: "client_key")
        try "signers\n".write(toFile: dir + "/signers", atomically: true, encoding: .utf8)
        try "known\n".write(toFile: dir + "/known", atomically: true, encoding: .utf8)
        let trust = try makeTrustRoot(
            at: dir + "/trust", allowedSigners: dir + "/signers", knownHosts: dir + "/known", clientKey: key)
        let kernel = try testKernelPackage()
        func build(_ extra: [String], kernel: String = kernel) throws -> CommandResult {
            try runRedeye(["image", "build", "--kernel", kernel, "--trust", trust, "--out", dir + "/out"] + extra)
        }
        let unknown = try build(["--module", "nosuchnic"])
        #expect(unknown.status == 1)
        #expect(unknown.stderr.contains("has no module 'nosuchnic', and it is not built in"), "\(unknown.stderr)")
        let notDeb = try build([], kernel: dir + "/signers")
        #expect(notDeb.stderr.contains("give a Debian kernel package (.deb) or a root"), "\(notDeb.stderr)")

        try "x\n".write(toFile: trust + "/notes.txt", atomically: true, encoding: .utf8)
        let extra = try build(["--module", "e1000"])
        #expect(extra.status == 1)
        #expect(extra.stderr.contains("notes.txt: not a file of the trust root"), "\(extra.stderr)")
        try FileManager.default.removeItem(atPath: trust + "/notes.txt")
        try FileManager.default.removeItem(atPath: trust + "/known_hosts")
        let missing = try build(["--module", "e1000"])
        #expect(missing.stderr.contains("known_hosts is missing (it is required)"), "\(missing.stderr)")
        try "known\n".write(toFile: trust + "/known_hosts", atomically: true, encoding: .utf8)
        let format = try build(["--compression", "lzma"])
        #expect(format.status == 64 && format.stderr.contains("lzma"), "\(format.stderr)")

        // No libzstd on the building machine (here: an empty file over it, in a mount namespace of its own):
        // one error that says what to do, before anything is written. The kernel comes unpacked (dpkg-deb
        // needs libzstd itself).
        let unpacked = dir + "/kernel"
        let extracted = try runTool("/usr/bin/dpkg-deb", ["-x", kernel, unpacked])
        #expect(extracted.status == 0, "\(extracted.stderr)")
        let library = try runTool(
            "/bin/sh",
            ["-c", "readlink -f \"$(ldconfig -p | sed -n 's/.*libzstd.so.1 (libc6,x86-64.*=> //p' | head -n1)\""])
        let noZstd = try runTool(
            "/usr/bin/unshare",
            [
                "-m", "--propagation", "private", "/bin/sh", "-c",
                "mount --bind /dev/null \"$0\" && exec \"$@\"",
                library.stdout.trimmingCharacters(in: .whitespacesAndNewlines), redeyeBinary, "image", "build",
                "--kernel",
                unpacked, "--trust", trust, "--out", dir + "/out", "--module", "e1000",
            ])
        #expect(noZstd.status == 1, "\(noZstd.stdout) \(noZstd.stderr)")
        #expect(
            noZstd.stderr.contains("zstd: ")
                && noZstd.stderr.contains("apt-get install libzstd1, or build with --compression gzip"),
            "\(noZstd.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/out"), "nothing written")
    }

    /// A module's .modinfo is read with every offset checked: a truncated, foreign or lying file is one error,
    /// never a crash (the fuzz target `modinfo` runs the same code).
    @Test func moduleInfoIsReadWithEveryOffsetChecked() throws {
        let module = repositoryRoot + "/Tests/Fuzz/corpus/modinfo/mdio_devres.ko"
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: module)))
        let info = try KernelModules.modinfo(bytes: bytes, path: "mdio_devres.ko")
        #expect(info.contains("name=mdio_devres"), "\(info)")
        #expect(info.contains { $0.hasPrefix("depends=") })
        func refusal(_ bytes: [UInt8]) -> String {
            do {
                _ = try KernelModules.modinfo(bytes: bytes, path: "m.ko")
                return "accepted"
            } catch {
                return error.description
            }
        }
        #expect(refusal(Array(bytes.prefix(100))).contains("m.ko: "), "truncated")
        #expect(
            refusal(Array("not an ELF file at all, but long enough to have a header of sixty-four bytes".utf8))
                .contains("no ELF magic"))
        var lying = bytes
        for i in 0x28..<0x30 { lying[i] = 0xff }  // the section table "at" the end of the address space
        #expect(refusal(lying).contains("bad section table"))
        var outside = bytes
        let table = Int(bytes[0x28]) | Int(bytes[0x29]) << 8 | Int(bytes[0x2a]) << 16 | Int(bytes[0x2b]) << 24
        for i in 0..<8 { outside[table + 64 + 0x18 + i] = 0xff }  // section 1's offset
        #expect(refusal(outside).contains("lies outside the file"), "\(refusal(outside))")
    }
}
