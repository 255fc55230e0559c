import Database
import FoundationEssentials
import Glibc
import Inventory
import YAML

/// The other direction of the one host list: hosts kept in the inventory, written into the plans tree as
/// `hosts/inventory.yaml` for review and a signed commit (a booting host trusts only signed plans, never
/// the inventory itself).
public struct InventoryExport: Sendable {
    public static let fileName = "hosts/inventory.yaml"

    /// A host written, or one left out and why.
    public struct Host: Sendable, Encodable {
        public var name: String
        public var written: Bool
        public var reason: String?
    }

    public var hosts: [Host]
    /// The file's text: every value a double-quoted YAML scalar (`jsonQuote`: JSON's escapes are YAML's), so no
    /// inventory value can add keys or hosts of its own.
    public var text: String

    /// Reads every host with a role and at least one MAC address; hosts that other plan files declare are
    /// left to those files.
    public init(db: any SQLConnection, plans: Plans?) throws {
        let facts = try HostFactsReader.read(db)
        var addresses: [String: String] = [:]
        for row in try db.query("SELECT name, primary_address FROM host", []) {
            if let name = row.string("name"), let address = row.string("primary_address") {
                addresses[name] = address.hasSuffix("/32") ? String(address.dropLast(3)) : address
            }
        }
        // Each host's MACs with the interface they are on (an interface may hold several MACs).
        var macs: [String: [(interface: String, mac: String)]] = [:]
        for row in try db.query(
            """
            SELECT i.host, i.name, m.mac FROM mac_address m JOIN interface i ON i.id = m.interface
            ORDER BY i.host, i.name, m.mac
            """, [])
        {
            if let host = row.string("host"), let name = row.string("name"), let mac = row.string("mac") {
                macs[host, default: []].append((name, mac))
            }
        }
        let declaredElsewhere = Set(
            (plans?.hosts ?? []).filter { host in
                guard let file = host.location?.file else { return true }
                return !(file == Self.fileName || file.hasSuffix("/" + Self.fileName))
            }.map(\.name))
        var lines = [
            "# Written by `redeye plan sync --from-inventory` from the inventory's hosts; review it, then sign it",
            "# with `redeye plan commit`. Hosts declared in other plan files are left to them.",
            "hosts:",
        ]
        var hosts: [Host] = []
        for name in facts.keys.sorted() {
            let fact = facts[name]!
            if declaredElsewhere.contains(name) {
                hosts.append(Host(name: name, written: false, reason: "declared in another plan file"))
                continue
            }
            guard let role = fact.role else {
                hosts.append(Host(name: name, written: false, reason: "no role in the inventory"))
                continue
            }
            guard let hostMACs = macs[name], !hostMACs.isEmpty else {
                hosts.append(Host(name: name, written: false, reason: "no MAC address in the inventory"))
                continue
            }
            // Interfaces by name where each holds one MAC and is named as the plans allow; else a plain list.
            let names = hostMACs.map(\.interface)
            let named = Set(names).count == names.count && names.allSatisfy(isInterfaceName)
            var fields = [
                "name: \(jsonQuote(name))",
                named
                    ? "interfaces: {\(hostMACs.map { "\(jsonQuote($0.interface)): \(jsonQuote($0.mac))" }.joined(separator: ", "))}"
                    : "macs: [\(hostMACs.map { jsonQuote($0.mac) }.joined(separator: ", "))]",
                "role: \(jsonQuote(role))",
            ]
            if let address = addresses[name] { fields.append("address: \(jsonQuote(address))") }
            if let site = fact.site { fields.append("site: \(jsonQuote(site))") }
            // Tags a selection can name; others (with ':' or spaces, say) stay in the inventory only.
            let tags = fact.tags.filter(isPlanTag).sorted()
            if !tags.isEmpty { fields.append("tags: [\(tags.map(jsonQuote).joined(separator: ", "))]") }
            lines.append("  - {\(fields.joined(separator: ", "))}")
            hosts.append(Host(name: name, written: true))
        }
        if !hosts.contains(where: \.written) { lines[lines.count - 1] = "hosts: []" }
        self.hosts = hosts
        text = lines.joined(separator: "\n") + "\n"
    }
}
