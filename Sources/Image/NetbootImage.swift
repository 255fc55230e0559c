import FileSystem
import FoundationEssentials
import Glibc
import Schema
import Spawn
import Text

/// A netboot image for blank hosts: a kernel, an initramfs holding the agent and exactly what it needs, an
/// iPXE script and a dnsmasq snippet. The initramfs is busybox's init running `rc` (file systems, NIC
/// drivers, DHCP with udhcpc) and then the agent, with the image's trust root in /etc/redeye.
public struct NetbootImage: Sendable {
    public struct Inputs: Sendable {
        /// A Debian kernel package (`linux-image-*.deb`), or a root holding `boot/vmlinuz-VERSION` and
        /// `lib/modules/VERSION` (`/` for this machine's own kernel).
        public var kernel: String
        /// The `redeye` the hosts run.
        public var agent: String
        /// A busybox, static or not (its libraries come along if it has any).
        public var busybox: String = "/bin/busybox"
        /// The trust root: allowed_signers and known_hosts, the agent's key and the optional files of
        /// `trustFiles`.
        public var trust: String
        /// Kernel modules to load at start (with what they depend on): the NICs the hosts may have.
        public var modules: [String] = NetbootImage.defaultModules
        /// Appended to the kernel command line.
        public var commandLine: String = "console=tty0 console=ttyS0 rootfstype=ramfs quiet"
        /// Where `--out` is served over HTTP (`http://10.0.0.1/redeye/`), for the dnsmasq snippet.
        public var httpURL: String?
        /// The plans URL the DHCP server sends in option 224, for the dnsmasq snippet.
        public var plansURL: String?
        /// How the initramfs is compressed.
        public var compression: InitramfsCompression = .zstd

        public init(kernel: String, agent: String, trust: String) {
            self.kernel = kernel
            self.agent = agent
            self.trust = trust
        }
    }

    /// Network drivers of common servers and VMs: virtio, Intel (e1000, e1000e, igb, igc, ixgbe, i40e),
    /// Realtek, Broadcom.
    public static let defaultModules = [
        "virtio_pci", "virtio_net", "e1000", "e1000e", "igb", "igc", "ixgbe", "i40e", "r8169", "tg3", "bnx2",
    ]

    /// The trust root's files, as `/etc/redeye/NAME`, with their modes; the first two are required.
    public static let trustFiles: [(name: String, mode: UInt32)] = [
        ("allowed_signers", 0o644), ("known_hosts", 0o644), ("id_ed25519", 0o600), ("id_ed25519.pub", 0o644),
        ("plans.url", 0o644), ("plans.not-before", 0o644), ("inventory.url", 0o644), ("inventory.env", 0o600),
        ("consul.token", 0o600), ("ca.pem", 0o644), ("git.token", 0o600),
    ]

    /// The busybox applets the image's own scripts use, as links in /bin. A role's commands call what its
    /// bundle brings, or `busybox APPLET`.
    static let applets = [
        "sh", "mount", "umount", "mkdir", "chmod", "cat", "rm", "mv", "env", "sed", "ip", "insmod", "udhcpc",
        "reboot", "poweroff", "sleep",
    ]

    public var inputs: Inputs
    /// Where a kernel package is unpacked while the image is built.
    public var workDirectory: String

    public init(inputs: Inputs, workDirectory: String) {
        self.inputs = inputs
        self.workDirectory = workDirectory
    }

    /// What was built.
    public struct Built: Sendable, Encodable {
        public struct File: Sendable, Encodable {
            public var path: String
            public var size: Int
        }
        public var kernelVersion: String
        /// Every entry of the initramfs with its size.
        public var contents: [File]
        /// The files written to the output directory with their sizes.
        public var outputs: [File]
        public var unpackedBytes: Int

        enum CodingKeys: String, CodingKey {
            case contents, outputs
            case kernelVersion = "kernel_version"
            case unpackedBytes = "unpacked_bytes"
        }
    }

    /// Builds the image into `out` (created if missing): `vmlinuz`, the initramfs (`initrd.zst` or `initrd.gz`),
    /// `boot.ipxe`, `dnsmasq.conf`,
    /// each written under a temporary name and renamed into place.
    public func build(into out: String) throws -> Built {
        // The trust root first: it is checked in a moment, the kernel package takes seconds to unpack.
        let trust = try readTrust()
        try inputs.compression.checkAvailable()
        let kernel = try locateKernel()
        var archive = CpioArchive()
        try addSystem(to: &archive, trust: trust, kernelModules: kernel.modules)
        let output = try Directory.open(out, create: 0o755)
        var outputs: [Built.File] = []
        outputs.append(try copy(kernel.vmlinuz, as: "vmlinuz", into: output))
        outputs.append(try writeCompressed(archive, into: output))
        let ipxe = bootScript()
        try output.writeAtomically("boot.ipxe", Array(ipxe.utf8), mode: 0o644)
        outputs.append(Built.File(path: "boot.ipxe", size: ipxe.utf8.count))
        // An earlier build's initramfs in the other format would stay served beside this one, with its older
        // trust root and key: gone once boot.ipxe names the new one.
        for other in InitramfsCompression.allCases where other != inputs.compression {
            try output.removeFile(other.fileName)
        }
        let dnsmasq = dnsmasqSnippet()
        try output.writeAtomically("dnsmasq.conf", Array(dnsmasq.utf8), mode: 0o644)
        outputs.append(Built.File(path: "dnsmasq.conf", size: dnsmasq.utf8.count))
        let contents = archive.entries.map { Built.File(path: "/" + $0.path, size: $0.size) }
        return Built(
            kernelVersion: kernel.version, contents: contents, outputs: outputs,
            unpackedBytes: contents.reduce(0) { $0 + $1.size })
    }

    // MARK: the kernel

    struct Kernel {
        var version: String
        var vmlinuz: String
        var modules: KernelModules
    }

    /// The kernel and its modules: from a package (unpacked with dpkg-deb into the work directory) or a root.
    func locateKernel() throws -> Kernel {
        var root = inputs.kernel
        var isDirectory = false
        guard FileManager.default.fileExists(atPath: root, isDirectory: &isDirectory) else {
            throw ImageError("--kernel \(root): no such file or directory")
        }
        if !isDirectory {
            guard root.hasSuffix(".deb") else {
                throw ImageError(
                    "--kernel \(root): give a Debian kernel package (.deb) or a root with boot/ and lib/modules/")
            }
            let unpacked = workDirectory + "/kernel"
            try? FileManager.default.removeItem(atPath: unpacked)
            try FileManager.default.createDirectory(atPath: unpacked, withIntermediateDirectories: true)
            let (ended, said) = try runCollecting(
                ProcessSpec("/usr/bin/dpkg-deb", ["dpkg-deb", "-x", root, unpacked]), timeout: .seconds(300))
            guard ended.succeeded else {
                throw ImageError(
                    "--kernel \(root): dpkg-deb -x failed (\(ended)): \(String(decoding: said.prefix(500), as: UTF8.self))"
                )
            }
            root = unpacked
        }
        let boot = root + "/boot"
        let kernels = ((try? FileManager.default.contentsOfDirectory(atPath: boot)) ?? []).filter {
            $0.hasPrefix("vmlinuz-")
        }.sorted()
        let candidates = kernels.map { String($0.dropFirst("vmlinuz-".count)) }.filter { version in
            ["/lib/modules/", "/usr/lib/modules/"].contains {
                FileManager.default.fileExists(atPath: root + $0 + version)
            }
        }
        guard let version = candidates.last else {
            throw ImageError("--kernel \(inputs.kernel): no boot/vmlinuz-VERSION with its lib/modules/VERSION")
        }
        let modules = ["/lib/modules/", "/usr/lib/modules/"].map { root + $0 + version }.first {
            FileManager.default.fileExists(atPath: $0 + "/kernel")
        }
        guard let modules else { throw ImageError("--kernel \(inputs.kernel): lib/modules/\(version) has no kernel/") }
        return Kernel(
            version: version, vmlinuz: boot + "/vmlinuz-" + version, modules: try KernelModules(directory: modules))
    }

    // MARK: the initramfs

    /// Everything the initramfs holds, and nothing else.
    func addSystem(
        to archive: inout CpioArchive, trust: [(name: String, bytes: [UInt8], mode: UInt32)],
        kernelModules: KernelModules
    ) throws {
        for directory in ["proc", "sys", "dev", "run", "tmp", "var/lib/redeye", "var/lib/udhcpc", "root"] {
            try archive.add(directory, .directory, mode: directory == "tmp" ? 0o1777 : 0o755)
        }
        try archive.add("dev/console", .characterDevice(major: 5, minor: 1), mode: 0o600)
        try archive.add("dev/null", .characterDevice(major: 1, minor: 3), mode: 0o666)
        // busybox, as init and as the applets the scripts use.
        try archive.add("bin/busybox", .file(try read(inputs.busybox, what: "--busybox")), mode: 0o755)
        try archive.add("init", .symlink(target: "bin/busybox"), mode: 0o777)
        for applet in Self.applets { try archive.add("bin/" + applet, .symlink(target: "busybox"), mode: 0o777) }
        try archive.add("usr/bin/redeye", .file(try read(inputs.agent, what: "--agent")), mode: 0o755)
        // The shared libraries and the loader the agent (and a dynamic busybox) need, where ldd finds them.
        var libraries: [String] = []
        for program in [inputs.agent, inputs.busybox] {
            for library in try Self.sharedLibraries(of: program) where !libraries.contains(library) {
                libraries.append(library)
            }
        }
        for library in libraries where !archive.contains(library) {
            try archive.add(library, .file(try read(library, what: "a library of the agent")), mode: 0o755)
        }
        // The image's scripts.
        for (name, path, mode) in [
            ("inittab", "etc/inittab", UInt32(0o644)), ("rc", "etc/redeye/rc", 0o755),
            ("agent", "etc/redeye/agent", 0o755), ("udhcpc.script", "etc/redeye/udhcpc.script", 0o755),
        ] {
            guard let text = BuiltInImageFiles.files[name] else {
                throw ImageError("built without bootstrap/image/\(name)")
            }
            try archive.add(path, .file(Array((text + "\n").utf8)), mode: mode)
        }
        try archive.add(
            "etc/passwd",
            .file(Array("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n".utf8)),
            mode: 0o644)
        try archive.add("etc/group", .file(Array("root:x:0:\nnogroup:x:65534:\n".utf8)), mode: 0o644)
        try archive.add("etc/hostname", .file(Array("redeye\n".utf8)), mode: 0o644)
        for file in trust { try archive.add("etc/redeye/" + file.name, .file(file.bytes), mode: file.mode) }
        // The inventory schema the agent writes records with.
        for file in BuiltInSchema.files {
            try archive.add("usr/share/redeye/schema/" + file.name, .file(Array((file.text + "\n").utf8)), mode: 0o644)
        }
        // NIC drivers, dependencies first, and the order rc loads them in.
        let order = try kernelModules.loadOrder(inputs.modules)
        let version = lastPathComponent(kernelModules.directory)
        var list = ""
        for path in order {
            try archive.add(
                "lib/modules/\(version)/" + path,
                .file(try read(kernelModules.directory + "/" + path, what: "a kernel module")), mode: 0o644)
            list += "\(version)/\(path)\n"
        }
        try archive.add("etc/redeye/modules", .file(Array(list.utf8)), mode: 0o644)
    }

    /// The trust root's files, read without following symlinks; a file that is not one of them is refused (an
    /// image holds what is declared, nothing else), and the first two are required.
    func readTrust() throws -> [(name: String, bytes: [UInt8], mode: UInt32)] {
        let trust: Directory
        do { trust = try Directory.open(inputs.trust) } catch { throw ImageError("--trust \(inputs.trust): \(error)") }
        let known = Set(Self.trustFiles.map(\.name))
        for name in try trust.names().sorted() where !known.contains(name) {
            throw ImageError(
                "--trust \(inputs.trust)/\(name): not a file of the trust root (\(Self.trustFiles.map(\.name).joined(separator: ", ")))"
            )
        }
        var files: [(name: String, bytes: [UInt8], mode: UInt32)] = []
        for (index, file) in Self.trustFiles.enumerated() {
            guard trust.status(file.name) != nil else {
                if index < 2 { throw ImageError("--trust \(inputs.trust): \(file.name) is missing (it is required)") }
                continue
            }
            do {
                files.append((file.name, try trust.read(file.name, limit: 1 << 20), file.mode))
            } catch {
                throw ImageError("--trust: \(error)")
            }
        }
        return files
    }

    func read(_ path: String, what: String) throws -> [UInt8] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ImageError("\(what) \(path): cannot read it")
        }
        return [UInt8](data)
    }

    /// The shared libraries and the loader `program` needs, as ldd resolves them (absolute paths); none for a
    /// static program.
    static func sharedLibraries(of program: String) throws -> [String] {
        let (ended, said) = try runCollecting(ProcessSpec("/usr/bin/ldd", ["ldd", program]), timeout: .seconds(60))
        let text = String(decoding: said, as: UTF8.self)
        if text.contains("not a dynamic executable") || text.contains("statically linked") { return [] }
        guard ended.succeeded else { throw ImageError("ldd \(program) failed (\(ended)): \(text.prefix(300))") }
        var libraries: [String] = []
        for line in text.split(separator: "\n") {
            let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            if let arrow = words.firstIndex(of: "=>") {
                guard arrow + 1 < words.count else { continue }
                let target = String(words[arrow + 1])
                if target == "not" { throw ImageError("\(program) needs \(words[0]), which is not found (ldd)") }
                if target.hasPrefix("/") { libraries.append(target) }
            } else if let first = words.first, first.hasPrefix("/") {
                libraries.append(String(first))  // the loader
            }
        }
        return libraries
    }

    func copy(_ path: String, as name: String, into output: Directory) throws -> Built.File {
        let bytes = try read(path, what: "the kernel")
        try output.writeAtomically(name, bytes, mode: 0o644)
        return Built.File(path: name, size: bytes.count)
    }

    /// The archive, compressed, into a temporary file of `output`, renamed into place once complete.
    func writeCompressed(_ archive: CpioArchive, into output: Directory) throws -> Built.File {
        let name = inputs.compression.fileName
        let temporary = ".\(name).\(getpid()).tmp"
        try? output.removeFile(temporary)
        let fd = try output.createFile(temporary, mode: 0o644)
        var isOpen = true
        do {
            let writer = try inputs.compression.writer(fd: fd, display: output.path + "/" + name)
            try archive.write { try writer.write($0) }
            try writer.finish()
            guard fsync(fd) == 0 else { throw SystemError("write \(output.path)/\(name)") }
            close(fd)
            isOpen = false
            try output.rename(temporary, to: name)
            return Built.File(path: name, size: writer.bytesOut)
        } catch {
            if isOpen { close(fd) }
            try? output.removeFile(temporary)
            throw error
        }
    }

    // MARK: the boot server's files

    /// iPXE's script: the kernel and initramfs from beside it (relative URLs resolve against the script's).
    func bootScript() -> String {
        let initrd = inputs.compression.fileName
        return """
            #!ipxe
            # Written by `redeye image build`: served beside vmlinuz and \(initrd), fetched by iPXE (docs/boot.md).
            kernel vmlinuz initrd=\(initrd) \(inputs.commandLine)
            initrd \(initrd)
            boot

            """
    }

    /// A dnsmasq configuration for the boot network: DHCP with option 224 and the netboot chain (iPXE firmware
    /// gets boot.ipxe over HTTP; other PXE firmware gets iPXE itself over TFTP first).
    func dnsmasqSnippet() -> String {
        let http = inputs.httpURL.map { $0.hasSuffix("/") ? $0 : $0 + "/" } ?? "http://BOOT-SERVER/redeye/"
        let plans = inputs.plansURL ?? "ssh://git@PLANS-SERVER/srv/redeye/plans.git"
        return """
            # Written by `redeye image build` for the boot network's dnsmasq (/etc/dnsmasq.d/redeye-netboot.conf).
            # Set dhcp-range for your network; serve the image directory at \(http) (any HTTP server).
            # dhcp-range=10.0.0.100,10.0.0.199,12h
            # The plans URL, forced: PXE and udhcpc clients do not always ask for option 224.
            dhcp-option-force=224,"\(plans)"
            # iPXE identifies itself (user class "iPXE", option 175): it gets the boot script over HTTP.
            dhcp-userclass=set:ipxe,iPXE
            dhcp-match=set:ipxe,175
            dhcp-boot=tag:ipxe,\(http)boot.ipxe
            # This offer is iPXE's whole answer (option 175.176, no-pxedhcp): it boots at once instead of waiting
            # 2 s for ProxyDHCP offers.
            dhcp-option=tag:ipxe,encap:175,176,1b
            # Other PXE firmware (most servers' own) gets iPXE first, over TFTP, then asks again as iPXE:
            # apt-get install ipxe (undionly.kpxe for BIOS, ipxe.efi for UEFI) and uncomment these.
            #enable-tftp
            #tftp-root=/usr/lib/ipxe
            #dhcp-match=set:efi64,option:client-arch,7
            #dhcp-boot=tag:!ipxe,tag:efi64,ipxe.efi
            #dhcp-boot=tag:!ipxe,tag:!efi64,undionly.kpxe
            # Router advertisements: without them iPXE waits about 13 s for IPv6 before it boots over IPv4.
            # dnsmasq sends them only for an IPv6 range: name the boot network's interface (it needs an IPv6
            # address, a ULA such as fd00::1/64 will do) and uncomment the range.
            enable-ra
            #dhcp-range=::,constructor:eth0,ra-only

            """
    }
}
