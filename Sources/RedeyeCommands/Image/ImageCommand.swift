import ArgumentParser
import FoundationEssentials
import Glibc
import Image

struct ImageCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "image",
        abstract: "Build the netboot image blank hosts boot from (kernel, initramfs, iPXE script, dnsmasq snippet).",
        discussion: """
            EXAMPLES:
              apt-get download linux-image-amd64 && redeye image build --kernel linux-image-*.deb \\
                  --trust /srv/redeye/trust --out /srv/redeye/netboot --http-url http://10.0.0.1/netboot/
            """ + ExitStatus.section(),
        subcommands: [Build.self])

    struct Build: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "build",
            abstract: "Build a netboot image for blank hosts into --out.",
            discussion: """
                Writes OUT/vmlinuz, the initramfs (a newc cpio: OUT/initrd.zst, zstd level 19 with long-distance \
                matching, or OUT/initrd.gz with --compression gzip, faster to build and larger), OUT/boot.ipxe and \
                OUT/dnsmasq.conf, each under a temporary name renamed into place. The initramfs holds exactly: \
                busybox (as init and the few applets its scripts use), this redeye (or --agent) with the shared libraries and loader ldd \
                lists, the NIC drivers of --module with what they depend on (read from the modules' own \
                .modinfo), the built-in inventory schema, the trust root from --trust in /etc/redeye, root and \
                nobody in /etc/passwd, and the image's scripts: rc (proc, sys, dev, run; drivers; udhcpc on \
                every Ethernet interface, asking for option 224) and the agent (`redeye boot run`, until a pass \
                succeeds). No shell on any console. --list prints every file with its size.

                --kernel is a Debian kernel package (apt-get download linux-image-amd64; unpacked with \
                dpkg-deb, not installed) or a root with boot/vmlinuz-VERSION and lib/modules/VERSION (/ for \
                this machine's kernel). --trust holds allowed_signers and known_hosts (required), and \
                optionally id_ed25519(.pub), plans.url, plans.not-before, inventory.url, inventory.env and \
                consul.token; anything else there is refused.

                EXAMPLES:
                  redeye image build --kernel linux-image-6.1.0-57-amd64_6.1.192-3_amd64.deb \\
                      --trust /srv/redeye/trust --out /srv/redeye/netboot
                  redeye image build --kernel / --trust trust --out netboot --module e1000e --list
                  redeye image build --kernel k.deb --trust trust --out netboot \\
                      --http-url http://10.0.0.1/netboot/ --plans-url ssh://git@10.0.0.1/srv/plans.git --json
                """ + ExitStatus.section())

        @Option(
            help: ArgumentHelp("A Debian kernel package, or a root with boot/ and lib/modules/.", valueName: "deb|dir"))
        var kernel: String
        @Option(
            help: ArgumentHelp("The trust root (allowed_signers, known_hosts, the agent's key…).", valueName: "dir"))
        var trust: String
        @Option(help: ArgumentHelp("Where the image is written.", valueName: "dir")) var out: String
        @Option(help: ArgumentHelp("The redeye the hosts run (default: this one).", valueName: "file"))
        var agent: String?
        @Option(help: ArgumentHelp("The busybox for init and the scripts.", valueName: "file"))
        var busybox = "/bin/busybox"
        @Option(
            name: .customLong("module"),
            help: ArgumentHelp(
                "A kernel module to load at start (repeatable; default: common NICs).", valueName: "name"))
        var modules: [String] = []
        @Option(help: ArgumentHelp("Kernel command line.", valueName: "args"))
        var append = "console=tty0 console=ttyS0 rootfstype=ramfs quiet"
        @Option(help: ArgumentHelp("Where OUT is served over HTTP (for dnsmasq.conf).", valueName: "url"))
        var httpURL: String?
        @Option(help: ArgumentHelp("The plans URL for option 224 (for dnsmasq.conf).", valueName: "url"))
        var plansURL: String?
        @Option(help: ArgumentHelp("How the initramfs is compressed: zstd or gzip.", valueName: "zstd|gzip"))
        var compression: InitramfsCompression = .zstd
        @Flag(help: "Print every file of the initramfs with its size.") var list = false
        @Flag(help: "Print what was built as JSON.") var json = false

        func run() throws {
            try reportingErrors {
                let agentPath = try agent ?? Self.currentExecutable()
                var inputs = NetbootImage.Inputs(kernel: kernel, agent: agentPath, trust: trust)
                inputs.busybox = busybox
                if !modules.isEmpty { inputs.modules = modules }
                inputs.commandLine = append
                inputs.httpURL = httpURL
                inputs.plansURL = plansURL
                inputs.compression = compression
                let work = try Self.makeWorkDirectory()
                defer { try? FileManager.default.removeItem(atPath: work) }
                if !json { printError("building the netboot image from \(kernel) into \(out)") }
                let built = try NetbootImage(inputs: inputs, workDirectory: work).build(into: out)
                if json {
                    try printJSON(built)
                    return
                }
                if list {
                    for file in built.contents { print("\(String(file.size).leftPadded(10))  \(file.path)") }
                }
                for file in built.outputs { print("wrote \(out)/\(file.path) (\(file.size) bytes)") }
                print(
                    "kernel \(built.kernelVersion); initramfs: \(counted(built.contents.count, "entry", plural: "entries")), \(built.unpackedBytes) bytes unpacked"
                )
            }
        }

        /// Where a kernel package is unpacked: a directory of this run's own (mkdtemp: made exclusively, 0700),
        /// never a predictable name another user could have made, or pointed elsewhere, first.
        static func makeWorkDirectory() throws -> String {
            let base = FileManager.default.temporaryDirectory.path
            var template = Array((base + "/redeye-image-XXXXXX").utf8CString)
            guard let made = mkdtemp(&template) else {
                throw ImageError("cannot make a work directory in \(base): \(String(cString: strerror(errno)))")
            }
            return String(cString: made)
        }

        /// This process's own binary (the agent an image carries unless --agent says otherwise).
        static func currentExecutable() throws -> String {
            let path = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
            return path
        }
    }
}

extension String {
    fileprivate func leftPadded(_ width: Int) -> String {
        count >= width ? self : String(repeating: " ", count: width - count) + self
    }
}

extension InitramfsCompression: ExpressibleByArgument {}
