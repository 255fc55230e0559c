import Database

/// The inventory's side of every host's facts: status, site, roles and tags, by host name.
public enum HostFactsReader {
    /// Reads every host in three queries (hosts, tags, roles), whatever the fleet's size.
    public static func read(_ db: any SQLConnection) throws -> [String: HostFacts] {
        var facts: [String: HostFacts] = [:]
        for row in try db.query("SELECT name, status, site FROM host", []) {
            guard let name = row.string("name") else { continue }
            facts[name] = HostFacts(name: name, site: row.string("site"), status: row.string("status"))
        }
        for row in try db.query("SELECT row_key, tag FROM tagging WHERE table_name = 'host'", []) {
            guard let name = row.string("row_key"), let tag = row.string("tag") else { continue }
            facts[name]?.tags.insert(tag)
        }
        // A host with several roles is known by the first in name order; the plans give one role per host.
        for row in try db.query("SELECT host, role FROM host_role ORDER BY host, role", []) {
            guard let name = row.string("host"), let role = row.string("role"), facts[name]?.role == nil else {
                continue
            }
            facts[name]?.role = role
        }
        return facts
    }
}
