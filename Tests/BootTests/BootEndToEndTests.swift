import Foundation
import TestSupport
import Testing

/// Blank hosts booting for real: network namespaces, dnsmasq sending option 224, dhclient, plans and bundles
/// fetched over sshd, a SQLite inventory. One lab for the whole story, since building it is the slow part.
@Suite("boot, end to end", .serialized)
struct BootEndToEndTests {
    func report(_ host: BootLab.Host) throws -> [String: Any] {
        let data = try Data(contentsOf: URL(fileURLWithPath: host.status))
        return try JSONSerialization.jsonObject(with: data) as? [String: Any] ?? [:]
    }

    func current(_ host: BootLab.Host) -> String? {
        try? FileManager.default.destinationOfSymbolicLink(atPath: host.root + "/srv/site/current")
    }

    func inventory(_ lab: BootLab, _ arguments: [String]) throws -> String {
        let r = try runRedeye(
            ["inventory"] + arguments + ["--db", lab.inventory, "--schema", repositoryRoot + "/Schemas"])
        #expect(r.status == 0, "\(r.stderr)")
        return r.stdout
    }

    @Test(
        "blank hosts learn, install, register, run; reboot is a no-op; a new plan upgrades; rogue DHCP and unknown MACs are refused or enlisted"
    )
    func fleetBoots() throws {
        let lab = try BootLab()
        defer { lab.shutdown() }
        try lab.commitBundle("v1")
        try lab.commitBundle("v2")
        let macs = ["52:54:00:5e:00:01", "52:54:00:5e:00:02", "52:54:00:5e:00:03"]
        let addresses = ["10.213.0.11", "10.213.0.12", "10.213.0.13"]
        let planned = [("web01", macs[0], addresses[0]), ("web02", macs[1], addresses[1])]
        try lab.commitPlans(ref: "v1", hosts: planned, key: lab.signerKey)
        let migrated = try runRedeye([
            "schema", "migrate", "--schema", repositoryRoot + "/Schemas", "--db", lab.inventory,
        ])
        #expect(migrated.status == 0, "\(migrated.stderr)")
        let reservations = zip(macs, addresses).map { (mac: $0, address: $1) }
        try lab.startDHCP(
            option: lab.url(lab.plansRepository), reservations: reservations, dnsURL: lab.url(lab.plansRepository))

        let hosts = try macs.enumerated().map { try lab.addHost($0.offset + 1, mac: $0.element) }
        for host in hosts { try lab.dhcp(host) }
        let lease = try String(contentsOfFile: hosts[0].lease, encoding: .utf8)
        #expect(lease.contains("redeye-plans \"\(lab.url(lab.plansRepository))\""), "\(lease)")
        let consulRequests = try lab.startConsulRecorder(hosts[0])

        // First boot of two planned hosts at once.
        let results = try [hosts[0], hosts[1]].parallelMap { try lab.boot($0) }
        for (i, r) in results.enumerated() {
            #expect(r.status == 0, "web0\(i + 1): \(r.stderr)")
            #expect(r.stderr.contains("plans at \(lab.url(lab.plansRepository)) (dhcp)"), "\(r.stderr)")
        }
        let v1 = String(
            try runTool("git", ["--git-dir", lab.bundleRepository, "rev-parse", "v1^{commit}"]).stdout.prefix(12))
        for (i, host) in hosts.prefix(2).enumerated() {
            #expect(current(host) == "releases/\(v1)")
            let status = try report(host)
            #expect(status["state"] as? String == "installed")
            #expect(status["host"] as? String == "web0\(i + 1)")
            #expect((status["plans"] as? [String: Any])?["source"] as? String == "dhcp")
            #expect(try lab.fetch("http://\(addresses[i]):8080/index.html") == "site v1\n")
            let fileSD = try String(contentsOfFile: host.root + "/etc/prometheus/file_sd/redeye.json", encoding: .utf8)
            #expect(fileSD.contains("\"\(addresses[i]):8080\"") && fileSD.contains(macs[i]))
            let consul = try String(contentsOfFile: host.root + "/etc/consul.d/redeye-site.json", encoding: .utf8)
            #expect(consul.contains("\"http\" : \"http://\(addresses[i]):8080/health\""))
        }
        let registered = try String(contentsOfFile: consulRequests, encoding: .utf8)
        #expect(registered.contains("PUT /v1/agent/service/register?replace-existing-checks=true"))
        #expect(registered.contains("\"ID\":\"site-52-54-00-5e-00-01\""))
        // web02 has no Consul agent: a warning, not a failure.
        #expect(results[1].stderr.contains("cannot register with the Consul agent"))
        let boots = try inventory(lab, ["list", "boot", "--json"])
        #expect(boots.contains("\"web01\"") && boots.contains("\"web02\"") && boots.contains("\"installed\""))
        let host1 = try inventory(lab, ["get", "host", "web01", "--json"])
        #expect(host1.contains("\"active\""))
        let monitors = try inventory(lab, ["list", "monitor", "--json"])
        #expect(monitors.contains("http://\(addresses[0]):8080/health"))

        // Reboot with nothing changed: nothing installed, the service left running.
        let pidBefore = try String(contentsOfFile: hosts[0].root + "/srv/site/.redeye/run.pid", encoding: .utf8)
        let again = try lab.boot(hosts[0])
        #expect(again.status == 0, "\(again.stderr)")
        #expect(try report(hosts[0])["state"] as? String == "unchanged")
        #expect(try String(contentsOfFile: hosts[0].root + "/srv/site/.redeye/run.pid", encoding: .utf8) == pidBefore)

        // An unknown machine, finding the plans through DNS (no lease carries option 225): enlisted.
        let unknown = try lab.boot(hosts[2], ["--option-code", "225"])
        #expect(unknown.status == 11, "\(unknown.stderr)")
        #expect(unknown.stderr.contains("(dns)"), "\(unknown.stderr)")
        #expect(try report(hosts[2])["state"] as? String == "enlisted")
        #expect(current(hosts[2]) == nil)
        let discovered = try inventory(lab, ["get", "host", "discovered-5254005e0003", "--json"])
        #expect(discovered.contains("\"discovered\""))
        #expect(try inventory(lab, ["list", "boot", "--json"]).contains("\"enlisted\""))

        // A new signed plan commit and a reboot: web01 upgrades to v2.
        try lab.commitPlans(ref: "v2", hosts: planned, key: lab.signerKey)
        let upgrade = try lab.boot(hosts[0])
        #expect(upgrade.status == 0, "\(upgrade.stderr)")
        let v2 = String(
            try runTool("git", ["--git-dir", lab.bundleRepository, "rev-parse", "v2^{commit}"]).stdout.prefix(12))
        #expect(current(hosts[0]) == "releases/\(v2)")
        #expect(try report(hosts[0])["previous_release"] as? String == v1)
        #expect(try lab.fetch("http://\(addresses[0]):8080/index.html") == "site v2\n")

        // A rogue DHCP server pointing at plans signed by a key the image does not trust, then at unsigned
        // plans: nothing is installed, and the agent says why.
        let foreign = lab.dir + "/rogue-foreign.git"
        let unsigned = lab.dir + "/rogue-unsigned.git"
        let rogueHosts = [("web02", macs[1], addresses[1])]
        try lab.commitPlans(ref: "v2", hosts: rogueHosts, repository: foreign, key: lab.foreignKey)
        try lab.commitPlans(ref: "v2", hosts: rogueHosts, repository: unsigned, key: nil)
        for (repository, reason) in [(foreign, "is not in"), (unsigned, "not signed")] {
            try lab.startDHCP(option: lab.url(repository), reservations: reservations)
            try lab.dhcp(hosts[1])
            let rogue = try lab.boot(hosts[1])
            #expect(rogue.status == 6, "\(rogue.stderr)")
            #expect(rogue.stderr.contains("refusing the plans from \(lab.url(repository))"), "\(rogue.stderr)")
            #expect(rogue.stderr.lowercased().contains(reason), "\(rogue.stderr)")
            #expect(current(hosts[1]) == "releases/\(v1)", "web02 must still run v1")
            #expect(try report(hosts[1])["state"] as? String == "failed")
        }
        #expect(try lab.fetch("http://\(addresses[1]):8080/index.html") == "site v1\n")
    }
}

extension Array {
    /// Runs `body` on every element at once (threads), in order of the results.
    func parallelMap<T: Sendable>(_ body: @escaping @Sendable (Element) throws -> T) throws -> [T]
    where Element: Sendable {
        nonisolated(unsafe) var results = [Result<T, any Error>?](repeating: nil, count: count)
        DispatchQueue.concurrentPerform(iterations: count) { i in
            results[i] = Result { try body(self[i]) }
        }
        return try results.map { try $0!.get() }
    }
}
