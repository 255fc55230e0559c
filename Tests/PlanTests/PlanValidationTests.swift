import Foundation
import Plan
import TestSupport
import Testing

let siteYAML = """
    bundles: file:///srv/bundles
    sites:
      dc1: {description: Berlin}

    """

let webRole = """
    bundle: {repo: web.git, ref: v1}
    install: {root: /opt/web, user: web, group: web}
    services: [web.service]
    vars: {port: 8080}
    monitors:
      - {name: health, http: "http://{{address}}:{{port}}/health", expect: 200}

    """

let twoHosts = """
    hosts:
      - {name: web01, mac: "52:54:00:00:00:01", role: web, address: 10.0.0.1, site: dc1}
      - {name: web02, mac: "52:54:00:00:00:02", role: web, address: 10.0.0.2, site: dc1}

    """

func source(_ files: [String: String]) -> PlanSource {
    PlanSource(files: files.mapValues { Array($0.utf8) }, label: "p/")
}

func planErrors(_ files: [String: String]) -> [String] {
    do {
        _ = try PlanLoader().load(source(files))
        return []
    } catch {
        return error.issues.map(\.description)
    }
}

@Suite struct PlanValidationTests {
    /// A plans directory is read file by file, never through a symlink to a directory: a link back up the tree
    /// (someone's `ln -s .. roles/up`) would otherwise never end; hidden folders (.git) are not read.
    @Test func aSymlinkedDirectoryInThePlansIsNotWalkedInto() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let plans = dir + "/plans"
        try FileManager.default.copyItem(atPath: repositoryRoot + "/Plans", toPath: plans)
        try FileManager.default.createDirectory(atPath: plans + "/.git", withIntermediateDirectories: true)
        try "x".write(toFile: plans + "/.git/HEAD", atomically: true, encoding: .utf8)
        let plain = try PlanSource.directory(plans)
        #expect(symlink("..", plans + "/roles/up") == 0)
        let linked = try PlanSource.directory(plans)
        #expect(linked.files.keys.sorted() == plain.files.keys.sorted())
        #expect(plain.files.keys.contains("site.yaml") && !plain.files.keys.contains { $0.hasPrefix(".git") })
    }

    @Test func examplePlansAreValid() throws {
        let plans = try PlanLoader().load(directory: repositoryRoot + "/Plans")
        #expect(plans.hosts.count >= 4)
        let web03 = try #require(plans.host("52-54-00-12-35-58"))
        let plan = plans.plan(for: web03)
        #expect(plan.monitors.first?.target == "http://10.0.0.13:8081/health")
        #expect(plan.bundle.repository == "file:///srv/redeye/bundles/web.git")
        #expect(plan.hooks.drain == "/opt/web/current/bin/drain --host web03")
    }

    @Test func rolloutAmountsAndDurations() throws {
        let role = webRole + "rollout: {batch: [1, 5, \"25%\"], max_fail: \"10%\"}\nhooks: {timeout: 1m30s}\n"
        let plans = try PlanLoader().load(
            source(["site.yaml": siteYAML, "roles/web.yaml": role, "hosts.yaml": twoHosts]))
        let plan = plans.plan(for: plans.hosts[0])
        #expect(plan.rollout.batch.steps.map(\.description) == ["1", "5", "25%"])
        #expect(plan.rollout.maxFail.amount.of(20) == 2)
        #expect(plan.hooks.timeout.milliseconds == 90_000)
    }

    /// Each broken plan gets a precise error at its place (and nothing else).
    @Test(arguments: [
        (
            ["hosts.yaml": "hosts:\n  - {name: web01, mac: \"52:54:00:00:00:01\", role: wbe, address: 10.0.0.1}\n"],
            "p/hosts.yaml:2:51: hosts[0].role: unknown role 'wbe' (did you mean 'web'?)"
        ),
        (
            [
                "hosts.yaml":
                    "hosts:\n  - {name: web01, mac: \"52:54:00:00:00:01\", role: web, address: 10.0.0.1}\n  - {name: web02, mac: \"52-54-00-00-00-01\", role: web, address: 10.0.0.2}\n"
            ],
            "p/hosts.yaml:3:24: hosts[1].mac: MAC 52:54:00:00:00:01 is already web01's (at p/hosts.yaml:2:24)"
        ),
        (
            ["hosts.yaml": "hosts:\n  - {name: web01, mac: \"52:54:00:00:00:0g\", role: web, address: 10.0.0.1}\n"],
            "p/hosts.yaml:2:24: hosts[0].mac: '52:54:00:00:00:0g' is not a MAC address (expected six hex octets, e.g. 52:54:00:12:34:56)"
        ),
        (
            [
                "hosts.yaml":
                    "hosts:\n  - {name: web01, mac: \"52:54:00:00:00:01\", role: web, address: 10.0.0.1}\n  - {name: web01, mac: \"52:54:00:00:00:02\", role: web, address: 10.0.0.2}\n"
            ],
            "p/hosts.yaml:3:12: hosts[1].name: host 'web01' is declared twice (first at p/hosts.yaml:2:12)"
        ),
        (
            ["hosts.yaml": "hosts:\n  - {name: web01, mac: \"52:54:00:00:00:01\", role: web, address: 10.0.0.300}\n"],
            "p/hosts.yaml:2:65: hosts[0].address: '10.0.0.300' is not an IP address"
        ),
        (
            ["hosts.yaml": "hosts:\n  - {name: web01, role: web, address: 10.0.0.1, site: dc9}\n"],
            "p/hosts.yaml:2:55: hosts[0].site: unknown site 'dc9' (did you mean 'dc1'?) (sites are declared in site.yaml)"
        ),
        (
            ["hosts.yaml": "hosts:\n  - {name: web01, role: web, address: 10.0.0.1, rack: r1}\n"],
            "p/hosts.yaml:2:49: hosts[0].rack: unknown key 'rack' (did you mean 'mac'?)"
        ),
        (
            ["roles/web.yaml": webRole.replacingOccurrences(of: "{{port}}", with: "{{prot}}")],
            "p/roles/web.yaml:6:26: unknown template variable '{{prot}}' for host web01 (p/hosts.yaml:2:5) (did you mean 'port'?)"
        ),
        (
            ["roles/web.yaml": webRole + "  - {name: nothing, interval: 5s}\n"],
            "p/roles/web.yaml:7:5: monitors[1]: monitor 'nothing' has no target: give one of http, tcp or command"
        ),
        (
            ["roles/web.yaml": webRole + "rollout: {batch: \"120%\"}\n"],
            "p/roles/web.yaml:7:18: rollout.batch: '120%' is over 100%"
        ),
        (
            ["roles/web.yaml": webRole + "rollout: {max_fail: \"101%\"}\n"],
            "p/roles/web.yaml:7:21: rollout.max_fail: '101%' is over 100%"
        ),
        (
            ["roles/web.yaml": webRole.replacingOccurrences(of: "/opt/web,", with: "opt/web,")],
            "p/roles/web.yaml:2:17: install.root: the install root must be an absolute path other than / without '..' (got 'opt/web')"
        ),
        (
            ["roles/web.yaml": webRole + "hooks: {drain: \"stop {{name\"}\n"],
            "p/roles/web.yaml:7:16: hooks.drain: unclosed '{{' in 'stop {{name'"
        ),
        (
            ["roles/web.yaml": "bundle: {repo: web.git, ref: v1\n"],
            "p/roles/web.yaml:2:1: did not find expected ',' or '}' (while parsing a flow mapping at line 1, column 9)"
        ),
        (
            ["site.yaml": "bundels: file:///srv\n"],
            "p/site.yaml:1:1: bundels: unknown key 'bundels' (did you mean 'bundles'?)"
        ),
        (
            [
                "roles/web.yaml": webRole.replacingOccurrences(of: "interval", with: "x")
                    + "  - {name: t, tcp: \"{{address}}:80\", interval: soon}\n"
            ],
            "p/roles/web.yaml:7:48: monitors[1].interval: 'soon' is not a duration (e.g. 500ms, 10s, 2m, 1h)"
        ),
    ])
    func brokenPlanGetsAPreciseError(_ override: [String: String], _ expected: String) {
        var files = ["site.yaml": siteYAML, "roles/web.yaml": webRole, "hosts.yaml": twoHosts]
        for (k, v) in override { files[k] = v }
        #expect(planErrors(files) == [expected])
    }

    /// A unit name systemctl would read as an option is refused; a host's variable goes into a hook, a run
    /// command and a command check as one shell word, never as shell text.
    @Test func unitNamesAndShellValues() throws {
        let dashed = webRole.replacingOccurrences(of: "services: [web.service]", with: "services: [\"--now.service\"]")
        #expect(
            planErrors(["site.yaml": siteYAML, "roles/web.yaml": dashed, "hosts.yaml": twoHosts]).first?.contains(
                "'--now.service' is not a systemd unit name") == true)
        let role = """
            bundle: {repo: web.git, ref: v1}
            install: {root: /opt/web, user: web, group: web}
            run: "exec server --motd {{motd}} --port {{port}}"
            vars: {port: 8080}
            hooks: {drain: "echo {{motd}} > /run/drain"}
            monitors:
              - {name: m, command: "check {{motd}}"}

            """
        let hosts = """
            hosts:
              - {name: web01, mac: "52:54:00:00:00:01", role: web, address: 10.0.0.1, vars: {motd: "hi; rm -rf / #it's"}}

            """
        let plans = try PlanLoader().load(source(["site.yaml": siteYAML, "roles/web.yaml": role, "hosts.yaml": hosts]))
        let plan = plans.plan(for: plans.hosts[0])
        let quoted = "'hi; rm -rf / #it'\\''s'"
        #expect(plan.run == "exec server --motd \(quoted) --port 8080")
        #expect(plan.hooks.drain == "echo \(quoted) > /run/drain")
        #expect(plan.monitors.first?.target == "check \(quoted)")
        let shell = try runTool("sh", ["-c", "printf %s \(quoted)"])
        #expect(shell.stdout == "hi; rm -rf / #it's")
    }

    @Test func allErrorsAtOnce() {
        let hosts =
            "hosts:\n  - {name: a, role: nope}\n  - {name: b, role: web, mac: zz}\n  - {name: c, role: web, site: nowhere}\n"
        let errors = planErrors([
            "site.yaml": siteYAML, "roles/web.yaml": webRole.replacingOccurrences(of: "{{address}}", with: "x"),
            "hosts.yaml": hosts,
        ])
        #expect(errors.count == 3, "\(errors)")
    }

    @Test func aHostWithoutAnAddressCannotFillAddressTemplates() {
        let errors = planErrors([
            "site.yaml": siteYAML, "roles/web.yaml": webRole, "hosts.yaml": "hosts:\n  - {name: web01, role: web}\n",
        ])
        #expect(
            errors == [
                "p/roles/web.yaml:6:26: {{address}} needs the host's address, and host web01 (p/hosts.yaml:2:5) has none"
            ])
    }

    @Test func strayPlanFilesAreReported() {
        let errors = planErrors(["site.yaml": siteYAML, "roles/web.yaml": webRole, "host.yaml": twoHosts])
        #expect(errors.first?.contains("p/host.yaml:1:1: unexpected plan file") == true)
    }

    @Test func hostsMayBeSplitOverFiles() throws {
        let plans = try PlanLoader().load(
            source([
                "site.yaml": siteYAML, "roles/web.yaml": webRole,
                "hosts/a.yaml": "hosts:\n  - {name: web01, role: web, address: 10.0.0.1}\n",
                "hosts/b.yaml": "hosts:\n  - {name: web02, role: web, address: 10.0.0.2}\n",
            ]))
        #expect(plans.hosts.map(\.name) == ["web01", "web02"])
    }
}
