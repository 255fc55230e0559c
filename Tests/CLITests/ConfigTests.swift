import Foundation
import Glibc
import TestSupport
import Testing

/// One settings file (`redeye.yaml`), `REDEYE_*` variables and flags, in that order of strength.
@Suite struct ConfigTests {
    struct Shown: Decodable {
        struct Entry: Decodable {
            var value: String?
            var values: [String]?
            var number: Int?
            var source: String
        }
        var file: String?
        var settings: [String: Entry]
    }

    func show(_ arguments: [String] = [], in directory: String, environment: [String: String] = [:]) throws -> Shown {
        let result = try runRedeye(["config", "show", "--json"] + arguments, in: directory, environment: environment)
        #expect(result.status == 0, "\(result.stderr)")
        return try JSONDecoder().decode(Shown.self, from: Data(result.stdout.utf8))
    }

    @Test func theNearestFileIsFoundAndFlagsBeatVariablesBeatTheFile() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try writeFiles(
            [
                "redeye.yaml": """
                plans:
                  dir: fleet/Plans
                inventory:
                  url: sqlite:state/inventory.db
                ssh:
                  user: deploy
                  port: 2222
                  known_hosts: [known_hosts, ~/other_known_hosts]
                """,
                "deep/er/.keep": "",
            ], under: dir)
        let shown = try show(in: dir + "/deep/er")
        #expect(shown.file == dir + "/redeye.yaml")
        // Relative paths are the file's, not the working directory's.
        #expect(shown.settings["plans.dir"]?.value == dir + "/fleet/Plans")
        #expect(shown.settings["plans.dir"]?.source == dir + "/redeye.yaml:2:8")
        #expect(shown.settings["inventory.url"]?.value == "sqlite:" + dir + "/state/inventory.db")
        #expect(
            shown.settings["ssh.known_hosts"]?.values == [
                dir + "/known_hosts", String(cString: getpwuid(geteuid())!.pointee.pw_dir) + "/other_known_hosts",
            ])
        #expect(shown.settings["ssh.port"]?.number == 2222)
        #expect(shown.settings["deploy.remote_redeye"]?.source == "default")
        #expect(shown.settings["plans.signing"]?.value == "optional")

        let over = try show(
            ["--ssh-user", "ops"], in: dir + "/deep",
            environment: ["REDEYE_SSH_USER": "env", "REDEYE_SSH_PORT": "2200"])
        #expect(over.settings["ssh.user"]?.value == "ops")
        #expect(over.settings["ssh.user"]?.source == "flag --ssh-user")
        #expect(over.settings["ssh.port"]?.number == 2200)
        #expect(over.settings["ssh.port"]?.source == "$REDEYE_SSH_PORT")

        let none = try show(["--no-config"], in: dir)
        #expect(none.file == nil)
        #expect(none.settings["ssh.user"]?.value == "root")

        // `~` is the home of the account the command runs as, not $HOME (which `sudo` leaves as the caller's).
        let home = String(cString: getpwuid(geteuid())!.pointee.pw_dir)
        let sudoed = try show(in: dir + "/deep", environment: ["HOME": dir + "/someone-else"])
        #expect(sudoed.settings["ssh.known_hosts"]?.values?.last == home + "/other_known_hosts", "\(sudoed.settings)")
        #expect(sudoed.settings["deploy.cache"]?.value == home + "/.cache/redeye/bundles")
    }

    @Test func everyProblemIsNamedAtItsPlaceAndNothingRuns() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try writeFiles(
            [
                "redeye.yaml": """
                plans:
                  dri: Plans
                ssh:
                  port: 99999
                  user: [a, b]
                deploi: {}
                """
            ], under: dir)
        let result = try runRedeye(["inventory", "list", "host", "--db", "sqlite:inv.db"], in: dir)
        #expect(result.status == 1)
        let file = dir + "/redeye.yaml"
        #expect(result.stderr.contains("\(file):2:3: unknown setting 'plans.dri' (did you mean 'dir'?)"))
        #expect(result.stderr.contains("\(file):4:9: 'ssh.port': 99999 is outside 1–65535"))
        #expect(result.stderr.contains("\(file):5:9: 'ssh.user' must be a scalar, not a sequence"))
        #expect(result.stderr.contains("\(file):6:1: unknown section 'deploi' (did you mean 'deploy'?)"))
        #expect(!FileManager.default.fileExists(atPath: dir + "/inv.db"))

        let variable = try runRedeye(
            ["config", "show", "--no-config", "--connect-timeout", "0"], in: dir,
            environment: ["REDEYE_SSH_PORT": "abc"])
        #expect(variable.status == 1)
        #expect(variable.stderr.contains("$REDEYE_SSH_PORT: 'abc' is not a whole number"))
        #expect(variable.stderr.contains("--connect-timeout: 0 is outside 1–3600"))

        let missing = try runRedeye(["config", "show", "--config", "nowhere.yaml"], in: dir)
        #expect(missing.status == 1)
        #expect(missing.stderr.contains(dir + "/nowhere.yaml: cannot open"))
    }

    /// A settings file someone else may write could point deploys at their own known_hosts: refused, as git
    /// refuses a repository another user owns.
    @Test func aFileOthersMayWriteIsNotTrusted() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try writeFiles(
            ["redeye.yaml": "ssh:\n  known_hosts: [/tmp/theirs]\n", "real.yaml": "ssh:\n  user: x\n"], under: dir)
        let file = dir + "/redeye.yaml"

        chmod(file, 0o664)
        var result = try runRedeye(["config", "show"], in: dir)
        #expect(result.status == 1)
        #expect(result.stderr.contains("\(file): may be written by others (mode 664): not trusted"))

        chmod(file, 0o644)
        #expect(chown(file, 65534, 65534) == 0)
        result = try runRedeye(["deploy", "history", "--db", "sqlite:inv.db"], in: dir)
        #expect(result.status == 1)
        #expect(result.stderr.contains("\(file): belongs to uid 65534, not to you (uid 0) or root: not trusted"))

        try FileManager.default.removeItem(atPath: file)
        try FileManager.default.createSymbolicLink(atPath: file, withDestinationPath: dir + "/real.yaml")
        result = try runRedeye(["config", "show"], in: dir)
        #expect(result.status == 1)
        #expect(result.stderr.contains("is a symbolic link"))

        #expect(try runRedeye(["config", "show", "--no-config"], in: dir).status == 0)

        // A trusted file in a directory someone else owns (they could have renamed it there), or with a second
        // name: refused too.
        try FileManager.default.removeItem(atPath: file)
        try writeFiles(["theirs/redeye.yaml": "ssh:\n  user: x\n"], under: dir)
        #expect(chown(dir + "/theirs", 65534, 65534) == 0)
        result = try runRedeye(["config", "show"], in: dir + "/theirs")
        #expect(result.status == 1)
        #expect(
            result.stderr.contains("lies in \(dir)/theirs, which belongs to uid 65534: not trusted"), "\(result.stderr)"
        )
        #expect(link(dir + "/real.yaml", dir + "/redeye.yaml") == 0)
        result = try runRedeye(["config", "show"], in: dir)
        #expect(result.status == 1)
        #expect(result.stderr.contains("has 2 hard links"), "\(result.stderr)")
    }

    /// Commands take their settings from the file: an inventory written through one, read through another.
    @Test func commandsReadTheirSettingsFromTheFile() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try writeFiles(
            ["ops/redeye.yaml": "inventory:\n  url: sqlite:inventory.db\n", "ops/work/.keep": ""], under: dir)
        let work = dir + "/ops/work"
        #expect(try runRedeye(["schema", "migrate"], in: work).status == 0)
        #expect(FileManager.default.fileExists(atPath: dir + "/ops/inventory.db"))
        #expect(try runRedeye(["inventory", "put", "site", "name=fra1"], in: work).status == 0)
        let listed = try runRedeye(["inventory", "list", "site"], in: dir + "/ops")
        #expect(listed.stdout.contains("fra1"))
        let history = try runRedeye(["deploy", "history", "--json"], in: work)
        #expect(history.status == 0, "\(history.stderr)")
    }

    /// With allowed signers configured, plans must be signed; signing an unsigned tip of the same tree makes a
    /// new, signed commit instead of "nothing to commit".
    @Test func signingIsRequiredWhereSignersAreTrusted() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let key = try generateSSHKey(in: dir, name: "ops")
        try writeFiles(
            [
                "allowed_signers": "ops@example.org \(try String(contentsOfFile: key + ".pub", encoding: .utf8))",
                "Plans/site.yaml": "bundles: file://\(dir)/bundles\nsites:\n  fra1: {}\n",
                "Plans/hosts.yaml": "hosts: []\n",
                "redeye.yaml": "plans:\n  repo: plans.git\n  allowed_signers: allowed_signers\n",
            ], under: dir)
        let author = ["--author", "Ops <ops@example.org>", "--no-pin"]
        var result = try runRedeye(["plan", "commit", "-m", "one"] + author, in: dir)
        #expect(result.status == 1)
        #expect(
            result.stderr.contains(
                "an allowed-signers file is configured, so plans must be signed: give --sign-key or set plans.sign_key; nothing was committed"
            ))
        #expect(!FileManager.default.fileExists(atPath: dir + "/plans.git"))

        // Made optional, an unsigned commit lands; it does not verify.
        result = try runRedeye(
            ["plan", "commit", "-m", "one"] + author, in: dir, environment: ["REDEYE_SIGNING": "optional"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(try runRedeye(["plan", "verify"], in: dir).status == 6)

        // Signing the same tree commits it again, signed.
        result = try runRedeye(["plan", "commit", "-m", "signed", "--sign-key", key, "--json"] + author, in: dir)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("\"committed\": true"))
        result = try runRedeye(["plan", "verify"], in: dir)
        #expect(result.status == 0, "\(result.stderr)")
        // And signing again when the tip is signed and unchanged commits nothing.
        result = try runRedeye(["plan", "commit", "-m", "again", "--sign-key", key] + author, in: dir)
        #expect(result.stdout.contains("nothing to commit"))
    }
}
