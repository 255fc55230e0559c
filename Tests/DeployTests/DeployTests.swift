import Foundation
import Glibc
import TestSupport
import Testing

/// Decodes a deploy's --json summary.
struct Summary: Decodable {
    struct Host: Decodable {
        var host: String
        var state: String
        var step: String?
        var error: String?
        var releaseBefore: String?
        var releaseAfter: String?
        var filesSent: Int
        var bytesSent: Int
    }
    var deployment: Int?
    var state: String
    var stoppedBecause: String?
    var hosts: [Host]

    init(_ result: CommandResult) throws {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        self = try decoder.decode(Summary.self, from: Data(result.stdout.utf8))
    }

    func host(_ name: String) -> Host? { hosts.first { $0.host == name } }
}

@Suite(.serialized) struct DeployTests {
    @Test func aCleanRollingDeployThenAOneFileUpgradeThenRollback() throws {
        let fleet = try Fleet()
        defer { fleet.remove() }
        let first = try fleet.deploy(["web", "--ref", "v1", "--yes", "--json"])
        #expect(first.status == 0, "\(first.stderr)")
        let v1 = try fleet.release("v1")
        let summary = try Summary(first)
        #expect(summary.state == "succeeded")
        for name in fleet.names {
            #expect(fleet.current(name) == v1, "\(name)")
            #expect(summary.host(name)?.state == "succeeded")
            #expect(!FileManager.default.fileExists(atPath: "\(fleet.dir)/hosts/\(name)/drained"), "undrained")
        }
        #expect(first.stderr.contains("batch 1/2: web01, web02"))
        #expect(first.stderr.contains("batch 2/2: web03, web04"))

        // The plan with content: per release, the unified diff of what would change, nothing changed.
        let preview = try fleet.deploy(["web", "--ref", "v2", "--plan", "--diff"])
        #expect(preview.status == 0, "\(preview.stderr)")
        #expect(
            preview.stdout.contains("\(v1) → \(try fleet.release("v2")) (web01, web02, web03, web04):"),
            "\(preview.stdout)")
        #expect(
            preview.stdout.contains("@@ -1 +1 @@\n-<h1>web v1</h1>\n+<h1>web v2, a little longer than v1</h1>\n"),
            "\(preview.stdout)")
        #expect(!preview.stdout.contains("module1.txt"), "unchanged files are not shown")
        for name in fleet.names { #expect(fleet.current(name) == v1) }
        #expect(try fleet.deploy(["web", "--ref", "v2", "--diff"]).status == 64, "--diff needs --plan")

        // One file changed: only it travels, plus a manifest delta and the commands.
        let second = try fleet.deploy(["web", "--ref", "v2", "--yes", "--json"])
        #expect(second.status == 0, "\(second.stderr)")
        let v2 = try fleet.release("v2")
        let upgrade = try Summary(second)
        let changed = "<h1>web v2, a little longer than v1</h1>\n".utf8.count
        for name in fleet.names {
            #expect(fleet.current(name) == v2)
            let h = upgrade.host(name)
            #expect(h?.filesSent == 1)
            #expect(h?.releaseBefore == v1)
            #expect((h?.bytesSent ?? 0) < changed + 4096, "\(h?.bytesSent ?? 0) bytes for a \(changed)-byte change")
        }

        // Deploying the current release again does nothing on the hosts.
        let again = try Summary(try fleet.deploy(["web", "--ref", "v2", "--yes", "--json"]))
        #expect(again.hosts.allSatisfy { $0.state == "succeeded" && $0.filesSent == 0 })

        let rollback = try fleet.deploy(["rollback", "web", "--yes", "--json"])
        #expect(rollback.status == 0, "\(rollback.stderr)")
        for name in fleet.names { #expect(fleet.current(name) == v1) }
        // To a chosen ref, recorded as a rollback.
        let chosen = try fleet.deploy(["rollback", "web", "--to", "v2", "--yes"])
        #expect(chosen.status == 0, "\(chosen.stderr)")
        for name in fleet.names { #expect(fleet.current(name) == v2) }
        let back = try fleet.deploy(["rollback", "web", "--to", "v1", "--yes"])
        #expect(back.status == 0, "\(back.stderr)")

        let history = try runRedeye([
            "deploy", "history", "web", "--plans", fleet.plans, "--db", "sqlite:\(fleet.dir)/inventory.db",
        ])
        #expect(history.status == 0, "\(history.stderr)")
        #expect(history.stdout.contains("rollback  succeeded"))
        #expect(history.stdout.contains("web v2  rolling  succeeded"))
        #expect(history.stdout.contains("web04: succeeded"))

        // The record keeps what each host was sent and how long each step took.
        let recorded = try runRedeye([
            "deploy", "history", "web", "--json", "--plans", fleet.plans, "--db", "sqlite:\(fleet.dir)/inventory.db",
        ])
        let deployments = try JSONSerialization.jsonObject(with: Data(recorded.stdout.utf8)) as? [[String: Any]] ?? []
        let upgraded = deployments.first { $0["id"] as? Int == upgrade.deployment }
        let hosts = upgraded?["hosts"] as? [[String: Any]] ?? []
        #expect(hosts.count == 4, "\(recorded.stdout.prefix(2000))")
        for h in hosts {
            #expect(h["files_sent"] as? Int == 1)
            #expect((h["bytes_sent"] as? Int ?? 0) > 0)
            #expect((h["seconds"] as? Double ?? 0) > 0)
            #expect((h["step_seconds"] as? [[String: Any]])?.isEmpty == false)
        }

        // The journal's records are in the change log: the deployment started and finished, each host's outcome.
        let logged = try runRedeye([
            "inventory", "history", "deployment", "1", "--json", "--db", "sqlite:\(fleet.dir)/inventory.db",
            "--schema", repositoryRoot + "/Schemas",
        ])
        let entries = try JSONSerialization.jsonObject(with: Data(logged.stdout.utf8)) as? [[String: Any]] ?? []
        #expect(entries.map { $0["action"] as? String } == ["insert", "update"], "\(logged.stdout)")
        #expect((entries.last?["after"] as? [String: Any])?["state"] as? String == "succeeded")
        let host = try runRedeye([
            "inventory", "history", "deployment_host", "1", "web04", "--db", "sqlite:\(fleet.dir)/inventory.db",
            "--schema", repositoryRoot + "/Schemas",
        ])
        #expect(host.stdout.contains("state: \"running\" → \"succeeded\""), "\(host.stdout)")
    }

    /// One host list: tags put in the inventory select hosts for a deploy and for `status`, which shows each
    /// host's release and ref, its last deploy and its health from the records alone.
    @Test func tagsSelectHostsAndStatusShowsTheFleet() throws {
        let fleet = try Fleet()
        defer { fleet.remove() }
        let db = ["--db", "sqlite:\(fleet.dir)/inventory.db", "--plans", fleet.plans]
        #expect(try fleet.deploy(["web", "--ref", "v1", "--window", "4", "--yes"]).status == 0)
        let v1 = try fleet.release("v1")
        let v2 = try fleet.release("v2")
        let tagged = try runRedeye(["inventory", "tag", "host", "web03", "canary"] + db)
        #expect(tagged.status == 0, "\(tagged.stderr)")
        #expect(try runRedeye(["inventory", "tag", "host", "web04", "canary", "edge"] + db).status == 0)

        let canary = try fleet.deploy(["web", "--ref", "v2", "--hosts", "tag=canary:!web04", "--yes", "--json"])
        #expect(canary.status == 0, "\(canary.stderr)")
        #expect(try Summary(canary).hosts.map(\.host) == ["web03"])
        #expect(fleet.current("web03") == v2 && fleet.current("web04") == v1 && fleet.current("web01") == v1)

        let status = try runRedeye(["status", "--json"] + db)
        #expect(status.status == 0, "\(status.stderr)")
        let hosts = try JSONSerialization.jsonObject(with: Data(status.stdout.utf8)) as? [[String: Any]] ?? []
        #expect(hosts.map { $0["host"] as? String } == fleet.names)
        for host in hosts {
            let name = host["host"] as? String ?? ""
            #expect(host["release"] as? String == (name == "web03" ? v2 : v1), "\(name)")
            #expect(host["ref"] as? String == (name == "web03" ? "v2" : "v1"), "\(name)")
            #expect(host["health"] as? String == "good")
            #expect(host["role"] as? String == "web")
            #expect((host["last_deploy"] as? [String: Any])?["state"] as? String == "succeeded")
        }
        let selected = try runRedeye(["status", "canary:&edge"] + db)
        #expect(selected.status == 0)
        #expect(selected.stdout.contains("web04") && !selected.stdout.contains("web03"), "\(selected.stdout)")
        #expect(selected.stdout.contains("1 host: 1 good, 0 bad, 0 ugly"))
        let none = try runRedeye(["status", "tag=nothing"] + db)
        #expect(none.status == 5 && none.stderr.contains("no host matches 'tag=nothing'"))
        // Tags may also be written in the plans (as `plan sync --from-inventory` does): both are selected on.
        try fleet.writePlans(tags: ["web01": ["rack7"]])
        let planned = try fleet.deploy(["web", "--ref", "v2", "--hosts", "tag=rack7:tag=edge", "--plan", "--json"])
        #expect(planned.status == 0, "\(planned.stderr)")
        #expect(planned.stdout.contains("\"web01\"") && planned.stdout.contains("\"web04\""), "\(planned.stdout)")
        #expect(!planned.stdout.contains("\"web02\""), "\(planned.stdout)")
        let rack = try runRedeye(["status", "rack7", "--json"] + db)
        #expect(rack.stdout.contains("\"rack7\"") && !rack.stdout.contains("web03"), "\(rack.stdout)")
        // A bad deploy on web02 (its health check fails), then the feed: valid Atom, read by a real parser.
        try fleet.writePlans(vars: ["web02": "health: missing"])
        #expect(try fleet.deploy(["web", "--ref", "v2", "--hosts", "web02", "--yes"]).status == 9)
        let feeds = fleet.dir + "/feeds"
        try FileManager.default.createDirectory(atPath: feeds, withIntermediateDirectories: true)
        let wrote = try runRedeye(["status", "--atom", feeds] + db)
        #expect(wrote.status == 0, "\(wrote.stderr)")
        #expect(wrote.stdout.contains("wrote \(feeds)/web.atom: 6 entries"), "\(wrote.stdout)")
        let lint = try runTool("xmllint", ["--noout", feeds + "/web.atom"])
        #expect(lint.status == 0, "\(lint.stderr)")
        let reader = """
            import feedparser, json, sys
            d = feedparser.parse(sys.argv[1])
            print(json.dumps({"bozo": d.bozo, "version": d.version, "title": d.feed.title,
                "entries": [{"title": e.title, "id": e.id, "content": e.content[0].value} for e in d.entries]}))
            """
        let parsed = try runProcess("/usr/bin/python3", ["-c", reader, feeds + "/web.atom"])
        #expect(parsed.status == 0, "\(parsed.stderr)")
        let feed = try JSONSerialization.jsonObject(with: Data(parsed.stdout.utf8)) as? [String: Any] ?? [:]
        #expect(feed["bozo"] as? Int == 0 && feed["version"] as? String == "atom10", "\(parsed.stdout)")
        #expect(feed["title"] as? String == "redeye: web")
        let entries = feed["entries"] as? [[String: Any]] ?? []
        #expect(entries.count == 6, "4 hosts in the first deploy, 1 canary, 1 bad")
        let newest = entries.first
        #expect(
            (newest?["title"] as? String)?.hasPrefix("web02: bad — rolling #3 of v2: rolled back at health") == true,
            "\(entries)")
        #expect((newest?["content"] as? String)?.contains("answered 404, expected 200") == true)
        #expect(
            entries.contains {
                ($0["title"] as? String)?.hasPrefix("web03: good — rolling #2 of v2: succeeded") == true
            })

        // --live asks the hosts themselves: web01's release drifted (a set-uid bit), web03's is intact.
        #expect(chmod(fleet.root("web01") + "/current/public/index.html", 0o4755) == 0)
        let live = try runRedeye(["status", "--live", "--json"] + fleet.sshArguments())
        #expect(live.status == 0, "\(live.stderr)")
        let asked = try JSONSerialization.jsonObject(with: Data(live.stdout.utf8)) as? [[String: Any]] ?? []
        let web01 = asked.first { $0["host"] as? String == "web01" }
        let web03 = asked.first { $0["host"] as? String == "web03" }
        #expect(web01?["health"] as? String == "bad", "\(live.stdout)")
        let drift = (web01?["live"] as? [String: Any])?["drift"] as? [String] ?? []
        #expect(drift.contains { $0.contains("public/index.html: has a setuid/setgid bit") }, "\(drift)")
        #expect((web03?["live"] as? [String: Any])?["release"] as? String == v2)
        #expect(web03?["health"] as? String == "good")
        let text = try runRedeye(["status", "web01", "--live"] + fleet.sshArguments())
        #expect(text.stdout.contains("runs \(v1), 2 drifted: public/index.html"), "\(text.stdout)")
        // A `current` that names no release of ours (moved by hand) is bad too, not "runs nothing".
        let currentLink = fleet.root("web03") + "/current"
        #expect(unlink(currentLink) == 0 && symlink("/tmp", currentLink) == 0)
        let stray = try runRedeye(["status", "web03", "--live", "--json"] + fleet.sshArguments())
        let strayHost = (try JSONSerialization.jsonObject(with: Data(stray.stdout.utf8)) as? [[String: Any]])?.first
        #expect(strayHost?["health"] as? String == "bad", "\(stray.stdout)")
        #expect(
            ((strayHost?["live"] as? [String: Any])?["drift"] as? [String])?.first
                == "current: points to /tmp, not to a release", "\(stray.stdout)")

        let bad = try runRedeye(["status", "web:&colour=red"] + db)
        #expect(bad.status == 64)
        #expect(
            bad.stderr.contains("host selection 'web:&colour=red', column 5: unknown field 'colour'"), "\(bad.stderr)")
    }

    /// `deploy --repair`: a host whose release drifted (an edited file shared by a hard link with the previous
    /// release, a set-uid bit, a planted file) gets the content it no longer has intact, is rewritten in a fresh
    /// copy, restarted and checked; the fix does not reach the previous release; intact hosts are left alone.
    /// A plain deploy of the same ref leaves the drift as it is.
    @Test func repairConvergesDriftedHostsAndLeavesIntactOnesAlone() throws {
        let fleet = try Fleet(hosts: 2)
        defer { fleet.remove() }
        #expect(try fleet.deploy(["web", "--ref", "v1", "--yes"]).status == 0)
        let upgraded = try fleet.deploy(["web", "--ref", "v2", "--yes"])
        #expect(upgraded.status == 0, "\(upgraded.stderr)")
        let (v1, v2) = (try fleet.release("v1"), try fleet.release("v2"))
        let current = fleet.root("web01") + "/current"
        try "defaced\n".write(toFile: current + "/lib/module3.txt", atomically: false, encoding: .utf8)
        #expect(chmod(current + "/public/health", 0o4644) == 0)
        try "<h1>planted</h1>\n".write(toFile: current + "/public/planted.html", atomically: false, encoding: .utf8)
        let audit = { try runRedeye(["bundle", "audit", "--root", fleet.root("web01")]) }
        #expect(try audit().status == 3)

        let plain = try Summary(try fleet.deploy(["web", "--ref", "v2", "--yes", "--json"]))
        #expect(plain.hosts.allSatisfy { $0.state == "succeeded" && $0.filesSent == 0 })
        #expect(try audit().status == 3, "a plain deploy of the ref repairs nothing")

        let run = try fleet.deploy(["web", "--ref", "v2", "--repair", "--yes", "--json"])
        #expect(run.status == 0, "\(run.stderr)")
        let repaired = try Summary(run)
        #expect(repaired.host("web01")?.state == "succeeded")
        #expect(repaired.host("web01")?.filesSent == 1, "only the edited file's content travels")
        #expect(repaired.host("web02")?.filesSent == 0)
        #expect(
            run.stderr.contains(
                "[web01] repaired 4 findings in \(v2): public/planted.html: on disk but not in the manifest; lib/module3.txt: content does not match"
            ), "\(run.stderr)")
        #expect(run.stderr.contains("[web02] \(v2) matches its manifest; nothing to repair"), "\(run.stderr)")
        let after = try audit()
        #expect(after.status == 0, "\(after.stderr)")
        #expect(try String(contentsOfFile: current + "/lib/module3.txt", encoding: .utf8) == "module 3\n")
        #expect(!FileManager.default.fileExists(atPath: current + "/public/planted.html"))
        #expect(fleet.current("web01") == v2)
        let old = fleet.root("web01") + "/releases/\(v1)/lib/module3.txt"
        #expect(try String(contentsOfFile: old, encoding: .utf8) == "defaced\n", "the fix is a new file, not v1's")
        #expect(!FileManager.default.fileExists(atPath: "\(fleet.dir)/hosts/web01/drained"), "undrained")

        let history = try runRedeye([
            "deploy", "history", "web", "--plans", fleet.plans, "--db", "sqlite:\(fleet.dir)/inventory.db",
        ])
        #expect(history.stdout.contains("web v2  repair  succeeded"), "\(history.stdout)")

        // A repaired host that then fails its health check has nothing to go back to: it stays drained.
        #expect(chmod(current + "/public/health", 0o4644) == 0)
        try fleet.writePlans(vars: ["web01": "health: missing"])
        let sick = try fleet.deploy(["web", "--ref", "v2", "--repair", "--yes", "--json"])
        #expect(sick.status == 8, "\(sick.stderr)")
        let failed = try Summary(sick).host("web01")
        #expect(failed?.state == "failed" && failed?.step == "health", "\(sick.stdout)")
        #expect(failed?.error?.contains("left drained") == true, "\(failed?.error ?? "")")
        #expect(FileManager.default.fileExists(atPath: "\(fleet.dir)/hosts/web01/drained"))
        #expect(fleet.current("web01") == v2)
        #expect(try audit().status == 0)
    }

    /// An upgrade from a release that drifted on the host: the edited file is no source for the new release;
    /// the host asks for its content and the deploy sends it, instead of refusing the bundle as tampered.
    @Test func anUpgradeFromADriftedReleaseAsksForWhatChanged() throws {
        let fleet = try Fleet(hosts: 1)
        defer { fleet.remove() }
        #expect(try fleet.deploy(["web", "--ref", "v1", "--yes"]).status == 0)
        try "defaced\n".write(
            toFile: fleet.root("web01") + "/current/lib/module3.txt", atomically: false, encoding: .utf8)
        let run = try fleet.deploy(["web", "--ref", "v2", "--yes", "--json"])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(try Summary(run).host("web01")?.filesSent == 2, "index.html, and module3.txt once more")
        #expect(run.stderr.contains("the host lacks 1 more file (changed on the host since)"), "\(run.stderr)")
        #expect(try runRedeye(["bundle", "audit", "--root", fleet.root("web01")]).status == 0)
    }

    @Test func aFailingHealthCheckRollsThatHostBackAndTheBudgetDecides() throws {
        let fleet = try Fleet()
        defer { fleet.remove() }
        #expect(try fleet.deploy(["web", "--ref", "v1", "--window", "4", "--yes"]).status == 0)
        let v1 = try fleet.release("v1")
        let v2 = try fleet.release("v2")
        // web02's health check asks for a page that does not exist.
        try fleet.writePlans(vars: ["web02": "health: missing"])

        // Budget 1: web02 fails and is rolled back, the rollout goes on.
        let tolerant = try fleet.deploy(["web", "--ref", "v2", "--batch", "1", "--max-fail", "1", "--yes", "--json"])
        #expect(tolerant.status == 8, "\(tolerant.stderr)")
        let partial = try Summary(tolerant)
        #expect(partial.state == "partial")
        #expect(partial.host("web02")?.state == "rolled_back")
        #expect(partial.host("web02")?.step == "health")
        #expect(partial.host("web02")?.error?.contains("answered 404, expected 200") == true)
        #expect(fleet.current("web02") == v1)
        #expect(!FileManager.default.fileExists(atPath: "\(fleet.dir)/hosts/web02/drained"), "undrained after rollback")
        for name in ["web01", "web03", "web04"] { #expect(fleet.current(name) == v2, "\(name)") }

        // Budget 0: back to v1 everywhere first, then the failure stops the rollout after web02.
        // (web02 already runs v1 after its rollback: nothing to do there, so no health check to fail.)
        #expect(try fleet.deploy(["web", "--ref", "v1", "--window", "4", "--yes"]).status == 0)
        let strict = try fleet.deploy(["web", "--ref", "v2", "--batch", "1", "--max-fail", "0", "--yes", "--json"])
        #expect(strict.status == 8, "\(strict.stderr)")
        let stopped = try Summary(strict)
        #expect(stopped.stoppedBecause?.contains("failure budget") == true)
        #expect(stopped.host("web01")?.state == "succeeded")
        #expect(stopped.host("web02")?.state == "rolled_back")
        #expect(stopped.host("web03")?.state == "skipped")
        #expect(fleet.current("web03") == v1 && fleet.current("web04") == v1)
        // The summary names every host's release: a skipped host's is the one its last deploy left.
        #expect(stopped.host("web03")?.releaseBefore == v1 && stopped.host("web04")?.releaseBefore == v1)
        #expect(strict.stdout.contains("\"stopped_because\""))

        // A version whose health page is bad everywhere: the first host rolls back and nothing else starts.
        let bad = try fleet.deploy(["web", "--ref", "bad", "--batch", "1", "--max-fail", "0", "--yes"])
        #expect(bad.status == 9, "\(bad.stderr)")
        #expect(bad.stdout.contains("rolled_back"))
        #expect(bad.stderr.contains("without 'ok' in its body"))
        #expect(fleet.current("web01") == v2)
    }

    @Test func unreachableHostsCountAsFailuresAndChangedHostKeysAreRefused() throws {
        let fleet = try Fleet(hosts: 3)
        defer { fleet.remove() }
        let closed = try freeLoopbackPort()
        try fleet.writePlans(sshPorts: ["web02": closed])
        let result = try fleet.deploy(["web", "--ref", "v1", "--window", "3", "--max-fail", "1", "--yes", "--json"])
        #expect(result.status == 8, "\(result.stderr)")
        let summary = try Summary(result)
        #expect(summary.host("web02")?.state == "failed")
        #expect(summary.host("web02")?.step == "connect")
        #expect(summary.host("web02")?.error?.contains("connect to 127.0.0.1:\(closed)") == true)
        #expect(summary.host("web01")?.state == "succeeded" && summary.host("web03")?.state == "succeeded")

        // Another key for the hosts in known_hosts: refused before anything is sent, nothing touched.
        try fleet.writePlans()
        let other = try generateSSHKey(in: fleet.dir, name: "impostor")
        let key = try String(contentsOfFile: other + ".pub", encoding: .utf8).split(separator: " ").prefix(2)
            .joined(separator: " ")
        try "[127.0.0.1]:\(fleet.sshd.port) \(key)\n".write(
            toFile: fleet.sshd.knownHosts, atomically: true, encoding: .utf8)
        let v1 = try fleet.release("v1")
        let refused = try fleet.deploy(["web", "--ref", "v2", "--batch", "1", "--yes"])
        #expect(refused.status == 9, "\(refused.stderr)")
        #expect(refused.stderr.contains("does not match"))
        #expect(fleet.current("web01") == v1 && fleet.current("web02") == nil && fleet.current("web03") == v1)
    }

    @Test func aTamperedBundleIsRefusedBeforeAnythingIsSent() throws {
        let fleet = try Fleet(hosts: 2)
        defer { fleet.remove() }
        #expect(try fleet.deploy(["web", "--ref", "v1", "--yes"]).status == 0)
        let work = fleet.dir + "/clone"
        #expect(try runTool("git", ["clone", "-q", fleet.repo, work]).status == 0)
        try "<h1>defaced</h1>\n".write(toFile: work + "/public/index.html", atomically: false, encoding: .utf8)
        for args in [
            ["-C", work, "-c", "user.name=M", "-c", "user.email=m@x", "commit", "-qam", "innocent"],
            ["-C", work, "tag", "evil"], ["-C", work, "push", "-q", "origin", "HEAD:main", "evil"],
        ] {
            #expect(try runTool("git", args).status == 0)
        }
        let result = try fleet.deploy(["web", "--ref", "evil", "--yes"])
        #expect(result.status == 1)
        #expect(result.stderr.contains("public/index.html in evil does not match the manifest's sha256"))
        let v1 = try fleet.release("v1")
        #expect(fleet.current("web01") == v1 && fleet.current("web02") == v1)
    }

    @Test func aServiceThatCannotStartFailsTheHostAtRestartAndItsReleaseIsSwitchedBack() throws {
        let fleet = try Fleet(hosts: 2)
        defer { fleet.remove() }
        #expect(try fleet.deploy(["web", "--ref", "v1", "--window", "2", "--yes"]).status == 0)
        let v1 = try fleet.release("v1")
        // web02's service log is a directory: the switch works, starting the run command cannot.
        let log = fleet.root("web02") + "/.redeye/run.log"
        try FileManager.default.removeItem(atPath: log)
        try FileManager.default.createDirectory(atPath: log, withIntermediateDirectories: false)

        let result = try fleet.deploy(["web", "--ref", "v2", "--window", "2", "--max-fail", "1", "--yes", "--json"])
        #expect(result.status == 8, "\(result.stderr)")
        let summary = try Summary(result)
        let web02 = summary.host("web02")
        #expect(web02?.step == "restart")
        #expect(web02?.error?.contains("cannot start `exec python3") == true, "\(web02?.error ?? "")")
        #expect(web02?.state == "failed", "its previous release cannot start either: reported, not rolled back")
        #expect(fleet.current("web02") == v1)
        #expect(summary.host("web01")?.state == "succeeded")
        #expect(fleet.current("web01") == (try fleet.release("v2")))
    }

    /// A hostile host answering a deploy: one floods the deployer with output (kept to a bound, the host fails
    /// naming it), one exits 0 without the report that says it switched (a failure, never a success).
    /// A host whose `redeye` is missing or speaks another contract is refused at inspect, before its drain
    /// (it would fail at the switch otherwise, drained); `--plan` says so first.
    @Test func aHostWithoutACompatibleRedeyeIsRefusedBeforeItsDrain() throws {
        let drains = "/tmp/redeye-drains-\(UUID().uuidString)"
        let fleet = try Fleet(hosts: 2, drain: "echo {{name}} >> \(drains)")
        defer {
            fleet.remove()
            try? FileManager.default.removeItem(atPath: drains)
        }
        let old = fleet.dir + "/old-redeye"
        try """
        #!/bin/sh
        [ "$1" = --version ] && { echo 0.0.9; exit 0; }
        exec '\(redeyeBinary)' "$@"

        """.write(toFile: old, atomically: true, encoding: .utf8)
        chmod(old, 0o755)
        let plan = try fleet.deploy(["web", "--ref", "v1", "--plan", "--json"], remoteRedeye: old)
        #expect(plan.status == 0, "\(plan.stderr)")
        #expect(
            plan.stdout.contains("answered version '0.0.9', which does not speak this deployer's contract"),
            "\(plan.stdout)")
        let refused = try Summary(try fleet.deploy(["web", "--ref", "v1", "--yes", "--json"], remoteRedeye: old))
        let missing = try Summary(
            try fleet.deploy(["web", "--ref", "v1", "--yes", "--json"], remoteRedeye: fleet.dir + "/no-such-redeye"))
        #expect(!FileManager.default.fileExists(atPath: drains), "no host was drained")
        for (summary, why) in [
            (refused, "does not speak this deployer's contract"), (missing, "is not installed on the host"),
        ] {
            for name in fleet.names {
                let host = summary.host(name)
                #expect(host?.state == "failed" && host?.step == "inspect", "\(name): \(host?.error ?? "")")
                #expect(host?.error?.contains(why) == true, "\(host?.error ?? "")")
                #expect(fleet.current(name) == nil)
            }
        }
    }

    @Test func aHostileHostCannotFloodTheDeployerOrClaimASwitchItDidNotReport() throws {
        let fleet = try Fleet(hosts: 3)
        defer { fleet.remove() }
        let hostile = fleet.dir + "/hostile-redeye"
        try """
        #!/bin/sh
        case "$*" in
        *"bundle apply"*)
            case "$PWD$HOME$*" in *web01*) head -c 200000000 /dev/zero; exit 0 ;; esac
            case "$*" in *web03*) printf 'redeye: \\033[2Jcleared\\033]0;retitled\\007\\n' >&2; exit 1 ;; esac
            cat > /dev/null; exit 0 ;;
        esac
        exec '\(redeyeBinary)' "$@"

        """.write(toFile: hostile, atomically: true, encoding: .utf8)
        chmod(hostile, 0o755)
        let result = try fleet.deploy(
            ["web", "--ref", "v1", "--window", "3", "--max-fail", "3", "--yes", "--json"], remoteRedeye: hostile)
        #expect(result.status != 0, "\(result.stderr)")
        let summary = try Summary(result)
        for name in fleet.names {
            #expect(summary.host(name)?.state != "succeeded", "\(name) counted as deployed")
            #expect(fleet.current(name) == nil)
        }
        #expect(summary.host("web01")?.error?.contains("more than 1048576 bytes of output") == true)
        #expect(summary.host("web02")?.error?.contains("exited 0 without a report naming") == true)
        // Terminal escapes from a host are shown, not obeyed: in the output and in the record.
        #expect(
            summary.host("web03")?.error == "\\x1B[2Jcleared\\x1B]0;retitled\\x07",
            "\(summary.host("web03")?.error ?? "")")
        #expect(!result.stderr.contains("\u{1B}") && !result.stdout.contains("\u{1B}"))
        let history = try runRedeye([
            "deploy", "history", "--json", "--plans", fleet.plans, "--db", "sqlite:\(fleet.dir)/inventory.db",
        ])
        #expect(!history.stdout.contains("\u{1B}") && history.stdout.contains("x1B[2J"), "\(history.stdout)")
    }

    @Test func stagedContentIsRemovedWhenTheSwitchFailsAndWhenAnEarlierDeployLeftIt() throws {
        let fleet = try Fleet(hosts: 2)
        defer { fleet.remove() }
        // web02 cannot install: its releases directory is a file.
        try FileManager.default.createDirectory(atPath: fleet.root("web02"), withIntermediateDirectories: true)
        try "not a directory\n".write(toFile: fleet.root("web02") + "/releases", atomically: true, encoding: .utf8)
        let result = try fleet.deploy(["web", "--ref", "v1", "--window", "2", "--max-fail", "1", "--yes", "--json"])
        #expect(result.status == 8, "\(result.stderr)")
        let summary = try Summary(result)
        #expect(summary.host("web02")?.step == "switch", "\(result.stdout)")
        #expect(summary.host("web02")?.state == "failed")
        let incoming = fleet.root("web02") + "/.redeye/incoming"
        #expect(try FileManager.default.contentsOfDirectory(atPath: incoming) == [], "the failed switch's staging")

        // What a deployer that died between sending and switching leaves is removed by the next deploy.
        let stale = fleet.root("web01") + "/.redeye/incoming/deploy-999"
        try FileManager.default.createDirectory(atPath: stale, withIntermediateDirectories: true)
        try Data(repeating: 7, count: 4096).write(to: URL(fileURLWithPath: stale + "/objects.pack"))
        let next = try fleet.deploy(["web", "--ref", "v2", "--hosts", "web01", "--yes"])
        #expect(next.status == 0, "\(next.stderr)")
        #expect(!FileManager.default.fileExists(atPath: stale))
        #expect(next.stderr.contains("removed \(stale), left by an earlier deploy"), "\(next.stderr)")
        #expect(
            try FileManager.default.contentsOfDirectory(atPath: fleet.root("web01") + "/.redeye/incoming") == [])
    }

    @Test func aSecondDeployIsRefusedAndAKilledDeployResumes() throws {
        let fleet = try Fleet(hosts: 4)
        defer { fleet.remove() }
        // A slow drain, one host at a time, so the deploy can be caught halfway.
        try fleet.writePlans(drain: "sleep 1; touch \(fleet.dir)/hosts/{{name}}/drained")
        let v1 = try fleet.release("v1")
        let first = try Daemon(
            redeyeBinary, ["deploy", "web", "--ref", "v1", "--window", "1", "--yes"] + fleet.sshArguments())
        defer { first.stop() }
        // web02's drain starting means web01 is done and recorded.
        var waited = 0
        while !FileManager.default.fileExists(atPath: fleet.dir + "/hosts/web02/drained") && waited < 600 {
            usleep(20_000)
            waited += 1
        }
        #expect(fleet.current("web01") == v1)

        let second = try fleet.deploy(["web", "--ref", "v1", "--yes"])
        #expect(second.status == 10, "\(second.stderr)")
        #expect(second.stderr.contains("role web is being deployed by"))

        first.stop()  // SIGKILL halfway through
        #expect(fleet.current("web04") == nil)
        let status = try runRedeye([
            "deploy", "lock", "status", "--plans", fleet.plans, "--db", "sqlite:\(fleet.dir)/inventory.db",
        ])
        #expect(status.stdout.contains("web: "))
        #expect(!status.stdout.contains("STALE"))
        // A lock whose heartbeat stopped long ago is called stale, and the refusal says how to go on.
        let aged = try runTool(
            "sqlite3", [fleet.dir + "/inventory.db", "UPDATE deploy_lock SET heartbeat_at = '2026-01-01T00:00:00Z'"])
        #expect(aged.status == 0, "\(aged.stderr)")
        let stale = try runRedeye(
            ["deploy", "lock", "status", "--plans", fleet.plans, "--db", "sqlite:\(fleet.dir)/inventory.db"])
        #expect(stale.stdout.contains("STALE"))
        let refusedStale = try fleet.deploy(["web", "--ref", "v1", "--yes"])
        #expect(refusedStale.status == 10)
        #expect(refusedStale.stderr.contains("the lock looks stale"))
        #expect(refusedStale.stderr.contains("redeye deploy resume web"))
        let web01Before = try FileManager.default.attributesOfItem(
            atPath: fleet.root("web01") + "/current/public/health")

        let resumed = try fleet.deploy(["resume", "web", "--yes", "--json"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(resumed.stderr.contains("resuming deployment 1"))
        for name in fleet.names { #expect(fleet.current(name) == v1, "\(name)") }
        let web01After = try FileManager.default.attributesOfItem(
            atPath: fleet.root("web01") + "/current/public/health")
        #expect(web01Before[.systemFileNumber] as? Int == web01After[.systemFileNumber] as? Int)
        #expect(!resumed.stderr.contains("[web01]"), "web01 was done and is not touched")
        let locks = try runRedeye([
            "deploy", "lock", "status", "--plans", fleet.plans, "--db", "sqlite:\(fleet.dir)/inventory.db",
        ])
        #expect(locks.stdout.contains("no deploy locks held"))
        let history = try runRedeye([
            "deploy", "history", "--json", "--plans", fleet.plans, "--db", "sqlite:\(fleet.dir)/inventory.db",
        ])
        let records = try JSONSerialization.jsonObject(with: Data(history.stdout.utf8)) as? [[String: Any]]
        #expect(records?.count == 1)
        #expect(records?.first?["state"] as? String == "succeeded")
    }

    /// Where the deployer is killed: inside the drain hook, inside the service start (after the switch, in the
    /// same remote command), inside a health check, inside the undrain hook.
    enum KillPoint: String, CaseIterable {
        case drain
        /// The host's installer starts, the deployer dies before it switches anything.
        case beforeSwitch
        /// The host switches and restarts; the deployer dies before it reads the answer.
        case afterSwitch
        case restart, health, undrain
    }

    /// The deployer is SIGKILLed after each step in turn and the deployment resumed: every host ends on the one
    /// release, healthy and undrained, and a host the dead run had switched is health-checked and undrained by
    /// the resumed run, not taken as done.
    @Test(arguments: KillPoint.allCases)
    func aDeployerKilledAtAnyStepIsFinishedByResume(_ point: KillPoint) throws {
        let fleet = try Fleet(hosts: 2)
        defer { fleet.remove() }
        let pidFile = fleet.dir + "/deployer.pid"
        let marker = fleet.dir + "/killed"
        let kill =
            "i=0; while [ ! -s \(pidFile) ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done; "
            + "test -e \(marker) || { touch \(marker); kill -9 $(cat \(pidFile)); sleep 3; }; "
        switch point {
        case .drain: try fleet.writePlans(drain: "touch \(fleet.dir)/hosts/{{name}}/drained; \(kill)")
        case .restart: try fleet.writePlans(runPrefix: kill)
        case .health:
            try fleet.writePlans(extraMonitor: "{name: gate, command: \"\(kill)true\", interval: 100ms, timeout: 10s}")
        case .undrain: try fleet.writePlans(undrainPrefix: kill)
        case .beforeSwitch, .afterSwitch: break
        }
        // The host's redeye, wrapped: the kill comes before or after the real `bundle apply`.
        let wrapper = fleet.dir + "/redeye-on-host"
        let apply =
            point == .beforeSwitch
            ? "\(kill)exec '\(redeyeBinary)' \"$@\""
            : "'\(redeyeBinary)' \"$@\"; status=$?; \(kill)exit $status"
        try """
        #!/bin/sh
        case "$*" in *"bundle apply"*) \(apply) ;; esac
        exec '\(redeyeBinary)' "$@"

        """.write(toFile: wrapper, atomically: true, encoding: .utf8)
        chmod(wrapper, 0o755)
        let remote = point == .beforeSwitch || point == .afterSwitch ? wrapper : redeyeBinary
        let v1 = try fleet.release("v1")
        let first = try Daemon(
            redeyeBinary,
            ["deploy", "web", "--ref", "v1", "--window", "1", "--yes"] + fleet.sshArguments(remoteRedeye: remote))
        defer { first.stop() }
        try "\(first.pid)\n".write(toFile: pidFile, atomically: true, encoding: .utf8)
        for _ in 0..<1500 where first.isRunning { usleep(20_000) }
        #expect(!first.isRunning, "the deployer was not killed at \(point)")
        #expect(FileManager.default.fileExists(atPath: marker))
        #expect(fleet.current("web02") == nil, "the kill came before web02")

        let resumed = try fleet.deploy(["resume", "web", "--yes", "--json"])
        #expect(resumed.status == 0, "\(point): \(resumed.stderr)")
        let summary = try Summary(resumed)
        for name in fleet.names {
            #expect(fleet.current(name) == v1, "\(point): \(name)")
            #expect(summary.host(name)?.state == "succeeded", "\(point): \(name)")
            #expect(
                !FileManager.default.fileExists(atPath: fleet.dir + "/hosts/\(name)/drained"),
                "\(point): \(name) drained")
            let health = try runTool("curl", ["-fsS", "http://127.0.0.1:\(fleet.ports[name]!)/health"])
            #expect(health.stdout == "ok\n", "\(point): \(name) is not serving")
        }
        if point != .drain && point != .beforeSwitch {
            #expect(resumed.stderr.contains("[web01] the stopped run left it on \(v1)"), "\(point): \(resumed.stderr)")
            #expect(resumed.stderr.contains("[web01] undrain:"), "\(point): \(resumed.stderr)")
        }
    }

    /// A bad version whose deployer dies right after switching the first host: the resumed run checks that host,
    /// finds it sick, rolls it back to what it ran before, and the failure budget of 0 stops the rest.
    @Test func aResumedRunDoesNotLetAnUncheckedBadReleaseThrough() throws {
        let fleet = try Fleet(hosts: 2)
        defer { fleet.remove() }
        let v1 = try fleet.release("v1")
        let initial = try fleet.deploy(["web", "--ref", "v1", "--window", "1", "--yes"])
        #expect(initial.status == 0, "\(initial.stderr)")
        let pidFile = fleet.dir + "/deployer.pid"
        let marker = fleet.dir + "/killed"
        try fleet.writePlans(
            runPrefix: "i=0; while [ ! -s \(pidFile) ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done; "
                + "test -e \(marker) || { touch \(marker); kill -9 $(cat \(pidFile)); sleep 3; }; ")
        let first = try Daemon(
            redeyeBinary, ["deploy", "web", "--ref", "bad", "--window", "1", "--yes"] + fleet.sshArguments())
        defer { first.stop() }
        try "\(first.pid)\n".write(toFile: pidFile, atomically: true, encoding: .utf8)
        for _ in 0..<1500 where first.isRunning { usleep(20_000) }
        #expect(fleet.current("web01") == (try fleet.release("bad")), "the dead run switched web01")
        let resumed = try fleet.deploy(["resume", "web", "--yes", "--json"])
        #expect(resumed.status != 0, "\(resumed.stderr)")
        let summary = try Summary(resumed)
        #expect(summary.host("web01")?.state == "rolled_back", "\(resumed.stderr)")
        #expect(fleet.current("web01") == v1)
        #expect(fleet.current("web02") == v1, "the budget of 0 stopped the deploy before web02")
    }

    @Test func interruptedBySIGTERMFinishesTheHostInFlightAndReleasesTheLock() throws {
        let fleet = try Fleet(hosts: 3)
        defer { fleet.remove() }
        try fleet.writePlans(drain: "sleep 1; touch \(fleet.dir)/hosts/{{name}}/drained")
        let v1 = try fleet.release("v1")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: redeyeBinary)
        process.arguments = ["deploy", "web", "--ref", "v1", "--window", "1", "--yes"] + fleet.sshArguments()
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        var waited = 0
        while !FileManager.default.fileExists(atPath: fleet.dir + "/hosts/web01/drained") && waited < 600 {
            usleep(20_000)
            waited += 1
        }
        kill(process.processIdentifier, SIGTERM)  // web01 is in flight
        process.waitUntilExit()
        #expect(process.terminationStatus == 130)
        #expect(fleet.current("web01") == v1, "the host in flight finished")
        #expect(fleet.current("web03") == nil, "no new host started")
        let locks = try runRedeye([
            "deploy", "lock", "status", "--plans", fleet.plans, "--db", "sqlite:\(fleet.dir)/inventory.db",
        ])
        #expect(locks.stdout.contains("no deploy locks held"))
        let resumed = try fleet.deploy(["resume", "web", "--yes"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        for name in fleet.names { #expect(fleet.current(name) == v1) }
    }

    @Test(
        "a window the descriptor limit cannot hold is refused before any host is touched, naming the limit; a soft limit below the hard one is raised"
    )
    func theDescriptorLimitIsCheckedAgainstTheWindow() throws {
        let fleet = try Fleet(hosts: 4)
        defer { fleet.remove() }
        let refused = try runTool(
            "prlimit",
            ["--nofile=40:40", redeyeBinary, "deploy", "web", "--ref", "v1", "--window", "4", "--yes"]
                + fleet.sshArguments())
        #expect(refused.status == 1, "\(refused.stderr)")
        #expect(
            refused.stderr.contains("4 hosts in flight need about 88 open files")
                && refused.stderr.contains("raise `ulimit -n` or lower --window"), "\(refused.stderr)")
        for name in fleet.names { #expect(fleet.current(name) == nil) }
        #expect(!FileManager.default.fileExists(atPath: fleet.dir + "/cache"), "the bundle was fetched")

        // The soft limit is the deployer's to raise up to the hard one.
        let raised = try runTool(
            "prlimit",
            ["--nofile=40:4096", redeyeBinary, "deploy", "web", "--ref", "v1", "--window", "4", "--yes"]
                + fleet.sshArguments())
        #expect(raised.status == 0, "\(raised.stderr)")
        for name in fleet.names { #expect(fleet.current(name) == (try fleet.release("v1"))) }
    }

    @Test(
        "a deploy holds the bundle to the signed plans' pin: another --ref needs --unpinned, and a moved tag is refused before anything is sent"
    )
    func deploysHoldTheBundleToThePin() throws {
        let fleet = try Fleet(hosts: 2)
        defer { fleet.remove() }
        let committed = try runRedeye([
            "plan", "commit", "--plans", fleet.plans, "--repo", fleet.dir + "/plans.git", "-m", "pin v1", "--author",
            "Ops <ops@example.org>",
        ])
        #expect(committed.status == 0, "\(committed.stderr)")
        let past = try fleet.deploy(["web", "--ref", "v2", "--yes"])
        #expect(past.status == 1)
        #expect(past.stderr.contains("deploying v2 goes past them") && past.stderr.contains("--unpinned"))
        for name in fleet.names { #expect(fleet.current(name) == nil) }

        // The tag moves on the bundle server: refused, nothing sent.
        let v2 = try runTool("git", ["--git-dir", fleet.repo, "rev-parse", "v2^{commit}"]).stdout
            .trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(try runTool("git", ["--git-dir", fleet.repo, "tag", "-f", "v1", v2]).status == 0)
        let moved = try fleet.deploy(["web", "--yes"])
        #expect(moved.status == 1)
        #expect(moved.stderr.contains("but the signed plans pin it to"), "\(moved.stderr)")
        for name in fleet.names { #expect(fleet.current(name) == nil) }

        let unpinned = try fleet.deploy(["web", "--ref", "v2", "--unpinned", "--yes"])
        #expect(unpinned.status == 0, "\(unpinned.stderr)")
        for name in fleet.names { #expect(fleet.current(name) == (try fleet.release("v2"))) }
    }
}
