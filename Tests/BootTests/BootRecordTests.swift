import Database
import Foundation
import Glibc
import Synchronization
import TestSupport
import Testing

@testable import Boot

/// Boot records are not lost: an unreachable or overloaded inventory is retried, then the record is kept on the
/// host and delivered by a later pass, once. Hosts are directories (a fake sysfs, a root) booting as real
/// `redeye boot` processes; the plans are real signed commits; the inventory is real SQLite or PostgreSQL.
@Suite("boot, records")
struct BootRecordTests {
    /// `count` hosts of role `app` in one signed plans repository, each with its own root and sysfs.
    final class Fleet: @unchecked Sendable {
        let dir: String
        let signer: String
        let count: Int
        var plansRepository: String { dir + "/plans.git" }

        init(count: Int) throws {
            self.count = count
            dir = try makeTemporaryDirectory()
            signer = try generateSSHKey(in: dir, name: "ops_key")
            let signers =
                "ops@example.org namespaces=\"git\" \(try String(contentsOfFile: signer + ".pub", encoding: .utf8))"
            var hosts = "hosts:\n"
            for i in 0..<count {
                let mac = mac(i)
                try writeFiles(
                    [
                        "sys\(i)/class/net/eth0/address": mac + "\n", "sys\(i)/class/net/eth0/type": "1\n",
                        "sys\(i)/class/net/eth0/addr_assign_type": "0\n", "sys\(i)/class/net/eth0/ifindex": "2\n",
                        "root\(i)/cmdline": "quiet\n", "root\(i)/etc/redeye/allowed_signers": signers,
                    ], under: dir)
                hosts += "  - {name: host\(i), mac: \"\(mac)\", role: app, site: lab1}\n"
            }
            try writeFiles(
                [
                    "plans/site.yaml": "bundles: file://\(dir)/bundles\nsites:\n  lab1: {description: the lab}\n",
                    "plans/roles/app.yaml":
                        "bundle: {repo: app.git, ref: v1}\ninstall: {root: /srv/app, user: root, group: root}\n",
                    "plans/hosts.yaml": hosts, "src/index.html": "v1\n",
                ], under: dir)
            for (arguments, what) in [
                (["bundle", "init", dir + "/src", "--owner", "root", "--group", "root"], "bundle init"),
                (
                    [
                        "bundle", "commit", dir + "/src", "--repo", dir + "/bundles/app.git", "--tag", "v1", "-m", "v1",
                        "--author", "Ops <ops@example.org>",
                    ], "bundle commit"
                ),
                (
                    [
                        "plan", "commit", "--plans", dir + "/plans", "--repo", plansRepository, "-m", "x",
                        "--author", "Ops <ops@example.org>", "--sign-key", signer,
                    ], "plan commit"
                ),
            ] {
                let r = try runRedeye(arguments)
                guard r.status == 0 else { throw TestSetupError(description: "\(what): \(r.stderr)") }
            }
        }
        deinit { try? FileManager.default.removeItem(atPath: dir) }

        func mac(_ i: Int) -> String { String(format: "52:54:00:88:%02x:%02x", i / 256, i % 256) }
        func root(_ i: Int) -> String { dir + "/root\(i)" }

        /// `redeye boot --once` of host `i` into `inventory`.
        func boot(_ i: Int, inventory: String, recordRetryFor: String = "60s", passes: Int? = nil) throws
            -> CommandResult
        {
            try runRedeye(
                ["boot"] + (passes.map { ["--passes", String($0)] } ?? ["--once"]) + [
                    "--root", root(i), "--sys", dir + "/sys\(i)", "--cmdline", root(i) + "/cmdline",
                    "--retry-for", "0s", "--no-dns", "--schema", repositoryRoot + "/Schemas", "--plans",
                    plansRepository,
                    "--inventory", inventory, "--record-retry-for", recordRetryFor,
                ])
        }

        func queue(_ i: Int) -> [String] {
            (try? FileManager.default.contentsOfDirectory(atPath: root(i) + "/var/lib/redeye/unrecorded")) ?? []
        }
    }

    func boots(_ url: String) throws -> [SQLRow] {
        let db = try openDatabase(DatabaseURL(url), create: false)
        return try db.query("SELECT boot_id, host, state FROM boot ORDER BY id")
    }

    @Test(
        "an unreachable inventory: the boot exits 13 and says so, the record is kept on the host, the next pass delivers it, and a record delivered twice is written once"
    )
    func unreachableInventoryQueuesTheRecord() throws {
        let fleet = try Fleet(count: 1)
        let missing = "sqlite:" + fleet.dir + "/no-such-dir/inventory.db"
        // The long-running agent does not stop at a pass that is not recorded: it tries again.
        let first = try fleet.boot(0, inventory: missing, recordRetryFor: "1s", passes: 2)
        #expect(first.status == 13, "\(first.stderr)")
        #expect(first.stderr.contains("NOT recorded in the inventory"), "\(first.stderr)")
        #expect(first.stderr.contains("next pass in"), "one pass only: \(first.stderr)")
        #expect(first.stderr.contains("retrying in"), "no retry before queueing: \(first.stderr)")
        #expect(
            FileManager.default.fileExists(atPath: fleet.root(0) + "/srv/app/current"), "the install did not happen")
        let queued = fleet.queue(0).sorted()
        #expect(queued.count == 2, "\(queued)")
        let status = try runRedeye(["boot", "status", "--root", fleet.root(0)])
        #expect(status.stdout.contains("recorded  NO"), "\(status.stdout)")
        let statusJSON = try runRedeye(["boot", "status", "--root", fleet.root(0), "--json"])
        #expect(statusJSON.stdout.contains("\"recording\" : \"queued\""), "\(statusJSON.stdout)")

        let inventory = "sqlite:" + fleet.dir + "/inventory.db"
        #expect(try runRedeye(["schema", "migrate", "--db", inventory]).status == 0)
        let saved = try Data(
            contentsOf: URL(fileURLWithPath: fleet.root(0) + "/var/lib/redeye/unrecorded/" + queued[0]))
        let second = try fleet.boot(0, inventory: inventory)
        #expect(second.status == 0, "\(second.stderr)")
        #expect(second.stderr.contains("delivered the queued record"), "\(second.stderr)")
        #expect(fleet.queue(0).isEmpty)
        var rows = try boots(inventory)
        #expect(rows.map { $0["state"].description } == ["installed", "unchanged", "unchanged"], "\(rows)")
        #expect(Set(rows.map { $0["boot_id"].description }).count == 3)

        // The commit of a delivery whose answer was lost: the record comes again, and is not written twice.
        try saved.write(to: URL(fileURLWithPath: fleet.root(0) + "/var/lib/redeye/unrecorded/" + queued[0]))
        let third = try fleet.boot(0, inventory: inventory)
        #expect(third.status == 0, "\(third.stderr)")
        #expect(fleet.queue(0).isEmpty)
        rows = try boots(inventory)
        #expect(rows.count == 4, "\(rows)")
        #expect(Set(rows.map { $0["boot_id"].description }).count == 4)
        // Written in the host's name, as the change log shows.
        let history = try runRedeye(["inventory", "history", "host", "host0", "--db", inventory])
        #expect(history.stdout.contains("insert  by redeye boot (\(fleet.mac(0)))"), "\(history.stdout)")
    }

    @Test(
        "a boot storm into PostgreSQL loses nothing: with too few connections the boots retry until all are recorded, and behind PgBouncer a reboot storm records every host once"
    )
    func bootStormLosesNothing() throws {
        guard let base = ProcessInfo.processInfo.environment["REDEYE_TEST_POSTGRES"] else {
            throw TestSetupError(description: "PostgreSQL tests need REDEYE_TEST_POSTGRES: run them with `make test`")
        }
        let hosts = 24
        let fleet = try Fleet(count: hosts)
        // A database of its own that takes only 2 connections at a time.
        let name = "storm_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(12)
        let admin = try PostgresConnection(conninfo: base)
        try admin.execute("CREATE DATABASE \(name) CONNECTION LIMIT 2")
        defer {
            try? admin.execute("DROP DATABASE IF EXISTS \(name) WITH (FORCE)")
            admin.close()
        }
        guard let slash = base.lastIndex(of: "/") else { throw TestSetupError(description: "odd URL \(base)") }
        let direct = base[...slash] + name
        let migrated = try runRedeye(["schema", "migrate", "--db", String(direct)])
        #expect(migrated.status == 0, "\(migrated.stderr)")

        let storm = try allAtOnce(hosts) { try fleet.boot($0, inventory: String(direct)) }
        for (i, r) in storm.enumerated() {
            #expect(r.status == 0, "host\(i): \(r.stderr)")
        }
        #expect(
            storm.contains { $0.stderr.contains("the inventory is unavailable") },
            "no boot met the connection limit: the storm did not test the retry")
        var rows = try boots(String(direct))
        #expect(rows.count == hosts)
        #expect(Set(rows.compactMap { $0["host"].description }).count == hosts)

        // The documented set-up for a storm: PgBouncer in front (session pooling, 2 server connections).
        let bouncer = try PgBouncer(server: base, database: name)
        defer { bouncer.stop() }
        let pooled = "postgres://redeye@127.0.0.1:\(bouncer.port)/\(name)"
        let reboot = try allAtOnce(hosts) { try fleet.boot($0, inventory: pooled) }
        for (i, r) in reboot.enumerated() {
            #expect(r.status == 0, "host\(i): \(r.stderr)")
        }
        rows = try boots(pooled)  // the pool holds the database's 2 connections
        #expect(rows.count == 2 * hosts)
        #expect(Set(rows.map { $0["boot_id"].description }).count == 2 * hosts)
        #expect(rows.filter { $0["state"].description == "unchanged" }.count == hosts)
    }
}

/// Runs `body(0)` … `body(count - 1)` each on a thread of its own, all at once (a storm, not a queue of two).
func allAtOnce<T: Sendable>(_ count: Int, _ body: @escaping @Sendable (Int) throws -> T) throws -> [T] {
    let results = Mutex([Result<T, any Error>?](repeating: nil, count: count))
    let done = DispatchSemaphore(value: 0)
    for i in 0..<count {
        Thread {
            let result = Result { try body(i) }
            results.withLock { $0[i] = result }
            done.signal()
        }.start()
    }
    for _ in 0..<count { done.wait() }
    return try results.withLock { $0 }.map { try $0!.get() }
}

/// A PgBouncer on a free loopback port in front of the test server, pooling sessions onto 2 server connections.
final class PgBouncer: @unchecked Sendable {
    let dir: String
    let port: Int
    let daemon: Daemon

    init(server: String, database: String) throws {
        guard let url = URLComponents(string: server), let host = url.host, let serverPort = url.port,
            let user = url.user
        else { throw TestSetupError(description: "cannot read \(server)") }
        let password = ProcessInfo.processInfo.environment["PGPASSWORD"] ?? ""
        dir = try makeTemporaryDirectory()
        // Its log is written as postgres.
        guard let account = getpwnam("postgres") else { throw TestSetupError(description: "no postgres account") }
        chown(dir, account.pointee.pw_uid, account.pointee.pw_gid)
        port = try freeLoopbackPort()
        try writeFiles(
            [
                "pgbouncer.ini": """
                [databases]
                \(database) = host=\(host) port=\(serverPort) dbname=\(database) user=\(user) password=\(password)
                [pgbouncer]
                listen_addr = 127.0.0.1
                listen_port = \(port)
                unix_socket_dir =
                auth_type = trust
                auth_file = \(dir)/users.txt
                pool_mode = session
                default_pool_size = 2
                max_client_conn = 1000
                logfile = \(dir)/pgbouncer.log

                """,
                "users.txt": "\"\(user)\" \"\"\n",
            ], under: dir)
        for file in ["pgbouncer.ini", "users.txt"] { chmod(dir + "/" + file, 0o644) }
        // PgBouncer refuses to run as root; setpriv execs it as postgres, so the daemon is PgBouncer itself.
        daemon = try Daemon(
            "/usr/bin/setpriv",
            ["--reuid=postgres", "--regid=postgres", "--clear-groups", "/usr/sbin/pgbouncer", dir + "/pgbouncer.ini"])
        for _ in 0..<250 {
            if acceptsConnections(port) { return }
            usleep(20_000)
        }
        let log = (try? String(contentsOfFile: dir + "/pgbouncer.log", encoding: .utf8)) ?? ""
        daemon.stop()
        throw TestSetupError(description: "pgbouncer did not start on 127.0.0.1:\(port): \(log)")
    }

    func stop() {
        daemon.stop()
        try? FileManager.default.removeItem(atPath: dir)
    }
}
