import Foundation
import Glibc
import Image
import TestSupport
import Testing

/// Real virtual machines booting the image `redeye image build` made: QEMU (`-accel tcg`, never KVM) on taps
/// bridged into the lab's server namespace, PXE by the VM's own iPXE firmware from the lab's real dnsmasq (with
/// the snippet the image build wrote), the image over HTTP, signed plans and the bundle over ssh:// from the
/// lab's sshd. Everything (VMs, taps, servers, namespaces) is stopped and removed at the end, even on failure.
final class VMLab: @unchecked Sendable {
    let lab: BootLab
    let image: String
    private var daemons: [Daemon] = []
    private(set) var machines: [Machine] = []
    static let httpPort = 8000

    final class Machine: @unchecked Sendable {
        let name: String
        let mac: String
        let address: String
        let console: String
        let monitor: String
        let daemon: Daemon
        /// When it was last powered on or reset, how much of the console was there then, and when the kernel's
        /// first line of that boot was seen (polled: within half a second).
        var started = ContinuousClock.now
        /// The same instant on CLOCK_BOOTTIME, the clock the lab's HTTP server stamps its requests with.
        var startedBootClock = bootClock()
        var startOffset = 0
        var kernelSeen: ContinuousClock.Instant?

        func noteKernel() {
            guard kernelSeen == nil else { return }
            let output = Array(self.output.utf8)
            if output.count > startOffset,
                String(decoding: output[startOffset...], as: UTF8.self).contains("Linux version")
            {
                kernelSeen = .now
            }
        }
        init(name: String, mac: String, address: String, console: String, monitor: String, daemon: Daemon) {
            self.name = name
            self.mac = mac
            self.address = address
            self.console = console
            self.monitor = monitor
            self.daemon = daemon
        }

        /// What the machine printed on its serial console so far.
        var output: String { (try? String(contentsOfFile: console, encoding: .utf8)) ?? "" }
    }

    init(_ lab: BootLab) throws {
        self.lab = lab
        image = lab.dir + "/netboot"
        let trust = try makeTrustRoot(
            at: lab.dir + "/trust", allowedSigners: lab.allowedSigners, knownHosts: lab.knownHosts,
            clientKey: lab.clientKey)
        // The inventory's password, as an operator bakes it into an image (never into the plans).
        try "PGPASSWORD=\(ProcessInfo.processInfo.environment["PGPASSWORD"] ?? "")\n".write(
            toFile: trust + "/inventory.env", atomically: true, encoding: .utf8)
        // `make bench` boots the release build (what hosts run); the tests, the build under test.
        let agent = ProcessInfo.processInfo.environment["REDEYE_BENCH_AGENT"].map { ["--agent", $0] } ?? []
        let built = try runRedeye(
            [
                "image", "build", "--kernel", try testKernelPackage(), "--trust", trust, "--out", image,
                "--module", "virtio_pci", "--module", "virtio_net", "--append",
                "console=ttyS0 rootfstype=ramfs panic=10",
                "--http-url", "http://\(BootLab.serverAddress):\(Self.httpPort)/",
                "--plans-url", lab.url(lab.plansRepository),
            ] + agent)
        guard built.status == 0 else { throw TestSetupError(description: "image build: \(built.stderr)") }
        httpLog = lab.dir + "/http.log"
        // Python's file server, stamping each request's start and end (CLOCK_BOOTTIME) into http.log: the
        // firmware's DHCP, the script and the image download are told apart by when it asked for what.
        let server = """
            import functools, http.server, sys, time
            log = open(sys.argv[3], 'a', buffering=1)
            class Timed(http.server.SimpleHTTPRequestHandler):
                def do_GET(self):
                    start = time.clock_gettime(time.CLOCK_BOOTTIME)
                    super().do_GET()
                    self.wfile.flush()
                    log.write('%s %.3f %.3f\\n' % (self.path, start, time.clock_gettime(time.CLOCK_BOOTTIME)))
                def log_message(self, *args): pass
            handler = functools.partial(Timed, directory=sys.argv[4])
            http.server.ThreadingHTTPServer((sys.argv[1], int(sys.argv[2])), handler).serve_forever()
            """
        daemons.append(
            try Daemon(
                "/usr/sbin/ip",
                [
                    "netns", "exec", lab.server, "python3", "-c", server, BootLab.serverAddress,
                    String(Self.httpPort), httpLog, image,
                ]))
    }

    let httpLog: String

    /// The test PostgreSQL (on this machine's loopback) made reachable to the VMs at 10.213.0.1:5432: a relay
    /// whose listening socket is made inside the server namespace (setns) and whose connections go out from
    /// this machine's. The VMs' inventory URL is returned.
    func relayInventory(_ database: TestDatabase) throws -> String {
        let code = """
            import ctypes, os, socket, sys, threading
            libc = ctypes.CDLL(None, use_errno=True)
            here = os.open('/proc/self/ns/net', os.O_RDONLY)
            there = os.open('/run/netns/' + sys.argv[1], os.O_RDONLY)
            assert libc.setns(there, 0x40000000) == 0
            listener = socket.create_server((sys.argv[2], 5432))
            assert libc.setns(here, 0x40000000) == 0
            def pump(a, b):
                try:
                    while data := a.recv(65536): b.sendall(data)
                except OSError: pass
                for s in (a, b):
                    try: s.shutdown(socket.SHUT_RDWR)
                    except OSError: pass
            while True:
                client, _ = listener.accept()
                server = socket.create_connection(('127.0.0.1', int(sys.argv[3])))
                for a, b in ((client, server), (server, client)):
                    threading.Thread(target=pump, args=(a, b), daemon=True).start()
            """
        guard let range = database.url.range(of: "@127.0.0.1:"),
            let port = Int(database.url[range.upperBound...].prefix { $0.isNumber })
        else { throw TestSetupError(description: "not a loopback PostgreSQL URL: \(database.url)") }
        daemons.append(try Daemon("/usr/bin/python3", ["-c", code, lab.server, BootLab.serverAddress, String(port)]))
        return database.url.replacingOccurrences(of: "@127.0.0.1:\(port)", with: "@\(BootLab.serverAddress):5432")
    }

    /// Starts a VM with one virtio NIC of `mac` on a new tap of the lab's bridge, booting from the network.
    func start(_ name: String, mac: String, address: String) throws -> Machine {
        let tap = "t\(lab.id)\(machines.count)"
        try lab.ip("-n", lab.server, "tuntap", "add", tap, "mode", "tap")
        try lab.ip("-n", lab.server, "link", "set", tap, "master", "br0", "up")
        let console = lab.dir + "/\(name).console"
        let monitor = lab.dir + "/\(name).monitor"
        let daemon = try Daemon(
            "/usr/sbin/ip",
            [
                "netns", "exec", lab.server, "qemu-system-x86_64", "-accel", "tcg", "-m", "1024", "-smp", "1",
                "-display", "none", "-monitor", "unix:\(monitor),server,nowait", "-serial", "file:\(console)",
                "-netdev", "tap,id=n0,ifname=\(tap),script=no,downscript=no", "-device",
                "virtio-net-pci,netdev=n0,mac=\(mac)", "-boot", "n",
            ])
        let machine = Machine(
            name: name, mac: mac, address: address, console: console, monitor: monitor, daemon: daemon)
        machines.append(machine)
        return machine
    }

    /// Presses the machine's reset button (QEMU's monitor): it boots again from the network, blank (its root is
    /// a RAM file system).
    func reset(_ machine: Machine) throws {
        // The monitor's prompt, the command, and its prompt again: the reset has then been done.
        let code = """
            import socket, sys
            s = socket.socket(socket.AF_UNIX)
            s.settimeout(10)
            s.connect(sys.argv[1])
            seen = b''
            def until(count):
                global seen
                while seen.count(b'(qemu)') < count: seen += s.recv(4096)
            until(1)
            s.sendall(b'system_reset\\n')
            until(2)
            """
        let r = try runTool("python3", ["-c", code, machine.monitor])
        guard r.status == 0 else { throw TestSetupError(description: "reset \(machine.name): \(r.stderr)") }
        machine.started = .now
        machine.startedBootClock = bootClock()
        machine.startOffset = machine.output.utf8.count
        machine.kernelSeen = nil
    }

    /// Waits (at most `seconds`) until GET http://ADDRESS:8080/PATH from the server answers `body`; the last
    /// answer (nil: none).
    func waitForPage(_ machine: Machine, _ path: String, _ body: String, seconds: Int) throws -> String? {
        let code =
            "import urllib.request,sys\ntry:\n  print(urllib.request.urlopen(sys.argv[1], timeout=2).read().decode(), end='')\nexcept Exception as e:\n  sys.exit(1)\n"
        var last: String?
        let deadline = ContinuousClock.now + .seconds(seconds)
        while ContinuousClock.now < deadline {
            machine.noteKernel()
            let r = try lab.exec(lab.server, ["python3", "-c", code, "http://\(machine.address):8080/\(path)"])
            if r.status == 0 {
                last = r.stdout
                if r.stdout == body { return last }
            }
            guard machine.daemon.isRunning else { break }
            usleep(500_000)
        }
        return last
    }

    /// Waits (at most `seconds`) until the console, after `offset` bytes, holds `text`.
    func waitForConsole(_ machine: Machine, after offset: Int, _ text: String, seconds: Int) -> Bool {
        let deadline = ContinuousClock.now + .seconds(seconds)
        while ContinuousClock.now < deadline {
            machine.noteKernel()
            let output = Array(machine.output.utf8)
            if output.count > offset, String(decoding: output[offset...], as: UTF8.self).contains(text) { return true }
            guard machine.daemon.isRunning else { return false }
            usleep(250_000)
        }
        return false
    }

    /// For `make bench` (REDEYE_BENCH_VM names the file): a machine's boot since its last reset, power-on to serving, split
    /// into firmware + iPXE + image download (until the kernel's first line), kernel to /init (its own clock),
    /// and init to serving (DHCP, the agent's fetch, verify, install, start); with the image's sizes.
    func recordBoot(_ machine: Machine, servedAt: ContinuousClock.Instant) {
        guard let file = ProcessInfo.processInfo.environment["REDEYE_BENCH_VM"], let kernelSeen = machine.kernelSeen
        else { return }
        let total = (servedAt - machine.started).seconds
        let firmware = (kernelSeen - machine.started).seconds
        // The kernel's timestamp on its "Run /init" line: `[    4.403284] Run /init as init process`.
        let output = Array(machine.output.utf8)
        let boot = String(decoding: output[min(machine.startOffset, output.count)...], as: UTF8.self)
        var toInit = 0.0
        if let run = boot.range(of: "] Run /init as init process"),
            let open = boot[..<run.lowerBound].lastIndex(of: "[")
        {
            toInit = Double(boot[boot.index(after: open)..<run.lowerBound].trimmingCharacters(in: .whitespaces)) ?? 0
        }
        // The firmware's requests since the reset: `PATH START END` per line, on the boot clock.
        var requests: [String: (start: Double, end: Double)] = [:]
        for line in ((try? String(contentsOfFile: httpLog, encoding: .utf8)) ?? "").split(separator: "\n") {
            let fields = line.split(separator: " ")
            guard fields.count == 3, let start = Double(fields[1]), let end = Double(fields[2]),
                start >= machine.startedBootClock, requests[String(fields[0])] == nil
            else { continue }
            requests[String(fields[0])] = (start, end)
        }
        let initrd = InitramfsCompression.zstd.fileName
        guard let scriptAsked = requests["/boot.ipxe"]?.start, let kernelAsked = requests["/vmlinuz"]?.start,
            let initrdSent = requests["/" + initrd]?.end
        else {
            let missing = ["/boot.ipxe", "/vmlinuz", "/" + initrd].filter { requests[$0] == nil }
            Issue.record("the lab's HTTP server logged no \(missing) since the reset: the bench's split would be wrong")
            return
        }
        // Since the reset: until iPXE asked for its script (SeaBIOS, iPXE, DHCP); the script and the image over
        // HTTP; of that, vmlinuz asked to the initramfs sent; then until the kernel's first line.
        let dhcp = scriptAsked - machine.startedBootClock
        let fetch = initrdSent - scriptAsked
        let download = initrdSent - kernelAsked
        let handoff = firmware - (initrdSent - machine.startedBootClock)
        let size = { (name: String) in
            (try? FileManager.default.attributesOfItem(atPath: self.image + "/" + name)[.size] as? Int) ?? 0
        }
        let record = String(
            format: "%@ %.2f %.2f %.2f %.2f %d %d %.2f %.2f %.2f %.2f\n", machine.name, total, firmware, toInit,
            max(0, total - firmware - toInit), size(initrd), size("vmlinuz"), dhcp, fetch, download, handoff)
        if let handle = FileHandle(forWritingAtPath: file)
            ?? {
                FileManager.default.createFile(atPath: file, contents: nil)
                return FileHandle(forWritingAtPath: file)
            }()
        {
            handle.seekToEndOfFile()
            handle.write(Data(record.utf8))
            handle.closeFile()
        }
        // The boot's console beside it, for reading where the time went.
        try? boot.write(toFile: file + ".console", atomically: true, encoding: .utf8)
    }

    func shutdown() {
        for machine in machines { machine.daemon.stop() }
        for daemon in daemons { daemon.stop() }
        machines = []
        daemons = []
        lab.shutdown()
    }
}

@Suite(.serialized) struct VMBootTests {
    /// Two blank VMs netboot the image at once, learn their plans URL from DHCP (udhcpc, option 224), verify
    /// the signed plans, install the role's bundle and serve it from their own addresses. A new signed plans
    /// commit and a reset upgrade one; a rogue DHCP server pointing at plans signed by a foreign key makes the
    /// other install nothing.
    @Test func blankVirtualMachinesDeployThemselves() throws {
        let lab = try BootLab()
        let vms: VMLab
        do {
            vms = try VMLab(lab)
        } catch {
            lab.shutdown()
            throw error
        }
        defer { vms.shutdown() }
        try lab.commitBundle("v1")
        try lab.commitBundle("v2")
        let database = try TestDatabase(.postgres)
        defer { database.remove() }
        let migrated = try runRedeye([
            "schema", "migrate", "--schema", repositoryRoot + "/Schemas", "--db", database.url,
        ])
        #expect(migrated.status == 0, "\(migrated.stderr)")
        let inventory = try vms.relayInventory(database)
        let planned = [("vm01", "52:54:00:7e:00:01", "10.213.0.31"), ("vm02", "52:54:00:7e:00:02", "10.213.0.32")]
        let run = "exec busybox httpd -f -p {{address}}:8080 -h www"
        try lab.commitPlans(
            ref: "v1", hosts: planned, key: lab.signerKey, consul: false, inventory: inventory, run: run)
        let reservations = planned.map { (mac: $0.1, address: $0.2) }
        let pxe = ["conf-file=\(vms.image)/dnsmasq.conf"]
        try lab.startDHCP(option: nil, reservations: reservations, extra: pxe)

        let machines = try planned.map { try vms.start($0.0, mac: $0.1, address: $0.2) }
        for machine in machines {
            let page = try vms.waitForPage(machine, "index.html", "site v1\n", seconds: 240)
            #expect(page == "site v1\n", "\(machine.name): \(machine.output.suffix(3000))")
            #expect(machine.output.contains("udhcpc: lease of \(machine.address) obtained"), "\(machine.name)")
            #expect(
                machine.output.contains("plans at \(lab.url(lab.plansRepository)) (dhcp)"),
                "\(machine.output.suffix(3000))")
            #expect(
                vms.waitForConsole(machine, after: 0, "\(machine.name) (site) now runs release", seconds: 60),
                "\(machine.output.suffix(3000))")
        }
        // Both boots are in the inventory, and the hosts with their MACs.
        let boots = try runRedeye(["inventory", "list", "boot", "--json", "--db", database.url])
        #expect(boots.status == 0, "\(boots.stderr)")
        let rows = try JSONSerialization.jsonObject(with: Data(boots.stdout.utf8)) as? [[String: Any]] ?? []
        for (name, mac, _) in planned {
            #expect(
                rows.contains {
                    $0["host"] as? String == name && $0["mac"] as? String == mac
                        && $0["state"] as? String == "installed"
                },
                "\(boots.stdout)")
        }

        // A new signed plans commit; vm01 is reset and comes back blank, then on v2.
        try lab.commitPlans(
            ref: "v2", hosts: planned, key: lab.signerKey, consul: false, inventory: inventory, run: run)
        let before = machines[0].output.utf8.count
        try vms.reset(machines[0])
        #expect(vms.waitForConsole(machines[0], after: before, "Run /init as init process", seconds: 120))
        let upgraded = try vms.waitForPage(machines[0], "index.html", "site v2\n", seconds: 240)
        #expect(upgraded == "site v2\n", "\(machines[0].output.suffix(3000))")
        // A lone boot (the other VM idle): what `make bench` reports as power-on to serving.
        vms.recordBoot(machines[0], servedAt: .now)

        // A rogue DHCP server (here: the same dnsmasq, told otherwise) points vm02 at plans a foreign key signed.
        let rogue = lab.dir + "/rogue.git"
        try lab.commitPlans(
            ref: "v2", hosts: planned, repository: rogue, key: lab.foreignKey, consul: false,
            run: "exec busybox httpd -f -p {{address}}:8080 -h /etc")
        let rogueBoot = [
            "dhcp-userclass=set:ipxe,iPXE",
            "dhcp-boot=tag:ipxe,http://\(BootLab.serverAddress):\(VMLab.httpPort)/boot.ipxe",
        ]
        try lab.startDHCP(option: lab.url(rogue), reservations: reservations, extra: rogueBoot)
        let seen = machines[1].output.utf8.count
        try vms.reset(machines[1])
        #expect(
            vms.waitForConsole(machines[1], after: seen, "refusing the plans from \(lab.url(rogue))", seconds: 240),
            "\(machines[1].output.suffix(3000))")
        let console = String(decoding: Array(machines[1].output.utf8)[seen...], as: UTF8.self)
        #expect(!console.contains("now runs release"), "\(console.suffix(3000))")
        #expect(try vms.waitForPage(machines[1], "index.html", "", seconds: 2) == nil, "it serves nothing")

        // A machine no plans name (its MAC unplanned, its address from the pool): it boots, trusts the signed
        // plans, finds no host with its MAC, and enlists in the inventory for an operator, running nothing.
        try lab.startDHCP(option: nil, reservations: reservations, extra: pxe)
        let stranger = try vms.start("vm09", mac: "52:54:00:7e:00:09", address: "10.213.0.100")
        #expect(
            vms.waitForConsole(
                stranger, after: 0, "no role for 52:54:00:7e:00:09 yet: enlisted in the inventory", seconds: 240),
            "\(stranger.output.suffix(3000))")
        #expect(!stranger.output.contains("now runs release"), "\(stranger.output.suffix(3000))")
        let enlisted = try runRedeye([
            "inventory", "get", "host", "discovered-5254007e0009", "--json", "--db", database.url,
        ])
        #expect(enlisted.status == 0, "\(enlisted.stderr)")
        let record = try JSONSerialization.jsonObject(with: Data(enlisted.stdout.utf8)) as? [String: Any] ?? [:]
        #expect(record["status"] as? String == "discovered", "\(enlisted.stdout)")
        let strangerBoots = try runRedeye(["inventory", "list", "boot", "--json", "--db", database.url])
        let strangerRows =
            try JSONSerialization.jsonObject(with: Data(strangerBoots.stdout.utf8)) as? [[String: Any]] ?? []
        #expect(
            strangerRows.contains {
                $0["mac"] as? String == "52:54:00:7e:00:09" && $0["state"] as? String == "enlisted"
                    && $0["host"] is NSNull
            }, "\(strangerBoots.stdout)")
    }
}

/// CLOCK_BOOTTIME in seconds: Python's `time.clock_gettime(time.CLOCK_BOOTTIME)` on the same machine.
func bootClock() -> Double {
    var now = timespec()
    clock_gettime(CLOCK_BOOTTIME, &now)
    return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
}

extension Swift.Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
