import Foundation
import Glibc
import TestSupport

/// A network of blank hosts for boot tests, all inside network namespaces this lab creates and removes: a
/// server namespace with a bridge (10.213.0.1/24), a real dnsmasq answering DHCP (option 224) and DNS, and a
/// real sshd serving the plans and bundle repositories; one namespace per host with a veth `eth0` of its own
/// MAC on that bridge, a real DHCP client, and an empty directory as its root. `shutdown()` (or deinit) kills
/// every process in the namespaces and deletes them.
final class BootLab: @unchecked Sendable {
    let dir: String
    let id: String
    let server: String
    private(set) var namespaces: [String] = []
    private var daemons: [Daemon] = []
    private var sshd: TestSSHD?
    private var dnsmasq: Daemon?
    let signerKey: String
    let foreignKey: String
    let clientKey: String
    let knownHosts: String
    let allowedSigners: String
    static let serverAddress = "10.213.0.1"

    var plansDirectory: String { dir + "/plans" }
    var plansRepository: String { dir + "/plans.git" }
    var bundleSource: String { dir + "/src/site" }
    var bundleRepository: String { dir + "/bundles/site.git" }
    var inventory: String { "sqlite:\(dir)/inventory.db" }
    func url(_ path: String) -> String { "ssh://root@\(Self.serverAddress)\(path)" }

    init() throws {
        dir = try makeTemporaryDirectory()
        id = String(UUID().uuidString.prefix(6)).lowercased()
        server = "rdb\(id)s"
        signerKey = try generateSSHKey(in: dir, name: "ops_key")
        foreignKey = try generateSSHKey(in: dir, name: "mallory_key")
        clientKey = try generateSSHKey(in: dir, name: "client_key")
        allowedSigners = dir + "/allowed_signers"
        try "ops@example.org namespaces=\"git\" \(try String(contentsOfFile: signerKey + ".pub", encoding: .utf8))"
            .write(toFile: allowedSigners, atomically: true, encoding: .utf8)
        knownHosts = dir + "/known_hosts"
        do {
            try ip("netns", "add", server)
            namespaces.append(server)
            try ip("-n", server, "link", "set", "lo", "up")
            try ip("-n", server, "link", "add", "br0", "type", "bridge")
            try ip("-n", server, "addr", "add", "\(Self.serverAddress)/24", "dev", "br0")
            // An IPv6 address for dnsmasq's router advertisements (iPXE waits ~13 s for IPv6 without them).
            try ip("-n", server, "-6", "addr", "add", "fd00:213::1/64", "dev", "br0", "nodad")
            try ip("-n", server, "link", "set", "br0", "up")
            try startSSHD()
        } catch {
            shutdown()
            throw error
        }
    }

    deinit { shutdown() }

    /// Kills every process in the lab's namespaces, deletes them (and with them the veths and the bridge),
    /// and removes the lab's files.
    func shutdown() {
        dnsmasq?.stop()
        sshd?.stop()
        for daemon in daemons { daemon.stop() }
        for namespace in namespaces.reversed() { deleteNetworkNamespace(namespace) }
        namespaces = []
        try? FileManager.default.removeItem(atPath: dir)
    }

    @discardableResult
    func ip(_ arguments: String...) throws -> String { try ipCommand(arguments) }

    /// Runs a program inside a namespace.
    func exec(_ namespace: String, _ arguments: [String], environment: [String: String] = [:]) throws -> CommandResult {
        try runProcess("/usr/sbin/ip", ["netns", "exec", namespace] + arguments, environment: environment)
    }

    /// The plans and bundle server's sshd, in the server namespace, letting `clientKey` in; its host key goes
    /// into `knownHosts`.
    func startSSHD() throws {
        let sshd = try TestSSHD(namespace: server, address: Self.serverAddress, authorizedKey: clientKey)
        self.sshd = sshd
        try FileManager.default.copyItem(atPath: sshd.knownHosts, toPath: knownHosts)
    }

    /// (Re)starts dnsmasq on the bridge: DHCP with fixed addresses per MAC and `option` (nil: no option 224),
    /// DNS for the domain fleet.test with a TXT record `url=dnsURL` at _redeye-plans._tcp.fleet.test.
    func startDHCP(
        option: String?, reservations: [(mac: String, address: String)], dnsURL: String? = nil, extra: [String] = []
    ) throws {
        dnsmasq?.stop()
        var lines = [
            "interface=br0", "bind-interfaces", "except-interface=lo", "no-resolv", "no-hosts", "user=root",
            "dhcp-range=10.213.0.100,10.213.0.199,255.255.255.0,1h", "dhcp-leasefile=\(dir)/dnsmasq.leases",
            "domain=fleet.test", "dhcp-option=option:domain-search,fleet.test", "log-dhcp",
            "log-facility=\(dir)/dnsmasq.log", "dhcp-range=::,constructor:br0,ra-only",
        ]
        for r in reservations { lines.append("dhcp-host=\(r.mac),\(r.address)") }
        if let option { lines.append("dhcp-option-force=224,\"\(option)\"") }
        if let dnsURL { lines.append("txt-record=_redeye-plans._tcp.fleet.test,\"url=\(dnsURL)\"") }
        lines += extra
        try (lines.joined(separator: "\n") + "\n").write(
            toFile: dir + "/dnsmasq.conf", atomically: true, encoding: .utf8)
        try? FileManager.default.removeItem(atPath: dir + "/dnsmasq.leases")
        let daemon = try Daemon(
            "/usr/sbin/ip",
            ["netns", "exec", server, "/usr/sbin/dnsmasq", "--keep-in-foreground", "-C", dir + "/dnsmasq.conf"])
        dnsmasq = daemon
        // Ready once it answers on port 53 of the bridge (it binds DHCP in the same start-up).
        for _ in 0..<250 {
            let probe = try exec(server, ["/bin/sh", "-c", "ss -lun | grep -q '10.213.0.1:53'"])
            if probe.status == 0 { return }
            guard daemon.isRunning else { break }
            usleep(20_000)
        }
        throw TestSetupError(
            description:
                "dnsmasq did not start: \((try? String(contentsOfFile: dir + "/dnsmasq.log", encoding: .utf8)) ?? "")")
    }

    /// A blank host: its own namespace with `eth0` (this MAC) bridged to the server, and an empty root holding
    /// only what an image holds: the trust root, known hosts, the agent's SSH key, the inventory schema.
    final class Host: @unchecked Sendable {
        let index: Int
        let mac: String
        let namespace: String
        let root: String
        init(index: Int, mac: String, namespace: String, root: String) {
            self.index = index
            self.mac = mac
            self.namespace = namespace
            self.root = root
        }
        var lease: String { root + "/var/lib/dhcp/dhclient.eth0.leases" }
        var status: String { root + "/run/redeye/status.json" }
    }

    func addHost(_ index: Int, mac: String) throws -> Host {
        let namespace = "rdb\(id)h\(index)"
        try ip("netns", "add", namespace)
        namespaces.append(namespace)
        try ip("-n", namespace, "link", "set", "lo", "up")
        try ip(
            "-n", namespace, "link", "add", "eth0", "address", mac, "type", "veth", "peer", "name", "h\(index)",
            "netns", server)
        try ip("-n", server, "link", "set", "h\(index)", "master", "br0", "up")
        try ip("-n", namespace, "link", "set", "eth0", "up")
        let root = dir + "/hosts/h\(index)"
        try makeTrustRoot(
            at: root + "/etc/redeye", allowedSigners: allowedSigners, knownHosts: knownHosts, clientKey: clientKey)
        try FileManager.default.createDirectory(atPath: root + "/usr/share/redeye", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: repositoryRoot + "/Schemas", toPath: root + "/usr/share/redeye/schema")
        try "quiet\n".write(toFile: root + "/cmdline", atomically: true, encoding: .utf8)
        return Host(index: index, mac: mac, namespace: namespace, root: root)
    }

    /// Gets a lease with ISC dhclient inside the host's namespace (the lease file under the host's root), then
    /// stops the client. The client script only sets the address: nothing outside the namespace changes.
    func dhcp(_ host: Host) throws {
        try FileManager.default.createDirectory(atPath: host.root + "/var/lib/dhcp", withIntermediateDirectories: true)
        try? FileManager.default.removeItem(atPath: host.lease)
        let script = host.root + "/dhclient-script"
        try """
        #!/bin/sh
        # Like dhclient-script, but resolv.conf goes to the host's root, not this machine's.
        case "$reason" in
          PREINIT) ip link set "$interface" up ;;
          BOUND|RENEW|REBIND|REBOOT)
            ip addr replace "$new_ip_address/$new_subnet_mask" dev "$interface"
            { for s in $new_domain_name_servers; do echo "nameserver $s"; done
              echo "search ${new_domain_search:-$new_domain_name}"; } > '\(host.root)/etc/resolv.conf' ;;
        esac
        exit 0

        """.write(toFile: script, atomically: true, encoding: .utf8)
        chmod(script, 0o755)
        let conf = host.root + "/etc/dhcp/dhclient.conf"
        try FileManager.default.createDirectory(atPath: host.root + "/etc/dhcp", withIntermediateDirectories: true)
        try """
        option redeye-plans code 224 = text;
        also request redeye-plans;
        timeout 20;

        """.write(toFile: conf, atomically: true, encoding: .utf8)
        let pidFile = host.root + "/run/dhclient.pid"
        try FileManager.default.createDirectory(atPath: host.root + "/run", withIntermediateDirectories: true)
        // dhclient in the foreground, stopped once the lease is written (it would stay to renew it).
        let client = try Daemon(
            "/usr/sbin/ip",
            [
                "netns", "exec", host.namespace, "/sbin/dhclient", "-d", "-1", "-4", "-cf", conf, "-lf", host.lease,
                "-pf", pidFile, "-sf", script, "eth0",
            ])
        defer { client.stop() }
        for _ in 0..<600 {
            if let text = try? String(contentsOfFile: host.lease, encoding: .utf8), text.contains("}") { return }
            guard client.isRunning else { break }
            usleep(50_000)
        }
        throw TestSetupError(description: "dhclient in \(host.namespace) got no lease")
    }

    /// `redeye boot --once` inside the host's namespace.
    func boot(_ host: Host, _ extra: [String] = []) throws -> CommandResult {
        try exec(
            host.namespace,
            [
                redeyeBinary, "boot", "--once", "--root", host.root, "--cmdline", host.root + "/cmdline", "--retry-for",
                "2s",
            ]
                + extra)
    }

    /// GET http://ADDRESS:PORT/PATH from the server's namespace; the body, or nil when nothing answers (waits
    /// up to 5 s for a service that is starting).
    func fetch(_ url: String) throws -> String? {
        let code =
            "import urllib.request,sys\ntry:\n  print(urllib.request.urlopen(sys.argv[1], timeout=2).read().decode(), end='')\nexcept Exception as e:\n  sys.exit(1)\n"
        for _ in 0..<50 {
            let r = try exec(server, ["python3", "-c", code, url])
            if r.status == 0 { return r.stdout }
            usleep(100_000)
        }
        return nil
    }

    // MARK: repositories

    /// Commits the bundle source as `tag` (index.html says which).
    func commitBundle(_ tag: String) throws {
        try writeFiles(["www/index.html": "site \(tag)\n", "www/health": "ok\n"], under: bundleSource)
        for d in [bundleSource, bundleSource + "/www"] { chmod(d, 0o755) }
        let initialized = try runRedeye(["bundle", "init", bundleSource, "--owner", "root", "--group", "root"])
        guard initialized.status == 0 else { throw TestSetupError(description: initialized.stderr) }
        let r = try runRedeye([
            "bundle", "commit", bundleSource, "--repo", bundleRepository, "--tag", tag, "-m", tag, "--author",
            "Ops <ops@example.org>",
        ])
        guard r.status == 0 else { throw TestSetupError(description: "bundle commit \(tag): \(r.stderr)") }
    }

    /// Writes the plans (role `site` at `ref`, the given hosts) and commits them to `repository`, signed by
    /// `key` (nil: unsigned).
    func commitPlans(
        ref: String, hosts: [(name: String, mac: String, address: String)], repository: String? = nil,
        key: String?, consul: Bool = true, inventory: String? = nil,
        run: String = "exec python3 -m http.server 8080 --bind {{address}} --directory www"
    ) throws {
        try FileManager.default.createDirectory(atPath: plansDirectory + "/roles", withIntermediateDirectories: true)
        try """
        bundles: \(url(dir + "/bundles"))
        inventory: \(inventory ?? self.inventory)
        monitoring:
          prometheus: {file_sd: /etc/prometheus/file_sd/redeye.json}
          consul: {config_dir: /etc/consul.d\(consul ? ", agent: \"http://127.0.0.1:8500\"" : "")}

        """.write(toFile: plansDirectory + "/site.yaml", atomically: true, encoding: .utf8)
        try """
        bundle: {repo: site.git, ref: \(ref)}
        install: {root: /srv/site, user: root, group: root, keep: 3}
        run: "\(run)"
        vars: {port: 8080}
        monitors:
          - {name: health, http: "http://{{address}}:8080/health", expect: 200, body: ok, interval: 10s, timeout: 2s}
          - {name: port, tcp: "{{address}}:8080", interval: 10s}

        """.write(toFile: plansDirectory + "/roles/site.yaml", atomically: true, encoding: .utf8)
        var lines = ["hosts:"]
        for h in hosts { lines.append("  - {name: \(h.name), mac: \"\(h.mac)\", role: site, address: \(h.address)}") }
        try (lines.joined(separator: "\n") + "\n").write(
            toFile: plansDirectory + "/hosts.yaml", atomically: true, encoding: .utf8)
        var arguments = [
            "plan", "commit", "--plans", plansDirectory, "--repo", repository ?? plansRepository, "-m", "plans \(ref)",
            "--author", "Ops <ops@example.org>",
        ]
        if let key { arguments += ["--sign-key", key] }
        // Pinned as an operator pins: the bundles resolved over ssh:// from the server's namespace.
        arguments += ["--identity", clientKey, "--known-hosts", knownHosts, "--cache", dir + "/pin-cache"]
        let r = try exec(server, [redeyeBinary] + arguments)
        guard r.status == 0 else { throw TestSetupError(description: "plan commit: \(r.stderr)") }
    }

    /// A fake local Consul agent in a host's namespace: an HTTP server on 127.0.0.1:8500 that answers 200 and
    /// appends each request line and body to a file. (Consul itself is not packaged for Debian.)
    func startConsulRecorder(_ host: Host) throws -> String {
        let record = host.root + "/consul-requests.log"
        let code = """
            import http.server, sys
            class H(http.server.BaseHTTPRequestHandler):
                def do_PUT(self):
                    body = self.rfile.read(int(self.headers.get('Content-Length', 0)))
                    with open(sys.argv[1], 'ab') as f:
                        f.write(self.requestline.encode() + b'\\n' + body + b'\\n')
                    self.send_response(200); self.send_header('Content-Length', '0'); self.end_headers()
                def log_message(self, *a): pass
            http.server.HTTPServer(('127.0.0.1', 8500), H).serve_forever()
            """
        daemons.append(try Daemon("/usr/sbin/ip", ["netns", "exec", host.namespace, "python3", "-c", code, record]))
        for _ in 0..<100 {
            if try exec(host.namespace, ["/bin/sh", "-c", "ss -ltn | grep -q '127.0.0.1:8500'"]).status == 0 {
                return record
            }
            usleep(50_000)
        }
        throw TestSetupError(description: "the Consul recorder did not start")
    }
}
