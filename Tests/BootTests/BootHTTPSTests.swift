import Foundation
import TestSupport
import Testing

/// A blank host boots from https:// plans and bundles served by a real git server (`git http-backend` behind
/// TLS, a token required), trusting the CA of its image's trust root (/etc/redeye/ca.pem) and authenticating
/// with its /etc/redeye/git.token; `plan commit` pins the bundle over the same https. A host whose trust root
/// has no such CA trusts nothing from that server.
@Suite struct BootHTTPSTests {
    @Test func aBlankHostBootsFromHTTPSWithItsImagesCA() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let ca = try TestCA(in: dir)
        let served = dir + "/srv"
        try FileManager.default.createDirectory(atPath: served, withIntermediateDirectories: true)
        try "boot-token-1\n".write(toFile: dir + "/git.token", atomically: true, encoding: .utf8)
        let server = try TestHTTPSGit(
            root: served, certificate: try ca.issue("server", for: ["127.0.0.1"]).certificate,
            key: ca.dir + "/server.key", token: "boot-token-1")
        defer { server.stop() }

        let signer = try generateSSHKey(in: dir, name: "ops_key")
        let signers =
            "ops@example.org namespaces=\"git\" \(try String(contentsOfFile: signer + ".pub", encoding: .utf8))"
        let mac = "52:54:00:44:00:01"
        try writeFiles(
            [
                "src/index.html": "over https\n",
                "plans/site.yaml": "bundles: https://127.0.0.1:\(server.port)\n",
                "plans/roles/app.yaml":
                    "bundle: {repo: app.git, ref: v1}\ninstall: {root: /srv/app, user: root, group: root}\n",
                "plans/hosts.yaml": "hosts:\n  - {name: web01, mac: \"\(mac)\", role: app}\n",
            ], under: dir)
        for arguments in [
            ["bundle", "init", dir + "/src", "--owner", "root", "--group", "root"],
            [
                "bundle", "commit", dir + "/src", "--repo", served + "/app.git", "--tag", "v1", "--author",
                "Ops <ops@example.org>",
            ],
            [
                "plan", "commit", "--plans", dir + "/plans", "--repo", served + "/plans.git", "-m", "https",
                "--author", "Ops <ops@example.org>", "--sign-key", signer, "--ca-file", ca.certificate,
                "--token-file", dir + "/git.token", "--no-config",
            ],
        ] {
            let r = try runRedeye(arguments)
            #expect(r.status == 0, "\(arguments[0]) \(arguments[1]): \(r.stderr)")
        }
        #expect(
            server.requests.contains { $0.hasPrefix("POST /app.git/git-upload-pack 200") },
            "plan commit did not pin over https: \(server.requests)")

        func host(_ name: String, trustingCA: Bool, token: String = "boot-token-1\n") throws -> CommandResult {
            var files = [
                "\(name)/sys/class/net/eth0/address": mac + "\n", "\(name)/sys/class/net/eth0/type": "1\n",
                "\(name)/sys/class/net/eth0/addr_assign_type": "0\n", "\(name)/cmdline": "quiet\n",
                "\(name)/root/etc/redeye/allowed_signers": signers,
                "\(name)/root/etc/redeye/git.token": token,
            ]
            if trustingCA {
                files["\(name)/root/etc/redeye/ca.pem"] = try String(contentsOfFile: ca.certificate, encoding: .utf8)
            }
            try writeFiles(files, under: dir)
            return try runRedeye([
                "boot", "--once", "--root", "\(dir)/\(name)/root", "--sys", "\(dir)/\(name)/sys", "--cmdline",
                "\(dir)/\(name)/cmdline", "--no-dns", "--retry-for", "0s", "--plans",
                server.url("plans.git"), "--inventory", "sqlite:\(dir)/inventory.db", "--schema",
                repositoryRoot + "/Schemas",
            ])
        }
        #expect(try runRedeye(["schema", "migrate", "--db", "sqlite:\(dir)/inventory.db"]).status == 0)
        let booted = try host("trusting", trustingCA: true)
        #expect(booted.status == 0, "\(booted.stderr)")
        #expect(
            (try? String(contentsOfFile: dir + "/trusting/root/srv/app/current/index.html", encoding: .utf8))
                == "over https\n")

        let stranger = try host("stranger", trustingCA: false)
        #expect(stranger.status == 1, "\(stranger.stderr)")  // failed at fetch, as for an unknown SSH host key
        #expect(
            stranger.stderr.contains("is not trusted: unable to get local issuer certificate"), "\(stranger.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/stranger/root/srv/app/current"))

        // A git.token in the trust root that is empty is said, not silently dropped for a fetch without it.
        let requestsBefore = server.requests.count
        let tokenless = try host("tokenless", trustingCA: true, token: "\n")
        #expect(tokenless.status == 1, "\(tokenless.stderr)")
        #expect(tokenless.stderr.contains("the trust root's git token: the token file"), "\(tokenless.stderr)")
        #expect(tokenless.stderr.contains("is empty"), "\(tokenless.stderr)")
        #expect(server.requests.count == requestsBefore, "a request went out: \(server.requests.suffix(3))")
        #expect(!FileManager.default.fileExists(atPath: dir + "/tokenless/root/srv/app/current"))
    }
}
