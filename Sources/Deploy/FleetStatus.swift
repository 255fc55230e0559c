import Database
import FoundationEssentials
import Glibc
import Inventory
import Plan

/// One host as the fleet's records know it: who it is (plans and inventory), what it runs, how its last boot
/// and its last deploy went.
public struct HostStatus: Sendable, Encodable {
    public struct LastBoot: Sendable, Encodable {
        public var state: String
        public var at: String?
        public var release: String?
        public var ref: String?
        public var step: String?
        public var error: String?
    }

    public struct LastDeploy: Sendable, Encodable {
        public var deployment: Int64
        public var ref: String
        public var state: HostOutcome.State
        public var step: HostStep?
        public var at: String?
        public var error: String?
    }

    public var host: String
    public var role: String?
    public var site: String?
    public var status: String?
    public var tags: [String]
    public var address: String?
    /// Whether the signed plans declare the host (a host only in the inventory cannot boot or be deployed).
    public var inPlans: Bool
    /// The release it runs by the newest record (a boot or a deploy), and that release's ref where known.
    public var release: String?
    public var ref: String?
    public var lastBoot: LastBoot?
    public var lastDeploy: LastDeploy?
    /// What the host itself said, when asked (`status --live`).
    public var live: LiveState?

    enum CodingKeys: String, CodingKey {
        case host, role, site, status, tags, address, release, ref, live
        case inPlans = "in_plans"
        case lastBoot = "last_boot"
        case lastDeploy = "last_deploy"
    }

    /// good: it runs a release and nothing recent failed; bad: its last boot or deploy failed; ugly: it never
    /// ran a release, or only the inventory knows it.
    public enum Health: String, Sendable, Encodable {
        case good, bad, ugly
    }

    public var health: Health {
        if let live {
            if live.error != nil { return .ugly }
            if !live.drift.isEmpty { return .bad }
        }
        if lastBoot?.state == "failed" || lastDeploy.map({ [.failed, .rolledBack].contains($0.state) }) == true {
            return .bad
        }
        return (live.map { $0.release == nil } ?? (release == nil)) || !inPlans ? .ugly : .good
    }
}

extension Journal {
    /// Every host of the plans and of the inventory, with its newest boot and deploy, in a fixed number of
    /// queries whatever the fleet's size; sorted by name.
    public func fleetStatus(plans: Plans?) throws -> [HostStatus] {
        let facts = try hostFacts()
        let (deploys, boots, refs) = try locked {
            // The newest record per host: ROW_NUMBER over each host's rows (SQLite 3.25+, PostgreSQL).
            let deploys = try db.query(
                """
                SELECT host, deployment, ref, state, step, error, release_before, release_after, finished_at FROM (
                    SELECT dh.host, dh.deployment, d.ref, dh.state, dh.step, dh.error, dh.release_before,
                        dh.release_after, dh.finished_at,
                        ROW_NUMBER() OVER (PARTITION BY dh.host ORDER BY dh.deployment DESC) AS n
                    FROM deployment_host dh JOIN deployment d ON d.id = dh.deployment
                    WHERE dh.state IN ('succeeded', 'failed', 'rolled_back', 'skipped')
                ) newest WHERE n = 1
                """, [])
            let boots = try db.query(
                """
                SELECT host, state, release, ref, step, error, started_at, finished_at FROM (
                    SELECT host, state, release, ref, step, error, started_at, finished_at,
                        ROW_NUMBER() OVER (PARTITION BY host ORDER BY started_at DESC, id DESC) AS n
                    FROM boot WHERE host IS NOT NULL
                ) newest WHERE n = 1
                """, [])
            // Which ref each release was deployed or booted as, to name releases by their refs.
            let refs = try db.query(
                """
                SELECT dh.release_after AS release, d.ref FROM deployment_host dh JOIN deployment d ON d.id = dh.deployment
                WHERE dh.state = 'succeeded' AND dh.release_after IS NOT NULL
                UNION SELECT release, ref FROM boot WHERE release IS NOT NULL AND ref IS NOT NULL
                """, [])
            return (deploys, boots, refs)
        }
        var refOf: [String: String] = [:]
        for row in refs {
            if let release = row.string("release"), let ref = row.string("ref") { refOf[release] = ref }
        }
        var hosts: [String: HostStatus] = [:]
        func entry(_ name: String) -> HostStatus {
            hosts[name]
                ?? HostStatus(host: name, tags: [], inPlans: false)
        }
        for (name, fact) in facts {
            var status = entry(name)
            status.role = fact.role
            status.site = fact.site
            status.status = fact.status
            status.tags = fact.tags.sorted()
            hosts[name] = status
        }
        for host in plans?.hosts ?? [] {
            var status = entry(host.name)
            status.role = host.role
            status.site = host.site ?? status.site
            status.address = host.address
            status.tags = Set(status.tags).union(host.tags).sorted()
            status.inPlans = true
            hosts[host.name] = status
        }
        var deployRelease: [String: (release: String?, at: String?)] = [:]
        for row in deploys {
            guard let name = row.string("host") else { continue }
            let state = HostOutcome.State(rawValue: row.string("state") ?? "") ?? .failed
            var status = entry(name)
            status.lastDeploy = HostStatus.LastDeploy(
                deployment: row.int("deployment") ?? 0, ref: row.string("ref") ?? "", state: state,
                step: row.string("step").flatMap(HostStep.init(rawValue:)), at: row.string("finished_at"),
                error: row.string("error"))
            hosts[name] = status
            deployRelease[name] = (
                state == .succeeded ? row.string("release_after") : row.string("release_before"),
                row.string("finished_at")
            )
        }
        for row in boots {
            guard let name = row.string("host") else { continue }
            var status = entry(name)
            status.lastBoot = HostStatus.LastBoot(
                state: row.string("state") ?? "", at: row.string("finished_at") ?? row.string("started_at"),
                release: row.string("release"), ref: row.string("ref"), step: row.string("step"),
                error: row.string("error"))
            hosts[name] = status
        }
        for (name, var status) in hosts {
            // The newer of the boot's and the deploy's word on the release (times are ISO 8601 UTC: they sort).
            let fromDeploy = deployRelease[name]
            let fromBoot = status.lastBoot.flatMap { boot in boot.release.map { (release: $0, at: boot.at) } }
            switch (fromDeploy, fromBoot) {
            case (let d?, let b?): status.release = (b.at ?? "") > (d.at ?? "") ? b.release : d.release
            case (let d?, nil): status.release = d.release
            case (nil, let b?): status.release = b.release
            case (nil, nil): status.release = nil
            }
            status.ref = status.release.flatMap { refOf[$0] }
            hosts[name] = status
        }
        return hosts.values.sorted { $0.host < $1.host }
    }
}

extension HostStatus {
    /// What a selection may name of this host.
    public var facts: HostFacts {
        HostFacts(name: host, role: role, site: site, status: status, tags: Set(tags))
    }
}
