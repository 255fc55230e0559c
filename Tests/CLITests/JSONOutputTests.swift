import Foundation
import Glibc
import TestSupport
import Testing

/// Every `--json` output of every command parses, and holds timestamps as ISO 8601 UTC text (never a number).
@Suite("--json everywhere")
struct JSONOutputTests {
    /// Commands whose `--json` is walked by the deploy, boot and image suites, which need an sshd, a bundle
    /// staged by a deploy or a kernel package (each parses the output it reads).
    static let walkedElsewhere: Set<String> = [
        "deploy", "deploy run", "deploy resume", "deploy rollback", "bundle apply", "image build",
    ]

    /// Every command (by its words) whose help offers --json.
    func commandsWithJSON() throws -> Set<String> {
        var pending: [[String]] = [[]]
        var found = Set<String>()
        var seen = 0
        while let command = pending.popLast(), seen < 200 {
            seen += 1
            let help = try runRedeye(command + ["--help"]).stdout
            // Its own usage line, not an example in a group's text.
            let usage = help.split(separator: "\n").first { $0.hasPrefix("USAGE:") } ?? ""
            if usage.contains("--json") { found.insert(command.joined(separator: " ")) }
            pending += CLITests.subcommands(inHelp: help).map { command + [$0] }
        }
        return found
    }

    /// The output parses as JSON; no key naming a time (`…_at`) holds a number.
    func check(_ name: String, _ result: CommandResult, status: Int32 = 0) throws {
        #expect(result.status == status, "\(name): \(result.stderr)")
        let value: Any
        do {
            value = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8), options: [.fragmentsAllowed])
        } catch {
            Issue.record("\(name) --json is not JSON: \(result.stdout)")
            return
        }
        func walk(_ v: Any, _ path: String) {
            if let object = v as? [String: Any] {
                for (key, inner) in object {
                    if key.hasSuffix("_at"), inner is NSNumber {
                        Issue.record("\(name): \(path).\(key) is a number (\(inner)), not an ISO 8601 time")
                    }
                    if key.hasSuffix("_at"), let text = inner as? String {
                        #expect(text.hasSuffix("Z") && text.contains("T"), "\(name): \(path).\(key) = \(text)")
                    }
                    walk(inner, path + "." + key)
                }
            } else if let array = v as? [Any] {
                for (i, inner) in array.enumerated() { walk(inner, "\(path)[\(i)]") }
            }
        }
        walk(value, name)
    }

    @Test("every --json output parses, with times as ISO 8601 UTC; every command with --json is walked")
    func everyJSONOutputParses() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var walked = Set<String>()
        func run(_ words: Int, _ arguments: [String], status: Int32 = 0) throws {
            walked.insert(arguments.prefix(words).joined(separator: " "))
            try check(arguments.prefix(words).joined(separator: " "), try runRedeye(arguments, in: dir), status: status)
        }
        let db = ["--db", "sqlite:inv.db"]

        // Schema and inventory.
        try run(2, ["schema", "validate", "--json"])
        try run(2, ["schema", "plan", "--json"] + db)
        try run(2, ["schema", "migrate", "--json"] + db)
        try run(2, ["inventory", "put", "site", "name=fra1", "--json"] + db)
        try run(2, ["inventory", "get", "site", "fra1", "--json"] + db)
        try run(2, ["inventory", "list", "site", "--json"] + db)
        try writeFiles(["host.csv": "name,site,vcpus\napi01,fra1,4\n"], under: dir)
        try run(2, ["inventory", "import", "host.csv", "--json"] + db)
        try run(2, ["inventory", "history", "host", "api01", "--json"] + db)
        try run(2, ["inventory", "delete", "site", "fra1", "--dry-run", "--json"] + db)

        // A bundle: init, commit, verify, log, diff, install, status.
        try writeFiles(["app/index.html": "v1\n"], under: dir)
        for path in ["app", "app/index.html"] { chmod(dir + "/" + path, path == "app" ? 0o755 : 0o644) }
        #expect(try runRedeye(["bundle", "init", "app", "--owner", "root", "--group", "root"], in: dir).status == 0)
        let author = ["--author", "Ops <ops@example.org>"]
        #expect(
            try runRedeye(["bundle", "commit", "app", "--repo", "bundles/app.git", "--tag", "v1"] + author, in: dir)
                .status == 0)
        try writeFiles(["app/index.html": "v2\n"], under: dir)
        #expect(try runRedeye(["bundle", "init", "app", "--owner", "root", "--group", "root"], in: dir).status == 0)
        #expect(
            try runRedeye(["bundle", "commit", "app", "--repo", "bundles/app.git", "--tag", "v2"] + author, in: dir)
                .status == 0)
        try run(2, ["bundle", "verify", "app", "--json"])
        try run(2, ["bundle", "log", "--repo", "bundles/app.git", "--json"])
        try run(2, ["bundle", "diff", "--repo", "bundles/app.git", "v1", "v2", "--json"])
        let root = ["--root", "/srv/app", "--prefix", dir + "/host"]
        try run(2, ["bundle", "install", "--repo", "bundles/app.git", "--ref", "v1", "--json"] + root)
        try run(2, ["bundle", "status", "--json"] + root)

        // Plans: validate, show, commit (pinned), verify, diff.
        let key = try generateSSHKey(in: dir, name: "ops")
        try writeFiles(
            [
                "allowed_signers": "ops@example.org \(try String(contentsOfFile: key + ".pub", encoding: .utf8))",
                "plans/site.yaml": "bundles: file://\(dir)/bundles\nsites:\n  fra1: {}\n",
                "plans/roles/app.yaml":
                    "bundle: {repo: app.git, ref: v1}\ninstall: {root: /srv/app, user: root, group: root}\n",
                "plans/hosts.yaml": "hosts:\n  - {name: app01, mac: \"52:54:00:99:00:01\", role: app, site: fra1}\n",
            ], under: dir)
        let plans = ["--plans", "plans"]
        try run(2, ["plan", "validate", "--json"] + plans)
        try run(2, ["plan", "show", "app01", "--json"] + plans)
        let commit = ["--repo", "plans.git", "--sign-key", key, "--cache", dir + "/cache"] + author
        try run(2, ["plan", "commit", "-m", "one", "--json"] + plans + commit)
        try writeFiles(
            [
                "plans/roles/app.yaml":
                    "bundle: {repo: app.git, ref: v2}\ninstall: {root: /srv/app, user: root, group: root}\n"
            ], under: dir)
        try run(2, ["plan", "commit", "-m", "two", "--json"] + plans + commit)
        try run(2, ["plan", "verify", "--repo", "plans.git", "--allowed-signers", "allowed_signers", "--json"])
        try run(2, ["plan", "diff", "main~1", "main", "--repo", "plans.git", "--json"])

        // Deploy's record, read locally.
        try run(2, ["deploy", "history", "--json"] + plans + db)
        try run(3, ["deploy", "lock", "status", "--json"] + plans + db)
        try run(2, ["config", "show", "--json"] + plans + db)

        // A boot of a simulated host from those plans, then its status.
        try writeFiles(
            [
                "sys/class/net/eth0/address": "52:54:00:99:00:01\n", "sys/class/net/eth0/type": "1\n",
                "sys/class/net/eth0/addr_assign_type": "0\n", "sys/class/net/eth0/ifindex": "2\n",
                "root/cmdline": "quiet\n",
                "root/etc/redeye/allowed_signers":
                    "ops@example.org namespaces=\"git\" \(try String(contentsOfFile: key + ".pub", encoding: .utf8))",
            ], under: dir)
        try run(
            2,
            [
                "boot", "run", "--once", "--root", dir + "/root", "--sys", dir + "/sys", "--cmdline",
                dir + "/root/cmdline", "--no-dns", "--plans", dir + "/plans.git", "--inventory",
                "sqlite:" + dir + "/inv.db",
                "--json",
            ])
        try run(2, ["boot", "status", "--root", dir + "/root", "--json"])

        let all = try commandsWithJSON()
        // A group whose default subcommand is `run` (`redeye boot` is `redeye boot run`).
        for command in walked where command.hasSuffix(" run") { walked.insert(String(command.dropLast(4))) }
        let missing = all.subtracting(walked).subtracting(Self.walkedElsewhere)
        #expect(missing.isEmpty, "--json outputs no test walks: \(missing.sorted())")
    }
}
