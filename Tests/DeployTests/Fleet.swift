import Foundation
import Glibc
import TestSupport

/// A fleet of simulated hosts for deploy tests: one real sshd on loopback that every host is reached through
/// (each host with its own install root and HTTP port), a bundle repository with versions v1 (healthy),
/// v2 (one file changed) and bad (its health page says "sick"), a plans tree and a SQLite inventory.
final class Fleet: @unchecked Sendable {
    let dir: String
    let sshd: TestSSHD
    let names: [String]
    var ports: [String: Int] = [:]
    var plans: String { dir + "/plans" }
    var repo: String { dir + "/bundles/web.git" }

    init(hosts count: Int = 4, batch: String = "2", maxFail: String = "0", drain: String? = nil) throws {
        dir = try makeTemporaryDirectory()
        sshd = try TestSSHD()
        names = (1...count).map { String(format: "web%02d", $0) }
        for name in names { ports[name] = try freeLoopbackPort() }
        try makeBundle()
        try writePlans(batch: batch, maxFail: maxFail, drain: drain)
    }

    func root(_ host: String) -> String { "\(dir)/hosts/\(host)/opt/web" }

    /// The release a host's `current` points to.
    func current(_ host: String) -> String? {
        var buffer = [CChar](repeating: 0, count: 4096)
        let n = readlink(root(host) + "/current", &buffer, buffer.count - 1)
        guard n > 0 else { return nil }
        let target = String(decoding: buffer.prefix(n).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return target.hasPrefix("releases/") ? String(target.dropFirst("releases/".count)) : nil
    }

    /// The release id (commit prefix) of a tag.
    func release(_ tag: String) throws -> String {
        let r = try runTool("git", ["--git-dir", repo, "rev-parse", tag + "^{commit}"])
        return String(r.stdout.prefix(12))
    }

    func sshArguments(remoteRedeye: String = redeyeBinary) -> [String] {
        [
            "--plans", plans, "--identity", sshd.userKey, "--known-hosts", sshd.knownHosts, "--remote-redeye",
            remoteRedeye, "--cache", dir + "/cache", "--db", "sqlite:\(dir)/inventory.db",
        ]
    }

    /// `remoteRedeye`: the redeye the hosts run (default: the one under test).
    func deploy(_ arguments: [String], remoteRedeye: String = redeyeBinary) throws -> CommandResult {
        try runRedeye(["deploy"] + arguments + sshArguments(remoteRedeye: remoteRedeye))
    }

    func makeBundle() throws {
        let source = dir + "/src/web"
        func write(_ files: [String: String]) throws {
            for (path, content) in files {
                let full = source + "/" + path
                try FileManager.default.createDirectory(
                    atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
                try content.write(toFile: full, atomically: false, encoding: .utf8)
                chmod(full, 0o644)
            }
            for d in [source, source + "/public", source + "/lib"] { chmod(d, 0o755) }
        }
        var files = ["public/health": "ok\n", "public/index.html": "<h1>web v1</h1>\n", "lib/big.dat": ""]
        files["lib/big.dat"] = String(repeating: "0123456789abcdef", count: 4096)  // 64 KiB that never changes
        for i in 0..<20 { files["lib/module\(i).txt"] = "module \(i)\n" }
        try write(files)
        func commit(_ tag: String) throws {
            let initialized = try runRedeye(["bundle", "init", source])
            guard initialized.status == 0 else { throw TestSetupError(description: initialized.stderr) }
            let r = try runRedeye([
                "bundle", "commit", source, "--repo", repo, "--tag", tag, "-m", tag, "--author",
                "Ops <ops@example.org>",
            ])
            guard r.status == 0 else { throw TestSetupError(description: "commit \(tag): \(r.stderr)") }
        }
        try commit("v1")
        try write(["public/index.html": "<h1>web v2, a little longer than v1</h1>\n"])
        try commit("v2")
        try write(["public/health": "sick\n"])
        try commit("bad")
    }

    func writePlans(
        batch: String = "2", maxFail: String = "0", drain: String? = nil, vars: [String: String] = [:],
        sshPorts: [String: Int] = [:], runPrefix: String = "", undrainPrefix: String = "", extraMonitor: String? = nil,
        tags: [String: [String]] = [:]
    ) throws {
        try FileManager.default.createDirectory(atPath: plans + "/roles", withIntermediateDirectories: true)
        try """
        bundles: file://\(dir)/bundles
        rollout: {batch: 1, max_fail: 0}
        """.write(toFile: plans + "/site.yaml", atomically: true, encoding: .utf8)
        let drainHook = drain ?? "touch \(dir)/hosts/{{name}}/drained"
        let extra = extraMonitor.map { "  - \($0)\n" } ?? ""
        try """
        bundle: {repo: web.git, ref: v1}
        install: {root: "\(dir)/hosts/{{name}}/opt/web", user: root, group: root, keep: 3}
        run: "\(runPrefix)exec python3 -m http.server {{port}} --bind 127.0.0.1 --directory public"
        vars: {health: health}
        hooks:
          drain: "\(drainHook)"
          undrain: "\(undrainPrefix)rm -f \(dir)/hosts/{{name}}/drained"
          timeout: 20s
        monitors:
          - {name: health, http: "http://{{address}}:{{port}}/{{health}}", expect: 200, body: ok, interval: 100ms, timeout: 1s, retries: 15}
        \(extra)rollout: {batch: "\(batch)", max_fail: "\(maxFail)"}
        """.write(toFile: plans + "/roles/web.yaml", atomically: true, encoding: .utf8)
        var lines = ["hosts:"]
        for (i, name) in names.enumerated() {
            lines.append(
                "  - {name: \(name), mac: \"52:54:00:aa:00:\(String(format: "%02x", i + 1))\", role: web, address: 127.0.0.1, vars: {port: \(ports[name]!), ssh_port: \(sshPorts[name] ?? sshd.port)\(vars[name].map { ", " + $0 } ?? "")}\(tags[name].map { ", tags: [\($0.joined(separator: ", "))]" } ?? "")}"
            )
        }
        try (lines.joined(separator: "\n") + "\n").write(
            toFile: plans + "/hosts.yaml", atomically: true, encoding: .utf8)
    }

    /// Stops every host's service, sshd, and removes everything.
    func remove() {
        for name in names { _ = try? runRedeye(["service", "stop", "--root", root(name)]) }
        sshd.stop()
        try? FileManager.default.removeItem(atPath: dir)
    }
}
