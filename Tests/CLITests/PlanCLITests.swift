import Foundation
import TestSupport
import Testing

@Suite struct PlanCLITests {
    @Test(arguments: [
        ["plan"], ["plan", "validate"], ["plan", "show"], ["plan", "commit"], ["plan", "verify"], ["plan", "diff"],
    ])
    func planCommandsHaveHelpWithExamples(_ command: [String]) throws {
        let result = try runRedeye(command + ["--help"])
        #expect(result.status == 0)
        #expect(result.stdout.contains("EXAMPLES:"))
    }

    @Test func validateShowCommitVerifyDiff() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let plans = repositoryRoot + "/Plans"
        let valid = try runRedeye(["plan", "validate", "--plans", plans, "--json"])
        #expect(valid.status == 0)
        #expect(valid.stdout.contains("\"valid\" : true"))

        let show = try runRedeye(["plan", "show", "52:54:00:12:34:60", "--plans", plans, "--json"])
        let decoded = try JSONSerialization.jsonObject(with: Data(show.stdout.utf8)) as? [String: Any]
        #expect(decoded?["name"] as? String == "db01")
        #expect(try runRedeye(["plan", "show", "web99", "--plans", plans]).status == 5)

        let key = try generateSSHKey(in: dir, name: "ops")
        let allowed = dir + "/allowed_signers"
        try "ops@example.org \(try String(contentsOfFile: key + ".pub", encoding: .utf8))".write(
            toFile: allowed, atomically: true, encoding: .utf8)
        let repo = dir + "/plans.git"
        // The example plans' bundles are not on this machine: committed without pins.
        let author = ["--author", "Ops <ops@example.org>", "--no-pin"]
        let unsigned = try runRedeye(["plan", "commit", "--plans", plans, "--repo", repo, "-m", "unsigned"] + author)
        #expect(unsigned.status == 0, "\(unsigned.stderr)")
        let refused = try runRedeye(["plan", "verify", "--repo", repo, "--ref", "main", "--allowed-signers", allowed])
        #expect(refused.status == 6)
        #expect(refused.stderr.contains("is not signed"))

        try FileManager.default.copyItem(atPath: plans, toPath: dir + "/plans")
        try writeFiles(
            [
                "plans/roles/db.yaml": try String(contentsOfFile: plans + "/roles/db.yaml", encoding: .utf8)
                    .replacingOccurrences(of: "ref: v88", with: "ref: v89")
            ], under: dir)
        let signed = try runRedeye(
            ["plan", "commit", "--plans", dir + "/plans", "--repo", repo, "-m", "db to v89", "--sign-key", key] + author
        )
        #expect(signed.status == 0, "\(signed.stderr)")
        #expect(signed.stdout.contains("signed by ssh-ed25519 SHA256:"))
        let verified = try runRedeye(["plan", "verify", "--repo", repo, "--ref", "main", "--allowed-signers", allowed])
        #expect(verified.status == 0, "\(verified.stderr)")
        #expect(verified.stdout.hasPrefix("good signature on "))

        let diff = try runRedeye(["plan", "diff", "main~1", "main", "--repo", repo])
        #expect(diff.stdout.contains("role db: bundle ref v88 → v89"))
        #expect(diff.stdout.contains("host db01: changed (bundle v88 → v89)"))

        try writeFiles(["plans/hosts.yaml": "hosts:\n  - {name: x, role: nope}\n"], under: dir)
        let invalid = try runRedeye(
            ["plan", "commit", "--plans", dir + "/plans", "--repo", repo, "-m", "bad"] + author)
        #expect(invalid.status == 1)
        #expect(invalid.stderr.contains("plans/hosts.yaml:2:21: hosts[0].role: unknown role 'nope'"))
    }

    @Test func rsaSigningKeysAreRefusedWithAdvice() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let key = try generateSSHKey(in: dir, name: "old", type: "rsa")
        let result = try runRedeye([
            "plan", "commit", "--plans", repositoryRoot + "/Plans", "--repo", dir + "/p.git", "-m", "x", "--sign-key",
            key,
            "--author", "Ops <ops@example.org>",
        ])
        #expect(result.status == 1)
        #expect(result.stderr.contains("RSA keys are not supported: use an ed25519"))
        #expect(!FileManager.default.fileExists(atPath: dir + "/p.git"), "nothing is created when the key is refused")
    }

    @Test func importPlansIntoTheInventory() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let db = ["--schema", repositoryRoot + "/Schemas", "--db", "sqlite:inv.db"]
        #expect(try runRedeye(["schema", "migrate"] + db, in: dir).status == 0)
        let result = try runRedeye(
            ["inventory", "import", "--from-plans", "--plans", repositoryRoot + "/Plans"] + db, in: dir)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("host: 4 inserted, 0 updated"))
        let mac = try runRedeye(["inventory", "get", "mac_address", "52:54:00:12:34:56", "--json"] + db, in: dir)
        #expect(mac.status == 0)
    }

    /// The inventory's own interface names stand: a MAC already on web03's eno1 stays there, no nic0 beside it.
    @Test func importFromThePlansKeepsExistingInterfaceNames() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let db = ["--db", "sqlite:inv.db"]
        try writeFiles(
            [
                "fleet.yaml": """
                host:
                  - {name: web03}
                interface:
                  - {host: web03, name: eno1}
                mac_address:
                  - {mac: "52:54:00:12:34:58", interface: 1}
                """
            ], under: dir)
        #expect(try runRedeye(["schema", "migrate"] + db, in: dir).status == 0)
        let seeded = try runRedeye(["inventory", "import", "fleet.yaml"] + db, in: dir)
        #expect(seeded.status == 0, "\(seeded.stderr)")
        let result = try runRedeye(
            ["inventory", "import", "--from-plans", "--plans", repositoryRoot + "/Plans"] + db, in: dir)
        #expect(result.status == 0, "\(result.stderr)")
        let listed = try runRedeye(
            ["inventory", "list", "interface", "--where", "host=web03", "--columns", "name", "--json"] + db, in: dir)
        let names = (try JSONSerialization.jsonObject(with: Data(listed.stdout.utf8)) as? [[String: Any]] ?? []).map {
            $0["name"] as? String
        }
        // The first MAC keeps eno1; the second, new to the inventory, gets a generated name.
        #expect(names.sorted { ($0 ?? "") < ($1 ?? "") } == ["eno1", "nic1"], "\(listed.stdout)")
        let mac = try runRedeye(["inventory", "get", "mac_address", "52:54:00:12:34:58", "--json"] + db, in: dir)
        #expect(mac.stdout.contains("\"interface\": 1,"), "\(mac.stdout)")
        // A second import changes nothing.
        let again = try runRedeye(
            ["inventory", "import", "--from-plans", "--plans", repositoryRoot + "/Plans", "--json"] + db, in: dir)
        #expect(again.status == 0)
        let listedAgain = try runRedeye(["inventory", "list", "interface", "--where", "host=web03"] + db, in: dir)
        #expect(!listedAgain.stdout.contains("nic0"), "\(listedAgain.stdout)")
    }

    /// The inventory's hosts go into the plans tree as hosts/inventory.yaml, for review and a signed commit; a
    /// hostile value stays one literal value (and is refused by the plans' checks, writing nothing).
    @Test func planSyncWritesInventoryHostsIntoThePlans() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        _ = try runTool("cp", ["-r", repositoryRoot + "/Plans", dir + "/Plans"])
        let db = ["--db", "sqlite:inv.db", "--plans", "Plans"]
        #expect(try runRedeye(["schema", "migrate"] + db, in: dir).status == 0)
        #expect(try runRedeye(["inventory", "import", "--from-plans"] + db, in: dir).status == 0)
        let hostile = #""evil\"}\n  - {name: root01""#
        try writeFiles(
            [
                "more.yaml": """
                host:
                  - {name: api01, site: dc1, primary_address: 10.0.0.41}
                  - {name: lonely}
                  - {name: \(hostile), site: dc1}
                host_role:
                  - {host: api01, role: web}
                  - {host: \(hostile), role: web}
                interface:
                  - {host: api01, name: eno1}
                  - {host: \(hostile), name: eth0}
                """
            ], under: dir)
        let imported = try runRedeye(["inventory", "import", "more.yaml"] + db, in: dir)
        #expect(imported.status == 0, "\(imported.stderr)")
        let ids = try runRedeye(
            ["inventory", "list", "interface", "--where", "name~e*", "--columns", "id,host", "--json"] + db, in: dir)
        let rows = try JSONSerialization.jsonObject(with: Data(ids.stdout.utf8)) as? [[String: Any]] ?? []
        let api = rows.first { $0["host"] as? String == "api01" }?["id"] as? Int ?? 0
        let evil = rows.first { ($0["host"] as? String)?.hasPrefix("evil") == true }?["id"] as? Int ?? 0
        #expect(
            try runRedeye(
                ["inventory", "put", "mac_address", "mac=52:54:00:aa:00:41", "interface=\(api)"] + db, in: dir
            ).status == 0)
        #expect(
            try runRedeye(
                ["inventory", "put", "mac_address", "mac=52:54:00:aa:00:66", "interface=\(evil)"] + db, in: dir
            ).status == 0)

        let refused = try runRedeye(["plan", "sync", "--from-inventory"] + db, in: dir)
        #expect(refused.status == 1)
        #expect(
            refused.stderr.contains(
                "Plans/hosts/inventory.yaml:5:12: hosts[1].name: 'evil\"}\n  - {name: root01' is not a valid host name"),
            "\(refused.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/Plans/hosts/inventory.yaml"), "nothing written")

        #expect(
            try runRedeye(["inventory", "delete", "host", "evil\"}\n  - {name: root01", "--cascade"] + db, in: dir)
                .status == 0)
        #expect(try runRedeye(["inventory", "tag", "host", "api01", "canary", "has:colon"] + db, in: dir).status == 0)
        let synced = try runRedeye(["plan", "sync", "--from-inventory"] + db, in: dir)
        #expect(synced.status == 0, "\(synced.stderr)")
        #expect(synced.stdout.contains("wrote Plans/hosts/inventory.yaml: 1 host"))
        #expect(synced.stdout.contains("left out lonely: no role in the inventory"))
        #expect(synced.stdout.contains("left out web01: declared in another plan file"))
        let written = try String(contentsOfFile: dir + "/Plans/hosts/inventory.yaml", encoding: .utf8)
        #expect(
            written.contains(
                #"  - {name: "api01", interfaces: {"eno1": "52:54:00:aa:00:41"}, role: "web", address: "10.0.0.41", site: "dc1", tags: ["canary"]}"#
            ), "\(written)")
        let shown = try runRedeye(["plan", "show", "52:54:00:aa:00:41", "--json"] + db, in: dir)
        #expect(shown.status == 0 && shown.stdout.contains("\"api01\""), "\(shown.stderr)")
        // Syncing again gives the same file.
        #expect(try runRedeye(["plan", "sync", "--from-inventory"] + db, in: dir).status == 0)
        #expect(try String(contentsOfFile: dir + "/Plans/hosts/inventory.yaml", encoding: .utf8) == written)

        // Back the other way, into a new inventory: the interface keeps its name and the host its tag.
        let fresh = ["--db", "sqlite:fresh.db", "--plans", "Plans"]
        #expect(try runRedeye(["schema", "migrate"] + fresh, in: dir).status == 0)
        let back = try runRedeye(["inventory", "import", "--from-plans"] + fresh, in: dir)
        #expect(back.status == 0, "\(back.stderr)")
        let interfaces = try runRedeye(["inventory", "list", "interface", "--where", "host=api01"] + fresh, in: dir)
        #expect(interfaces.stdout.contains("eno1") && !interfaces.stdout.contains("nic0"), "\(interfaces.stdout)")
        let tags = try runRedeye(["inventory", "tag", "host", "api01"] + fresh, in: dir)
        #expect(tags.stdout.contains("host api01: canary"), "\(tags.stdout)")
    }

    /// Tags and interface names in the plans are checked like every other field: one error each, with where.
    @Test func planTagsAndInterfaceNamesAreChecked() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        _ = try runTool("cp", ["-r", repositoryRoot + "/Plans", dir + "/Plans"])
        try writeFiles(
            [
                "Plans/hosts/extra.yaml": """
                hosts:
                  - {name: a01, role: web, interfaces: {"eth0/1": "52:54:00:bb:00:01"}, tags: [ok, "a:b"]}
                  - {name: a02, role: web, mac: "52:54:00:bb:00:02", interfaces: {eth0: "52:54:00:bb:00:03"}}
                """
            ], under: dir)
        let checked = try runRedeye(["plan", "validate", "--plans", "Plans"], in: dir)
        #expect(checked.status == 1)
        #expect(
            checked.stderr.contains(
                "Plans/hosts/extra.yaml:2:51: hosts[0].interfaces: 'eth0/1' is not an interface name"),
            "\(checked.stderr)")
        #expect(checked.stderr.contains("Plans/hosts/extra.yaml:2:84: hosts[0].tags: 'a:b' is not a tag"))
        #expect(checked.stderr.contains("hosts[1]: give one of `mac`, `macs` and `interfaces`"))
    }
}
