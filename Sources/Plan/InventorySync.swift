import Database
import Inventory
import Schema
import YAML

/// Loads plans into the inventory: sites, bundles, roles, hosts with their role, interfaces and MAC
/// addresses, and each host's monitors. Updates in place; removes only with `prune`.
public struct InventorySync {
    public let plans: Plans
    public let store: RecordStore

    public init(plans: Plans, store: RecordStore) {
        self.plans = plans
        self.store = store
    }

    public struct Summary: Sendable, Encodable {
        public var written: ImportSummary
        public var pruned: Int
    }

    func row(_ location: SourceLocation?, _ values: [(String, String?)]) -> ImportRow {
        let at = location ?? SourceLocation(file: "plans", line: 0, column: 0)
        return ImportRow(
            values: values.map { ImportValue(column: $0.0, text: $0.1, structured: false, location: at) }, location: at)
    }

    func batch(_ table: String, _ rows: [ImportRow]) -> ImportBatch {
        ImportBatch(table: table, rows: rows, location: SourceLocation(file: "plans", line: 0, column: 0))
    }

    /// A bundle's name: its repository's last path component without `.git`.
    public static func bundleName(_ repository: String) -> String {
        let last = repository.split(separator: "/").last.map(String.init) ?? repository
        return last.hasSuffix(".git") ? String(last.dropLast(4)) : last
    }

    /// Writes the plans' records. With `only`, just those hosts and what they refer to (their site, role and
    /// bundle): what a booting host records about itself.
    public func run(prune: Bool = false, only: Set<String>? = nil) throws -> Summary {
        let hosts = only.map { names in plans.hosts.filter { names.contains($0.name) } } ?? plans.hosts
        let roleNames = Set(hosts.map(\.role))
        let siteNames = Set(hosts.compactMap(\.site))
        var first: [ImportBatch] = []
        first.append(
            batch(
                "site",
                plans.sites.values.filter { only == nil || siteNames.contains($0.name) }.sorted { $0.name < $1.name }
                    .map {
                        row(nil, [("name", $0.name), ("description", $0.description), ("time_zone", $0.timeZone)])
                    }))
        let roles = plans.roles.values.filter { only == nil || roleNames.contains($0.name) }.sorted {
            $0.name < $1.name
        }
        var bundles: [String: String] = [:]
        for role in roles { bundles[InventorySync.bundleName(role.bundleRepository)] = role.bundleRepository }
        first.append(
            batch(
                "bundle",
                bundles.sorted { $0.key < $1.key }.map { row(nil, [("name", $0.key), ("repository", $0.value)]) }))
        first.append(
            batch(
                "role",
                roles.map {
                    row(
                        nil,
                        [
                            ("name", $0.name), ("description", $0.description),
                            ("bundle", InventorySync.bundleName($0.bundleRepository)), ("bundle_ref", $0.bundleRef),
                        ])
                }))
        first.append(
            batch(
                "host",
                hosts.map {
                    row($0.location, [("name", $0.name), ("site", $0.site), ("primary_address", $0.address)])
                }))
        first.append(batch("host_role", hosts.map { row($0.location, [("host", $0.name), ("role", $0.role)]) }))
        // The plans' tags are added to the host's (tags put on with `inventory tag` stay).
        let tagNames = Set(hosts.flatMap(\.tags)).sorted()
        first.append(
            batch(
                "tag", try tagNames.filter { try store.get("tag", key: [$0]) == nil }.map { row(nil, [("name", $0)]) }))
        first.append(
            batch(
                "tagging",
                hosts.flatMap { host in
                    host.tags.map { row(host.location, [("tag", $0), ("table_name", "host"), ("row_key", host.name)]) }
                }))
        // A booting host reads its own records only, not every host's.
        func records(_ table: String) throws -> [Record] {
            guard only != nil else { return try store.list(table) }
            return try hosts.flatMap { try store.list(table, where: [("host", $0.name)]) }
        }
        // A MAC the inventory already has on an interface of the same host keeps that interface (eno1 stays
        // eno1); only a MAC new to the host gets a generated name, nicN.
        let interfaceName = try interfaceNames(hosts, existing: try records("interface"), wholeFleet: only == nil)
        first.append(
            batch(
                "interface",
                hosts.flatMap { host in
                    host.macs.indices.compactMap { i in
                        row(host.location, [("host", host.name), ("name", interfaceName["\(host.name)/\(i)"]!)])
                    }
                }))
        var written = try store.importBatches(first.filter { !$0.rows.isEmpty })

        // MAC addresses and monitors refer to generated ids: look them up now that interfaces exist.
        var interfaceIDs: [String: String] = [:]
        for record in try records("interface") {
            interfaceIDs["\(record["host"])/\(record["name"])"] = record["id"].description
        }
        var existingMonitors: [String: String] = [:]
        for record in try records("monitor") where !record["host"].isNull {
            existingMonitors["\(record["host"])/\(record["name"])"] = record["id"].description
        }
        var macRows: [ImportRow] = []
        var newMonitors: [ImportRow] = []
        var knownMonitors: [ImportRow] = []
        for host in hosts {
            for (i, mac) in host.macs.enumerated() {
                let name = interfaceName["\(host.name)/\(i)"]!
                macRows.append(row(host.location, [("mac", mac), ("interface", interfaceIDs["\(host.name)/\(name)"])]))
            }
            for monitor in plans.plan(for: host).monitors {
                var values: [(String, String?)] = [
                    ("name", monitor.name), ("host", host.name), ("role", host.role), ("kind", monitor.kind.rawValue),
                    ("target", monitor.target), ("expect_status", monitor.expect.map(String.init)),
                    ("body_match", monitor.body),
                    ("interval_s", String(max(1, monitor.interval.milliseconds / 1000))),
                    ("timeout_s", String(max(1, monitor.timeout.milliseconds / 1000))),
                    ("retries", String(monitor.retries)),
                ]
                if let id = existingMonitors["\(host.name)/\(monitor.name)"] {
                    values.insert(("id", id), at: 0)
                    knownMonitors.append(row(host.location, values))
                } else {
                    newMonitors.append(row(host.location, values))
                }
            }
        }
        let second = [batch("mac_address", macRows), batch("monitor", knownMonitors)].filter { !$0.rows.isEmpty }
        if !second.isEmpty { written.tables += try store.importBatches(second).tables }
        if !newMonitors.isEmpty { written.tables += try store.importBatches([batch("monitor", newMonitors)]).tables }

        var pruned = 0
        if prune { pruned = try self.prune() }
        return Summary(written: written, pruned: pruned)
    }

    /// For each host's MAC (by "host/index"), the name of its interface: the one the plans give, else the one
    /// the inventory already has it on (when that interface belongs to the same host), else a new `nicN`.
    func interfaceNames(_ hosts: [Plans.Host], existing interfaces: [Record], wholeFleet: Bool) throws -> [String:
        String]
    {
        var byID: [String: (host: String, name: String)] = [:]
        for record in interfaces {
            if let host = record["host"].text, let name = record["name"].text {
                byID[record["id"].description] = (host, name)
            }
        }
        // One query for the whole fleet; a booting host asks for its own MACs only.
        var boundTo: [String: String] = [:]
        let macs: [Record] =
            wholeFleet
            ? try store.list("mac_address")
            : try hosts.flatMap { try $0.macs.compactMap { try store.get("mac_address", key: [$0]) } }
        for record in macs {
            if let mac = record["mac"].text, let id = record["interface"].text { boundTo[mac] = id }
        }
        var names: [String: String] = [:]
        for host in hosts {
            var taken = Set(host.interfaces.values)
            for (i, mac) in host.macs.enumerated() {
                if let named = host.interfaces[mac] {
                    names["\(host.name)/\(i)"] = named
                } else if let id = boundTo[mac], let interface = byID[id], interface.host == host.name,
                    !taken.contains(interface.name)
                {
                    names["\(host.name)/\(i)"] = interface.name
                    taken.insert(interface.name)
                }
            }
            // The rest get generated names by their place (nicN for the Nth MAC), none one the host already uses.
            for i in host.macs.indices where names["\(host.name)/\(i)"] == nil {
                var n = i
                while taken.contains("nic\(n)") { n += 1 }
                names["\(host.name)/\(i)"] = "nic\(n)"
                taken.insert("nic\(n)")
            }
        }
        return names
    }

    /// Removes what the plans no longer declare: monitors and role assignments of planned hosts, and hosts
    /// that had a role but are gone from the plans, with their interfaces and MAC addresses (pruning is asked
    /// for; history tables keep their rows). Hosts never planned are left alone.
    func prune() throws -> Int {
        let planned = Dictionary(plans.hosts.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        var removed = 0
        for record in try store.list("host_role") {
            let host = record["host"].description
            let role = record["role"].description
            if let h = planned[host] {
                if h.role != role, try store.delete("host_role", key: [host, role], cascade: true) != nil {
                    removed += 1
                }
            } else if try store.delete("host", key: [host], cascade: true) != nil {
                removed += 1
            }
        }
        for record in try store.list("monitor") where !record["host"].isNull {
            let host = record["host"].description
            guard let h = planned[host] else { continue }
            let names = Set(plans.roles[h.role]?.monitors.map(\.name) ?? [])
            if !names.contains(record["name"].description),
                try store.delete("monitor", key: [record["id"].description], cascade: true) != nil
            {
                removed += 1
            }
        }
        return removed
    }
}
