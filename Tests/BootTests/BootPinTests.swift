import Foundation
import TestSupport
import Testing

/// Bundles pinned by the signed plans: whoever controls the bundle server (or the path to it) cannot move a
/// tag or a branch under a host, since the plans carry the commit the ref resolved to when they were signed.
@Suite("boot, pinned bundles")
struct BootPinTests {
    typealias Fleet = BootRecordTests.Fleet

    func git(_ arguments: [String]) throws -> String {
        let r = try runTool("git", arguments)
        guard r.status == 0 else { throw TestSetupError(description: "git \(arguments): \(r.stderr)") }
        return r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    @Test(
        "plan commit pins each role's ref; a moved tag and a force-pushed branch are refused at boot before anything is read, and nothing is installed"
    )
    func movedRefsAreRefused() throws {
        let fleet = try Fleet(count: 2)
        let bundles = fleet.dir + "/bundles/app.git"
        let v1 = try git(["--git-dir", bundles, "rev-parse", "v1^{commit}"])
        let pins = try String(contentsOfFile: fleet.dir + "/plans/pins.yaml", encoding: .utf8)
        #expect(pins.contains("commit: \(v1)"), "\(pins)")
        let shown = try runRedeye(["plan", "show", "host0", "--plans", fleet.dir + "/plans"])
        #expect(shown.stdout.contains("pinned to \(v1.prefix(12))"), "\(shown.stdout)")
        let inventory = "sqlite:" + fleet.dir + "/inventory.db"
        #expect(try runRedeye(["schema", "migrate", "--db", inventory]).status == 0)

        // The pinned commit boots.
        let good = try fleet.boot(0, inventory: inventory)
        #expect(good.status == 0, "\(good.stderr)")
        #expect(good.stderr.contains("pinned to \(v1.prefix(12))"), "\(good.stderr)")

        // The bundle server moves v1 to another, self-consistent bundle version.
        try writeFiles(["src/index.html": "not what was signed\n"], under: fleet.dir)
        #expect(
            try runRedeye(["bundle", "init", fleet.dir + "/src", "--owner", "root", "--group", "root"]).status == 0)
        let other = try runRedeye([
            "bundle", "commit", fleet.dir + "/src", "--repo", bundles, "--tag", "v1-evil", "-m", "evil",
            "--author", "Mallory <m@example.org>",
        ])
        #expect(other.status == 0, "\(other.stderr)")
        _ = try git(["--git-dir", bundles, "tag", "-f", "v1", "v1-evil"])
        let moved = try fleet.boot(1, inventory: inventory)
        #expect(moved.status == 1, "\(moved.stderr)")
        #expect(
            moved.stderr.contains("but the signed plans pin it to \(v1.prefix(12))")
                && moved.stderr.contains("a moved tag"), "\(moved.stderr)")
        #expect(!FileManager.default.fileExists(atPath: fleet.root(1) + "/srv/app/current"), "installed anyway")

        // A role that follows a branch: pinned the same way, and a force-push is refused.
        _ = try git(["--git-dir", bundles, "tag", "-f", "v1", v1])
        _ = try git(["--git-dir", bundles, "branch", "-f", "stable", v1])
        try writeFiles(
            [
                "plans/roles/app.yaml":
                    "bundle: {repo: app.git, ref: stable}\ninstall: {root: /srv/app, user: root, group: root}\n"
            ], under: fleet.dir)
        let recommitted = try runRedeye([
            "plan", "commit", "--plans", fleet.dir + "/plans", "--repo", fleet.plansRepository, "-m", "stable",
            "--author", "Ops <ops@example.org>", "--sign-key", fleet.signer,
        ])
        #expect(recommitted.status == 0 && recommitted.stdout.contains("pinned app: stable = \(v1.prefix(12))"))
        _ = try git(["--git-dir", bundles, "update-ref", "refs/heads/stable", "v1-evil^{commit}"])
        let pushed = try fleet.boot(1, inventory: inventory)
        #expect(pushed.status == 1 && pushed.stderr.contains("has stable at commit"), "\(pushed.stderr)")
        #expect(!FileManager.default.fileExists(atPath: fleet.root(1) + "/srv/app/current"))

        // The diff of the two plans commits shows the pin moving with the ref.
        let diff = try runRedeye(["plan", "diff", "main~1", "main", "--repo", fleet.plansRepository])
        #expect(diff.stdout.contains("role app: bundle ref v1 → stable"), "\(diff.stdout)")
    }

    @Test(
        "plans without pins boot with a warning that says so; a role whose bundle cannot be resolved is not committed")
    func unpinnedPlansWarnAndUnresolvableOnesAreNotCommitted() throws {
        let fleet = try Fleet(count: 1)
        try writeFiles(
            [
                "plans/roles/app.yaml":
                    "bundle: {repo: app.git, ref: v7}\ninstall: {root: /srv/app, user: root, group: root}\n"
            ], under: fleet.dir)
        let refused = try runRedeye([
            "plan", "commit", "--plans", fleet.dir + "/plans", "--repo", fleet.dir + "/other.git", "-m", "x",
            "--author", "Ops <ops@example.org>",
        ])
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("cannot pin role app's bundle"), "\(refused.stderr)")
        #expect(!FileManager.default.fileExists(atPath: fleet.dir + "/other.git"), "a repository was created")

        try writeFiles(
            [
                "plans/roles/app.yaml":
                    "bundle: {repo: app.git, ref: v1}\ninstall: {root: /srv/app, user: root, group: root}\n"
            ], under: fleet.dir)
        try FileManager.default.removeItem(atPath: fleet.dir + "/plans/pins.yaml")
        let unpinned = try runRedeye([
            "plan", "commit", "--no-pin", "--plans", fleet.dir + "/plans", "--repo", fleet.plansRepository, "-m",
            "unpinned", "--author", "Ops <ops@example.org>", "--sign-key", fleet.signer,
        ])
        #expect(unpinned.status == 0, "\(unpinned.stderr)")
        let boot = try fleet.boot(0, inventory: "sqlite:" + fleet.dir + "/none.db", recordRetryFor: "0s")
        #expect(boot.stderr.contains("is not pinned by the signed plans"), "\(boot.stderr)")
        #expect(FileManager.default.fileExists(atPath: fleet.root(0) + "/srv/app/current"))
    }
}
