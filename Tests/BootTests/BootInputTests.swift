import Foundation
import Glibc
import Plan
import TestSupport
import Testing

@testable import Boot

/// Bad input to the agent: leases, hints, repositories and plans that must each give one clear error and
/// install nothing. Hosts here are directories (a fake sysfs, a root); the plans are real signed git commits.
@Suite("boot, bad input")
struct BootInputTests {
    /// A host root with one Ethernet interface in a fake sysfs and the image's trust files.
    final class World: @unchecked Sendable {
        let dir: String
        let root: String
        let signer: String
        let mac = "52:54:00:77:00:01"
        init() throws {
            dir = try makeTemporaryDirectory()
            root = dir + "/root"
            signer = try generateSSHKey(in: dir, name: "ops_key")
            try writeFiles(
                [
                    "sys/class/net/eth0/address": mac + "\n", "sys/class/net/eth0/type": "1\n",
                    "sys/class/net/eth0/addr_assign_type": "0\n", "sys/class/net/eth0/ifindex": "2\n",
                    "sys/class/net/lo/address": "00:00:00:00:00:00\n", "sys/class/net/lo/type": "772\n",
                    "root/cmdline": "quiet\n",
                    "root/etc/redeye/allowed_signers":
                        "ops@example.org namespaces=\"git\" \(try String(contentsOfFile: signer + ".pub", encoding: .utf8))",
                ], under: dir)
        }
        deinit { try? FileManager.default.removeItem(atPath: dir) }

        var layout: BootLayout { BootLayout(root: root, sysfs: dir + "/sys", cmdline: root + "/cmdline") }

        func write(_ path: String, _ text: String) throws {
            try writeFiles([path: text], under: root)
        }

        func write(_ path: String, bytes: [UInt8]) throws {
            try FileManager.default.createDirectory(
                atPath: ((root + path) as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try Data(bytes).write(to: URL(fileURLWithPath: root + path))
        }

        func discover(code: Int = 224) -> Discovery {
            PlansDiscovery(
                layout: layout, optionCode: code, explicitURL: nil, environment: [:],
                commandLine: KernelCommandLine.read(layout.cmdline), dns: nil
            ).discover()
        }

        /// `redeye boot --once` in this world.
        func boot(_ extra: [String] = []) throws -> CommandResult {
            try runRedeye(
                [
                    "boot", "--once", "--root", root, "--sys", dir + "/sys", "--cmdline", root + "/cmdline",
                    "--retry-for",
                    "0s", "--no-dns", "--schema", repositoryRoot + "/Schemas",
                ] + extra)
        }

        /// A plans directory whose only host is another machine (this one finds no role in it).
        func plansForAnotherHost() throws -> String {
            let plans = dir + "/plans"
            try writeFiles(
                [
                    "site.yaml": "bundles: file://\(dir)/bundles\n",
                    "roles/app.yaml":
                        "bundle: {repo: app.git, ref: v1}\ninstall: {root: /srv/app, user: root, group: root}\n",
                    "hosts.yaml": "hosts:\n  - {name: other, mac: \"52:54:00:00:00:99\", role: app}\n",
                ], under: plans)
            return plans
        }

        /// Nothing was installed anywhere under the root.
        var installedNothing: Bool {
            !FileManager.default.fileExists(atPath: root + "/srv")
        }
    }

    static func dhclientLease(_ option: String) -> String {
        """
        lease {
          interface "eth0";
          fixed-address 10.0.0.5;
          option subnet-mask 255.255.255.0;
        \(option)
          renew 1 2026/11/23 00:55:36;
        }

        """
    }

    /// A raw DHCP packet as dhcpcd keeps it, with `options` after the magic cookie.
    static func dhcpcdLease(_ options: [UInt8]) -> [UInt8] {
        [UInt8](repeating: 0, count: 236) + [99, 130, 83, 99] + options
    }

    /// Every client's lease yields the option, and (RFC 2132 section 2) without the trailing NULs a server sends
    /// when it counts a C string's terminator: one server boots every host, whichever client it runs.
    @Test("each DHCP client's lease format yields the option", arguments: [false, true])
    func leaseFormats(trailingNUL: Bool) throws {
        let url = "ssh://git@10.0.0.1/plans.git"
        let sent = Array(url.utf8) + (trailingNUL ? [0, 0] : [])
        let hex = sent.map { String(format: "%02x", $0) }
        let cases: [(String, (World) throws -> Void)] = [
            (
                "dhclient",
                {
                    try $0.write(
                        "/var/lib/dhcp/dhclient.eth0.leases",
                        Self.dhclientLease(
                            trailingNUL
                                ? "  option redeye-plans \(hex.joined(separator: ":"));"
                                : "  option redeye-plans \"\(url)\";"))
                }
            ),
            (
                "dhclient undeclared",
                {
                    try $0.write(
                        "/var/lib/dhcp/dhclient.leases",
                        Self.dhclientLease("  option unknown-224 \(hex.joined(separator: ":"));"))
                }
            ),
            (
                "networkd",
                {
                    try $0.write(
                        "/run/systemd/netif/leases/2",
                        "# This is private data. Do not parse.\nADDRESS=10.0.0.5\nOPTION_224=\(hex.joined())\n")
                }
            ),
            (
                "dhcpcd",
                {
                    try $0.write(
                        "/var/lib/dhcpcd/eth0.lease",
                        bytes: Self.dhcpcdLease([53, 1, 5, 224, UInt8(sent.count)] + sent + [255]))
                }
            ),
            (
                "udhcpc",
                {
                    try $0.write(
                        "/var/lib/udhcpc/eth0.lease", "INTERFACE=eth0\nADDRESS=10.0.0.5\nOPTION_224=\(hex.joined())\n")
                }
            ),
        ]
        for (client, prepare) in cases {
            let world = try World()
            try prepare(world)
            let found = world.discover()
            #expect(found.rejected.isEmpty, "\(client): \(found.rejected)")
            #expect(found.hints.map(\.url) == [url], "\(client)")
            #expect(found.hints.first?.source == "dhcp")
            #expect(found.leaseInterface == "eth0", "\(client)")
        }
        // NetworkManager's dispatcher environment.
        let world = try World()
        let nm = PlansDiscovery(
            layout: world.layout, optionCode: 224, explicitURL: nil,
            environment: ["DHCP4_PRIVATE_224": hex.joined(separator: ":"), "DEVICE_IFACE": "eth0"],
            commandLine: KernelCommandLine(""), dns: nil
        ).discover()
        #expect(nm.hints.map(\.url) == [url])
        #expect(nm.hints.first?.origin.contains("NetworkManager") == true)
    }

    @Test("fallbacks in order: lease, then kernel command line, then the image default; BOOTIF picks the interface")
    func fallbacks() throws {
        let world = try World()
        try world.write("/etc/redeye/plans.url", "file:///srv/image-default.git\n")
        try world.write("/cmdline", "quiet redeye.plans=ssh://git@plans/fleet.git BOOTIF=01-52-54-00-77-00-01\n")
        let found = world.discover()
        #expect(found.hints.map(\.source) == ["cmdline", "image"])
        let interfaces = try InterfaceReader(sysfs: world.dir + "/sys").interfaces()
        #expect(interfaces.map(\.name) == ["eth0"])
        let (chosen, reason) = try bootInterface(
            interfaces, commandLine: KernelCommandLine.read(world.layout.cmdline), leaseInterface: nil)
        #expect(chosen.name == "eth0" && reason.contains("BOOTIF"))
        #expect(throws: BootError.self) {
            try bootInterface(
                interfaces, commandLine: KernelCommandLine("BOOTIF=01-aa-bb-cc-dd-ee-ff"), leaseInterface: nil)
        }
        #expect(throws: BootError.self) {
            try bootInterface(interfaces, commandLine: KernelCommandLine("BOOTIF=nonsense"), leaseInterface: nil)
        }
    }

    @Test(
        "corrupt or truncated leases, bad option values: each named with file, line and column, and nothing installed",
        arguments: [
            (
                "/var/lib/dhcp/dhclient.eth0.leases",
                "lease {\n  interface \"eth0\";\n  option redeye-plans \"ssh://x/y\";\n", "dhclient.eth0.leases:1:7",
                "never closed"
            ),
            (
                "/var/lib/dhcp/dhclient.eth0.leases", "lease {\n  option redeye-plans \"ssh://x/y;\n}\n",
                "dhclient.eth0.leases:2:23", "string not closed"
            ),
            (
                "/var/lib/dhcp/dhclient.eth0.leases", Self.dhclientLease("  option redeye-plans \"not a url\";"),
                "dhclient.eth0.leases:5:3", "is not a URL"
            ),
            (
                "/var/lib/dhcp/dhclient.eth0.leases",
                Self.dhclientLease("  option redeye-plans \"gopher://10.0.0.1/plans\";"), "dhclient.eth0.leases:5:3",
                "unsupported scheme 'gopher'"
            ),
            (
                "/var/lib/dhcp/dhclient.eth0.leases", Self.dhclientLease("  option unknown-224 zz:01;"),
                "dhclient.eth0.leases:5:22", "not hex-encoded"
            ),
            (
                "/run/systemd/netif/leases/2", "ADDRESS=10.0.0.5\nOPTION_224=6874747\n", "leases/2:2:12",
                "odd number of digits"
            ),
            ("/run/systemd/netif/leases/2", "ADDRESS=10.0.0.5\ngarbage\n", "leases/2:2:1", "expected KEY=VALUE"),
        ])
    func badLeases(path: String, content: String, location: String, message: String) throws {
        let world = try World()
        try world.write(path, content)
        let found = world.discover()
        #expect(found.hints.isEmpty)
        let errors = found.rejected.map(\.description).joined(separator: "\n")
        #expect(errors.contains(location) && errors.contains(message), "\(errors)")
        let booted = try world.boot()
        #expect(booted.status == 1)
        #expect(booted.stderr.contains(location) && booted.stderr.contains("no plans URL found"), "\(booted.stderr)")
        #expect(world.installedNothing)
        let status = try String(contentsOfFile: world.root + "/run/redeye/status.json", encoding: .utf8)
        #expect(status.contains("\"state\" : \"failed\"") && status.contains("\"step\" : \"learn\""))
    }

    @Test("truncated and oversized dhcpcd leases")
    func dhcpcdProblems() throws {
        let world = try World()
        try world.write(
            "/var/lib/dhcpcd/eth0.lease", bytes: Self.dhcpcdLease([53, 1, 5, 224, 40] + Array("ssh://x".utf8)))
        #expect(
            world.discover().rejected.map(\.description).contains {
                $0.contains("eth0.lease:1:244") && $0.contains("truncated")
            })
        try world.write("/var/lib/dhcpcd/eth0.lease", bytes: [1, 2, 3])
        #expect(world.discover().rejected.map(\.description).contains { $0.contains("too short") })
        // The option given three times (RFC 3396 concatenation) adds up to more than one option may hold.
        let part = [UInt8](repeating: UInt8(ascii: "a"), count: 150)
        let url = Array("ssh://h/".utf8)
        try world.write(
            "/var/lib/dhcpcd/eth0.lease",
            bytes: Self.dhcpcdLease([224, UInt8(url.count)] + url + [224, 150] + part + [224, 150] + part + [255]))
        let oversized = world.discover()
        #expect(oversized.hints.isEmpty)
        #expect(oversized.rejected.map(\.description).contains { $0.contains("longer than one DHCP option (255)") })
    }

    @Test(
        "a plans repository that does not exist, unsigned plans, a missing bundle ref: clear errors, nothing installed")
    func badRepositories() throws {
        let world = try World()
        let never = try runRedeye(["boot", "status", "--root", world.root])
        #expect(never.status == 5 && never.stderr.contains("no boot status at"), "\(never.stderr)")
        let missing = try world.boot(["--plans", world.dir + "/nowhere.git"])
        #expect(missing.status == 1)
        #expect(
            missing.stderr.contains("no plans repository there") || missing.stderr.contains("cannot fetch"),
            "\(missing.stderr)")
        #expect(world.installedNothing)

        // Plans naming a bundle ref that does not exist, signed by the trusted key.
        let plans = world.dir + "/plans"
        try writeFiles(
            [
                "site.yaml": "bundles: file://\(world.dir)/bundles\n",
                "roles/app.yaml":
                    "bundle: {repo: app.git, ref: v9}\ninstall: {root: /srv/app, user: root, group: root}\n",
                "hosts.yaml": "hosts:\n  - {name: app01, mac: \"\(world.mac)\", role: app}\n",
            ], under: plans)
        try writeFiles(["www/index.html": "hi\n"], under: world.dir + "/src")
        #expect(
            try runRedeye(["bundle", "init", world.dir + "/src", "--owner", "root", "--group", "root"]).status == 0)
        let committed = try runRedeye([
            "bundle", "commit", world.dir + "/src", "--repo", world.dir + "/bundles/app.git", "--tag", "v1", "-m", "v1",
            "--author", "Ops <ops@example.org>",
        ])
        #expect(committed.status == 0, "\(committed.stderr)")
        let unsignedRepo = world.dir + "/unsigned.git"
        #expect(
            try runRedeye([
                "plan", "commit", "--no-pin", "--plans", plans, "--repo", unsignedRepo, "-m", "x", "--author",
                "Ops <ops@example.org>",
            ]).status == 0)
        let inventory = "sqlite:" + world.dir + "/inventory.db"
        #expect(try runRedeye(["schema", "migrate", "--db", inventory]).status == 0)
        let unsigned = try world.boot(["--plans", unsignedRepo, "--inventory", inventory])
        #expect(unsigned.status == 6)
        #expect(unsigned.stderr.contains("is not signed"), "\(unsigned.stderr)")
        #expect(world.installedNothing)
        // The refused pass is on the record, but the machine is not enlisted: it learned nothing trustworthy.
        let boots = try runRedeye(["inventory", "list", "boot", "--db", inventory, "--json"])
        #expect(
            boots.stdout.contains("\"state\": \"failed\"") && boots.stdout.contains("is not signed"), "\(boots.stdout)")
        let hosts = try runRedeye(["inventory", "list", "host", "--db", inventory, "--json"])
        #expect(hosts.status == 0 && !hosts.stdout.contains("discovered-"), "\(hosts.stdout)")

        let signedRepo = world.dir + "/plans.git"
        let signed = try runRedeye([
            "plan", "commit", "--no-pin", "--plans", plans, "--repo", signedRepo, "-m", "x", "--author",
            "Ops <ops@example.org>",
            "--sign-key", world.signer,
        ])
        #expect(signed.status == 0, "\(signed.stderr)")
        let noRef = try world.boot(["--plans", signedRepo])
        #expect(noRef.status == 1)
        #expect(noRef.stderr.contains("failed at install") && noRef.stderr.contains("no ref 'v9'"), "\(noRef.stderr)")
        #expect(!FileManager.default.fileExists(atPath: world.root + "/srv/app/current"))
        let status = try runRedeye(["boot", "status", "--root", world.root])
        #expect(status.status == 0, "\(status.stderr)")
        #expect(status.stdout.contains("state     failed at install"), "\(status.stdout)")
        #expect(
            status.stdout.contains("host      app01 (app)") && status.stdout.contains("no ref 'v9'"), "\(status.stdout)"
        )

        // No trust root in the image: nothing is trusted.
        try FileManager.default.removeItem(atPath: world.root + "/etc/redeye/allowed_signers")
        let noTrust = try world.boot(["--plans", signedRepo])
        #expect(noTrust.status == 6)
        #expect(noTrust.stderr.contains("without it no plans are trusted"), "\(noTrust.stderr)")
    }

    @Test("an older signed commit than the one trusted before is refused as a replay")
    func replay() throws {
        let world = try World()
        let plans = try world.plansForAnotherHost()
        let repo = world.dir + "/plans.git"
        let r = try runRedeye([
            "plan", "commit", "--no-pin", "--plans", plans, "--repo", repo, "-m", "x", "--author",
            "Ops <ops@example.org>",
            "--sign-key", world.signer,
        ])
        #expect(r.status == 0, "\(r.stderr)")
        // This host once trusted a commit from the future.
        let future = Int64(Date().timeIntervalSince1970) + 3600
        try world.write("/var/lib/redeye/trusted-plans", "\(String(repeating: "a", count: 40)) \(future)\n")
        let replayed = try world.boot(["--plans", repo])
        #expect(replayed.status == 6)
        #expect(replayed.stderr.contains("older than plans commit aaaaaaaaaaaa"), "\(replayed.stderr)")
    }

    @Test(
        "a signature is bound to its branch: a staging commit as main is refused, a tag named main does not shadow the branch, and the image's floor refuses old commits on a fresh host"
    )
    func branchBinding() throws {
        let world = try World()
        let plans = try world.plansForAnotherHost()
        let repo = world.dir + "/plans.git"
        func commit(_ branch: String) throws -> String {
            let r = try runRedeye([
                "plan", "commit", "--no-pin", "--plans", plans, "--repo", repo, "-m", branch, "--author",
                "Ops <ops@example.org>",
                "--sign-key", world.signer, "--branch", branch,
            ])
            #expect(r.status == 0, "\(r.stderr)")
            try writeFiles(
                ["hosts.yaml": "hosts:\n  - {name: other\(branch), mac: \"52:54:00:00:00:98\", role: app}\n"],
                under: plans)
            return try runTool("git", ["--git-dir", repo, "rev-parse", "refs/heads/" + branch]).stdout
                .trimmingCharacters(in: .whitespacesAndNewlines)
        }
        let main = try commit("main")
        let staging = try commit("staging")
        // A rogue copy of the repository whose main is the staging commit.
        let rogue = world.dir + "/rogue.git"
        #expect(try runTool("git", ["clone", "-q", "--mirror", repo, rogue]).status == 0)
        #expect(try runTool("git", ["--git-dir", rogue, "update-ref", "refs/heads/main", staging]).status == 0)
        let refused = try world.boot(["--plans", rogue])
        #expect(refused.status == 6, "\(refused.stderr)")
        #expect(refused.stderr.contains("was signed for branch 'staging', not 'main'"), "\(refused.stderr)")
        // A tag named main beside the real branch: the branch is what is followed.
        #expect(try runTool("git", ["--git-dir", repo, "tag", "main", staging]).status == 0)
        let tagged = try world.boot(["--plans", repo])
        #expect(!tagged.stderr.contains("signed for branch"), "\(tagged.stderr)")
        #expect(tagged.stderr.contains(String(main.prefix(12))), "\(tagged.stderr)")
        // A fresh host of an image whose floor is after the commit: refused; a floor before it: taken.
        try? FileManager.default.removeItem(atPath: world.root + "/var/lib/redeye/trusted-plans")
        try world.write("/etc/redeye/plans.not-before", "\(Int64(Date().timeIntervalSince1970) + 3600)\n")
        let floored = try world.boot(["--plans", repo])
        #expect(floored.status == 6)
        #expect(floored.stderr.contains("before the image's floor"), "\(floored.stderr)")
        try world.write("/etc/redeye/plans.not-before", "garbage\n")
        let broken = try world.boot(["--plans", repo])
        #expect(broken.status == 6)
        #expect(broken.stderr.contains("is not a number of seconds since 1970"), "\(broken.stderr)")
    }

    @Test(
        "unverified plans are bounded and not kept: a rogue hint's oversized repository is cut off, and what a refused hint sent is removed"
    )
    func unverifiedPlansAreNotKept() throws {
        let world = try World()
        let big = world.dir + "/big.git"
        #expect(try runTool("git", ["init", "-q", "--bare", big]).status == 0)
        let noise = world.dir + "/noise"
        var generator = SystemRandomNumberGenerator()
        try Data((0..<(3 << 20)).map { _ in UInt8.random(in: 0...255, using: &generator) }).write(
            to: URL(fileURLWithPath: noise))
        let blob = try runTool("git", ["--git-dir", big, "hash-object", "-w", noise]).stdout
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let tree = try runTool(
            "git", ["--git-dir", big, "mktree"], input: Array("100644 blob \(blob)\tnoise\n".utf8)
        ).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let commit = try runTool(
            "git", ["--git-dir", big, "-c", "user.name=M", "-c", "user.email=m@x", "commit-tree", tree, "-m", "x"]
        ).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(try runTool("git", ["--git-dir", big, "update-ref", "refs/heads/main", commit]).status == 0)

        var fetcher = PlansFetcher(layout: world.layout, ref: "main")
        fetcher.fetchLimit = 1 << 20
        let hint = PlansHint(source: "dhcp", origin: "test", interface: "eth0", url: big)
        guard case .failure(.untrusted(let cut)) = fetcher.fetch(hint) else {
            Issue.record("an oversized unsigned repository was not refused as untrusted")
            return
        }
        #expect(cut.message.contains("more than 1048576 bytes"), "\(cut.message)")
        let state = world.root + "/var/lib/redeye"
        let kept = try FileManager.default.contentsOfDirectory(atPath: state)
        #expect(kept.isEmpty, "kept: \(kept)")

        // Within the bound but unsigned: refused, and nothing of it stays.
        fetcher.fetchLimit = 64 << 20
        guard case .failure(.untrusted(let unsigned)) = fetcher.fetch(hint) else {
            Issue.record("an unsigned repository was not refused")
            return
        }
        #expect(unsigned.message.contains("is not signed"), "\(unsigned.message)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: state).isEmpty)
    }

    @Test(
        "hostile leases: 12,000 nested braces are refused, not a stack overflow; a long hex option is read in one pass")
    func hostileLeases() throws {
        let deep = try World()
        try deep.write(
            "/var/lib/dhcp/dhclient.eth0.leases", String(repeating: "lease {", count: 12_000) + "\n")
        let found = deep.discover()
        #expect(found.hints.isEmpty)
        #expect(
            found.rejected.contains { $0.description.contains("blocks nested deeper than 16") }, "\(found.rejected)")

        let long = try World()
        let url = "ssh://git@10.0.0.1/plans.git"
        let hex = url.utf8.map { String(format: "%02x", $0) }.joined()
        try long.write(
            "/run/systemd/netif/leases/2",
            "ADDRESS=10.0.0.5\nOPTION_224=\(String(repeating: "41", count: 200_000))\n")
        let refused = long.discover()
        #expect(refused.hints.isEmpty)
        #expect(!refused.rejected.isEmpty)
        #expect(try decodeHex(hex, separated: false) == Array(url.utf8))
        #expect(try decodeHex("68:74:7:a", separated: true) == [0x68, 0x74, 0x07, 0x0a])
        for bad in ["6", "6g", "+f", ""] where !bad.isEmpty {
            #expect(throws: BootError.self) { try decodeHex(bad, separated: false) }
        }
        for bad in ["68::74", ":68", "68:", "123", "+f"] {
            #expect(throws: BootError.self) { try decodeHex(bad, separated: true) }
        }
    }

    /// A TXT answer to `query` holding `text`.
    static func txtAnswer(to query: [UInt8], _ text: String) -> [UInt8] {
        var answer = query
        answer[2] = 0x81
        answer[3] = 0x80
        answer[7] = 1
        let txt = Array(text.utf8)
        answer += [0xc0, 0x0c, 0, 16, 0, 1, 0, 0, 0, 60, 0, UInt8(txt.count + 1), UInt8(txt.count)] + txt
        return answer
    }

    @Test("DNS answers count only from the server asked (a spoofed answer from another port is never read)")
    func dnsAnswersFromTheServerOnly() throws {
        let world = try World()
        func udp(port: UInt16) -> (Int32, UInt16) {
            let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = port.bigEndian
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            _ = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            var length = socklen_t(MemoryLayout<sockaddr_in>.size)
            _ = withUnsafeMutablePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
            }
            return (fd, UInt16(bigEndian: address.sin_port))
        }
        let (server, port) = udp(port: 0)
        let (spoofer, _) = udp(port: 0)
        defer {
            close(server)
            close(spoofer)
        }
        try world.write("/etc/resolv.conf", "nameserver 127.0.0.1\nsearch example.test\n")
        // The server hears the query; a spoofer on another port answers it; the server itself answers only the
        // second query.
        let served = Thread {
            for round in 0..<2 {
                var buffer = [UInt8](repeating: 0, count: 512)
                var from = sockaddr_in()
                var length = socklen_t(MemoryLayout<sockaddr_in>.size)
                var pfd = pollfd(fd: server, events: Int16(POLLIN), revents: 0)
                guard poll(&pfd, 1, 5000) == 1 else { return }
                let n = withUnsafeMutablePointer(to: &from) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                        recvfrom(server, &buffer, 512, 0, $0, &length)
                    }
                }
                guard n > 0 else { return }
                let query = Array(buffer[0..<n])
                let sender = round == 0 ? spoofer : server
                let url = round == 0 ? "url=ssh://evil.example/plans.git" : "url=ssh://good.example/plans.git"
                let answer = Self.txtAnswer(to: query, url)
                _ = withUnsafePointer(to: &from) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                        sendto(sender, answer, answer.count, 0, $0, length)
                    }
                }
            }
        }
        served.start()
        let dns = DNSDiscovery(resolvConf: world.root + "/etc/resolv.conf", timeout: .milliseconds(500), port: port)
        let spoofed = dns.lookup()
        #expect(spoofed.found.isEmpty, "a spoofed answer was taken: \(spoofed.found)")
        #expect(spoofed.problems.contains { $0.message.contains("no answer from 127.0.0.1") })
        let real = dns.lookup()
        #expect(real.found.map(\.1) == ["ssh://good.example/plans.git"], "\(real)")
    }

    /// Registration with a role that has a command monitor and a 100 ms one, and an agent that is not local.
    func registration(consul: String, world: World) throws -> (done: [String], problems: [String], definition: String) {
        let files: [String: String] = [
            "site.yaml": "bundles: file:///srv/bundles\nmonitoring:\n  consul: \(consul)\n",
            "roles/app.yaml": """
            bundle: {repo: app.git, ref: v1}
            install: {root: /srv/app, user: root, group: root}
            monitors:
              - {name: web, http: "http://{{address}}:8080/health", interval: 100ms, timeout: 1s}
              - {name: disk, command: "test -w /srv/app", interval: 30s, timeout: 5s}

            """,
            "hosts.yaml": "hosts:\n  - {name: app01, mac: \"\(world.mac)\", role: app, address: 10.0.0.5}\n",
        ]
        let plans = try PlanLoader().load(PlanSource(files: files.mapValues { Array($0.utf8) }, label: "t:"))
        let plan = plans.plan(for: plans.hosts[0])
        let result = MonitorRegistration(layout: world.layout, spec: plans.defaults.monitoring).register(
            .init(plan: plan, mac: world.mac, plansCommit: String(repeating: "a", count: 40), release: "r"))
        let definition =
            (try? String(contentsOfFile: world.root + "/etc/consul.d/redeye-app.json", encoding: .utf8)) ?? ""
        return (result.done, result.problems, definition)
    }

    @Test(
        "Consul: a command check only where script checks are enabled, intervals under 1s reported, and the token never over plain HTTP to another machine"
    )
    func consulRegistrationRules() throws {
        let world = try World()
        try world.write("/etc/redeye/consul.token", "s3cret-token\n")
        let recorder = try TCPRecorder()
        defer { recorder.stop() }
        // Not a loopback address (0.0.0.0 reaches this machine, and stands for an agent elsewhere).
        let plain = try registration(
            consul: "{agent: \"http://0.0.0.0:\(recorder.port)\", config_dir: /etc/consul.d}", world: world)
        #expect(recorder.received().contains("PUT /v1/agent/service/register"), "\(plain.problems)")
        #expect(!recorder.received().contains("s3cret-token"))
        #expect(plain.problems.contains { $0.contains("not sending the Consul token") }, "\(plain.problems)")
        #expect(plain.problems.contains { $0.contains("command monitor 'disk' left out") })
        #expect(
            plain.problems.contains { $0.contains("monitor 'web' (every 100ms) is registered with Consul as every 1s") }
        )
        #expect(
            !plain.definition.contains("\"args\"") && plain.definition.contains("\"interval\" : \"1s\""),
            "\(plain.definition)")
        // A local agent gets the token; script checks on: the command check is in the file.
        let local = try registration(
            consul: "{agent: \"http://127.0.0.1:\(recorder.port)\", config_dir: /etc/consul.d, script_checks: true}",
            world: world)
        #expect(!local.problems.contains { $0.contains("not sending the Consul token") })
        #expect(local.definition.contains("\"args\""))
        #expect(recorder.received().contains("X-Consul-Token: s3cret-token"))

        // Over https an agent elsewhere gets the token, once its certificate verifies against the trust root's CA.
        let ca = try TestCA(in: world.root)
        let agent = try TestHTTPSGit(
            root: world.root, certificate: try ca.issue("agent", for: ["0.0.0.0"]).certificate,
            key: ca.dir + "/agent.key")
        defer { agent.stop() }
        let unverified = try registration(
            consul: "{agent: \"https://0.0.0.0:\(agent.port)\", config_dir: /etc/consul.d}", world: world)
        #expect(unverified.problems.contains { $0.contains("is not trusted") }, "\(unverified.problems)")
        #expect(agent.requests.isEmpty, "\(agent.requests)")
        try world.write("/etc/redeye/ca.pem", try String(contentsOfFile: ca.certificate, encoding: .utf8))
        let secure = try registration(
            consul: "{agent: \"https://0.0.0.0:\(agent.port)\", config_dir: /etc/consul.d}", world: world)
        #expect(
            !secure.problems.contains { $0.contains("cannot register") || $0.contains("not sending the Consul token") },
            "\(secure.problems)")
        #expect(
            agent.requests.contains("PUT /v1/agent/service/register?replace-existing-checks=true 200 token=yes"),
            "\(agent.requests)")
    }

    @Test("whoever owns the file_sd or Consul directory cannot make the agent's write clobber another file")
    func monitorFilesAreNotWrittenThroughPlantedSymlinks() throws {
        let world = try World()
        let victim = world.root + "/etc/shadow"
        try world.write("/etc/shadow", "root:secret\n")
        chmod(victim, 0o600)
        let directory = world.root + "/etc/prometheus/file_sd"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        // The names the old writer used (`.NAME.<pid>.tmp`, opened O_CREAT|O_TRUNC and fchmod 0644), for this
        // process, planted as symlinks to a root-only file.
        #expect(symlink(victim, directory + "/.redeye.json.\(getpid()).tmp") == 0)
        #expect(symlink(victim, directory + "/redeye.json") == 0)
        try writeAtomically(Data("[]\n".utf8), to: directory + "/redeye.json")
        #expect(try String(contentsOfFile: victim, encoding: .utf8) == "root:secret\n")
        var st = stat()
        #expect(stat(victim, &st) == 0 && st.st_mode & 0o777 == 0o600)
        #expect(try String(contentsOfFile: directory + "/redeye.json", encoding: .utf8) == "[]\n")
    }

    @Test("plans URLs: length, bytes, schemes")
    func urls() throws {
        #expect(try checkPlansURL(Array("ssh://git@h/p.git".utf8)).get() == "ssh://git@h/p.git")
        #expect(try checkPlansURL(Array("/srv/plans.git".utf8)).get() == "/srv/plans.git")
        for bad in ["", "plans.example", "ftp://h/p", "ssh:///nohost", "ssh://h/with space"] {
            #expect(throws: BootError.self, "\(bad)") { try checkPlansURL(Array(bad.utf8)).get() }
        }
        #expect(throws: BootError.self) { try checkPlansURL([UInt8](repeating: 97, count: 256)).get() }
        #expect(throws: BootError.self) { try checkPlansURL([0x73, 0x73, 0x68, 0xff]).get() }
    }
}
