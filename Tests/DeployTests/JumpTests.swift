import Foundation
import Glibc
import SSH
import TestSupport
import Testing

/// Two network namespaces made for one test: a bastion reachable from here (10.214.1.2) and a host behind it
/// (10.214.2.2) that only the bastion can reach, each with a real sshd on port 22. Removed in `shutdown()`.
final class JumpLab: @unchecked Sendable {
    static let bastionAddress = "10.214.1.2"
    static let hostAddress = "10.214.2.2"
    let dir: String
    let bastionNS: String
    let hostNS: String
    let userKey: String
    private(set) var bastion: TestSSHD?
    private(set) var host: TestSSHD?
    private var namespaces: [String] = []
    private var unreachableRoute = false

    init() throws {
        dir = try makeTemporaryDirectory()
        let id = String(getpid() % 100_000)
        bastionNS = "rdj\(id)"
        hostNS = "rdh\(id)"
        userKey = try generateSSHKey(in: dir, name: "user_key")
        do {
            for namespace in [bastionNS, hostNS] {
                try ip("netns", "add", namespace)
                namespaces.append(namespace)
                try ip("-n", namespace, "link", "set", "lo", "up")
            }
            // here <-> bastion
            try ip("link", "add", bastionNS + "a", "type", "veth", "peer", "name", bastionNS + "b", "netns", bastionNS)
            try ip("addr", "add", "10.214.1.1/24", "dev", bastionNS + "a")
            try ip("link", "set", bastionNS + "a", "up")
            try ip("-n", bastionNS, "addr", "add", Self.bastionAddress + "/24", "dev", bastionNS + "b")
            try ip("-n", bastionNS, "link", "set", bastionNS + "b", "up")
            // bastion <-> host. From here 10.214.2.0/24 is unreachable (not left to a default route: no packet
            // of the test leaves the machine), and the bastion does not forward.
            try ip("route", "add", "unreachable", "10.214.2.0/24")
            unreachableRoute = true
            try ip(
                "-n", bastionNS, "link", "add", hostNS + "a", "type", "veth", "peer", "name", hostNS + "b", "netns",
                hostNS)
            try ip("-n", bastionNS, "addr", "add", "10.214.2.1/24", "dev", hostNS + "a")
            try ip("-n", bastionNS, "link", "set", hostNS + "a", "up")
            try ip("-n", hostNS, "addr", "add", Self.hostAddress + "/24", "dev", hostNS + "b")
            try ip("-n", hostNS, "link", "set", hostNS + "b", "up")
            bastion = try TestSSHD(namespace: bastionNS, address: Self.bastionAddress, authorizedKey: userKey)
            host = try TestSSHD(namespace: hostNS, address: Self.hostAddress, authorizedKey: userKey)
        } catch {
            shutdown()
            throw error
        }
    }

    deinit { shutdown() }

    /// known_hosts holding both servers' keys.
    func knownHosts() throws -> String {
        let path = dir + "/known_hosts"
        let both =
            try String(contentsOfFile: bastion!.knownHosts, encoding: .utf8)
            + String(contentsOfFile: host!.knownHosts, encoding: .utf8)
        try both.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func shutdown() {
        bastion?.stop()
        host?.stop()
        for namespace in namespaces.reversed() { deleteNetworkNamespace(namespace) }
        namespaces = []
        _ = try? runProcess("/usr/sbin/ip", ["link", "del", bastionNS + "a"])
        if unreachableRoute {
            _ = try? runProcess("/usr/sbin/ip", ["route", "del", "unreachable", "10.214.2.0/24"])
            unreachableRoute = false
        }
        try? FileManager.default.removeItem(atPath: dir)
    }

    @discardableResult
    func ip(_ arguments: String...) throws -> String { try ipCommand(arguments) }
}

@Suite("jump hosts", .serialized) struct JumpTests {
    @Test("[USER@]HOST[:PORT] is read like ssh -J, and anything else is refused")
    func parsing() throws {
        #expect(try JumpHost(parsing: "bastion", defaultUser: "root") == JumpHost(host: "bastion", user: "root"))
        #expect(
            try JumpHost(parsing: "ops@bastion.example.org:2222", defaultUser: "root")
                == JumpHost(host: "bastion.example.org", port: 2222, user: "ops"))
        #expect(try JumpHost(parsing: "[::1]:2200", defaultUser: "me") == JumpHost(host: "::1", port: 2200, user: "me"))
        for bad in ["", "ops@", "@bastion", "bastion:0", "bastion:ssh", "[::1", "[::1]x"] {
            let error = #expect(throws: SSHError.self) { _ = try JumpHost(parsing: bad, defaultUser: "root") }
            #expect(
                error?.message.contains("is not [USER@]HOST[:PORT]") == true, "\(bad): \(String(describing: error))")
        }
    }

    @Test("a host only the bastion reaches: commands, large transfers both ways and SFTP through the tunnel")
    func throughTheBastion() throws {
        let lab = try JumpLab()
        defer { lab.shutdown() }
        let known = try lab.knownHosts()
        let jump = JumpHost(host: JumpLab.bastionAddress, user: "root")
        func connect(knownHosts: String = known, port: Int = 22, via: JumpHost? = jump) throws -> SSHConnection {
            try SSHConnection(
                host: JumpLab.hostAddress, port: port, user: "root", hostKeys: HostKeyPolicy(files: [knownHosts]),
                authentication: .keyFile(lab.userKey), timeout: .seconds(5), through: via)
        }

        // Directly, the host cannot be reached from here.
        let direct = #expect(throws: SSHError.self) { _ = try connect(via: nil) }
        #expect(
            direct?.description.contains("connect to \(JumpLab.hostAddress):22") == true,
            "\(String(describing: direct))")

        do {
            let ssh = try connect()
            let addresses = try ssh.run("ip -4 -o addr show")
            #expect(addresses.output.contains(JumpLab.hostAddress), "\(addresses.output)")
            let echoed = try ssh.run("wc -c", input: [UInt8](repeating: 7, count: 3_000_000))
            #expect(echoed.output.trimmingCharacters(in: .whitespacesAndNewlines) == "3000000")
            let big = try ssh.run("head -c 3000000 /dev/zero; head -c 1000000 /dev/zero >&2")
            #expect(big.stdout.count == 3_000_000 && big.stderr.count == 1_000_000)
            let sftp = try ssh.sftp()
            let path = lab.dir + "/through-the-bastion"
            let content = (0..<2_000_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
            let file = try sftp.open(forWriting: path)
            try file.write(content)
            file.close()
            #expect(try sftp.read(path) == content)
        }
        // The bastion logged the forwarded connection; the host saw it come from the bastion.
        #expect(lab.host!.log.contains("from 10.214.2.1"), "\(lab.host!.log)")

        // Each host key is checked: the bastion's, then the host's.
        let onlyHost = lab.dir + "/only_host"
        try FileManager.default.copyItem(atPath: lab.host!.knownHosts, toPath: onlyHost)
        let bastionUnknown = #expect(throws: SSHError.self) { _ = try connect(knownHosts: onlyHost) }
        #expect(
            bastionUnknown?.message.contains("refusing an unknown host key") == true
                && bastionUnknown?.operation.contains(JumpLab.bastionAddress) == true,
            "\(String(describing: bastionUnknown))")
        let onlyBastion = lab.dir + "/only_bastion"
        try FileManager.default.copyItem(atPath: lab.bastion!.knownHosts, toPath: onlyBastion)
        let hostUnknown = #expect(throws: SSHError.self) { _ = try connect(knownHosts: onlyBastion) }
        #expect(
            hostUnknown?.message.contains("refusing an unknown host key") == true
                && hostUnknown?.operation.contains(JumpLab.hostAddress) == true, "\(String(describing: hostUnknown))")

        // Nothing listens on the host's port 2222: the bastion says so, and the error names both.
        let closed = #expect(throws: SSHError.self) { _ = try connect(port: 2222) }
        #expect(
            closed?.operation.contains(
                "reach \(JumpLab.hostAddress):2222 through the jump host \(JumpLab.bastionAddress)")
                == true, "\(String(describing: closed))")
    }

    @Test(
        "redeye deploy --jump reaches a host only the bastion can, and checks its HTTP and TCP health from the host; without it the host is unreachable"
    )
    func deployThroughTheBastion() throws {
        let lab = try JumpLab()
        defer { lab.shutdown() }
        let fleet = try Fleet(hosts: 1)
        defer { fleet.remove() }
        let plans = fleet.dir + "/jump-plans"
        // The service listens on the host's own address, inside its namespace: unreachable from here.
        func writePlans(port: Int) throws {
            try writeFiles(
                [
                    "site.yaml": "bundles: file://\(fleet.dir)/bundles\n",
                    "roles/web.yaml": """
                    bundle: {repo: web.git, ref: v1}
                    install: {root: "\(fleet.dir)/hosts/{{name}}/opt/web", user: root, group: root}
                    run: "exec python3 -m http.server 8080 --bind {{address}} --directory public"
                    monitors:
                      - {name: page, command: "grep -q ok \(fleet.dir)/hosts/{{name}}/opt/web/current/public/health", interval: 100ms, retries: 5}
                      - {name: http, http: "http://{{address}}:\(port)/health", expect: 200, body: ok, interval: 100ms, timeout: 1s, retries: 30}
                      - {name: port, tcp: "{{address}}:\(port)", interval: 100ms, timeout: 1s, retries: 2}

                    """,
                    "hosts.yaml":
                        "hosts:\n  - {name: web01, mac: \"52:54:00:aa:00:01\", role: web, address: \(JumpLab.hostAddress)}\n",
                ], under: plans)
        }
        try writePlans(port: 8080)
        let arguments = [
            "deploy", "web", "--yes", "--json", "--plans", plans, "--identity", lab.userKey, "--known-hosts",
            try lab.knownHosts(), "--remote-redeye", redeyeBinary, "--cache", fleet.dir + "/cache", "--db",
            "sqlite:\(fleet.dir)/jump.db", "--connect-timeout", "2",
        ]
        let direct = try runRedeye(arguments + ["--ref", "v1"])
        #expect(direct.status == 9, "\(direct.stdout)\(direct.stderr)")
        #expect(direct.stdout.contains("connect to \(JumpLab.hostAddress):22"), "\(direct.stdout)\(direct.stderr)")
        #expect(fleet.current("web01") == nil)

        let jump = ["--jump", "root@\(JumpLab.bastionAddress)"]
        let through = try runRedeye(arguments + ["--ref", "v1"] + jump)
        #expect(through.status == 0, "\(through.stdout)\(through.stderr)")
        #expect(through.stderr.contains("through root@\(JumpLab.bastionAddress)"), "\(through.stderr)")
        #expect(fleet.current("web01") == (try fleet.release("v1")))

        // Checks of a port nothing listens on fail, naming it, and the host goes back to v1.
        try writePlans(port: 8081)
        let failing = try runRedeye(arguments + ["--ref", "v2"] + jump)
        #expect(failing.status == 9, "\(failing.stdout)\(failing.stderr)")
        let summary = try Summary(failing)
        #expect(summary.host("web01")?.step == "health")
        #expect(summary.host("web01")?.state == "rolled_back")
        #expect(
            summary.host("web01")?.error?.contains("connect to \(JumpLab.hostAddress):8081 from \(JumpLab.hostAddress)")
                == true, "\(summary.host("web01")?.error ?? "")")
        #expect(fleet.current("web01") == (try fleet.release("v1")))
    }
}
