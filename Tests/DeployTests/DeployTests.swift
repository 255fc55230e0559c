import Foundation
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Decodes a deploy's --json summary.
struct Summary: Decodable {
    struct Host: Decodable {
        var host: String
        var state: String
        var step: String?
        var error: String?
        var release_before: String?
        var release_after: String?
        var files_sent: Int
        var bytes_sent: Int
    }
    var deployment: Int?
    var state: String
    var stopped_because: String?
    var hosts: [Host]

    init(_ result: CommandResult) throws {
        self = try JSONDecoder().decode(Summary.self, from: Data(result.stdout.utf8))
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

        // One file changed: only it travels, plus a manifest delta and the commands.
        let second = try fleet.deploy(["web", "--ref", "v2", "--yes", "--json"])
        #expect(second.status == 0, "\(second.stderr)")
        let v2 = try fleet.release("v2")
        let upgrade = try Summary(second)
        let changed = "<h1>web v2, a little longer than v1</h1>\n".utf8.count
        for name in fleet.names {
            #expect(fleet.current(name) == v2)
            let h = upgrade.host(name)
            #expect(h?.files_sent == 1)
            #expect(h?.release_before == v1)
            #expect((h?.bytes_sent ?? 0) < changed + 4096, "\(h?.bytes_sent ?? 0) bytes for a \(changed)-byte change")
        }

        // Deploying the current release again does nothing on the hosts.
        let again = try Summary(try fleet.deploy(["web", "--ref", "v2", "--yes", "--json"]))
        #expect(again.hosts.allSatisfy { $0.state == "succeeded" && $0.files_sent == 0 })

        let rollback = try fleet.deploy(["rollback", "web", "--yes", "--json"])
        #expect(rollback.status == 0, "\(rollback.stderr)")
        for name in fleet.names { #expect(fleet.current(name) == v1) }

        let history = try runRedeye([
            "deploy", "history", "web", "--plans", fleet.plans, "--db", "sqlite:\(fleet.dir)/inventory.db",
        ])
        #expect(history.status == 0, "\(history.stderr)")
        #expect(history.stdout.contains("rollback  succeeded"))
        #expect(history.stdout.contains("web v2  rolling  succeeded"))
        #expect(history.stdout.contains("web04: succeeded"))
    }
}
