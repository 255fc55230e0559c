import Database
import Foundation
import Inventory
import Schema
import TestSupport
import Testing

/// A fresh database of `engine` holding the Mother Brain schema.
func withInventory(_ engine: Engine, _ body: (TestDatabase, RecordStore) throws -> Void) throws {
    let database = try TestDatabase(engine)
    defer { database.remove() }
    let db = try database.open()
    defer { db.close() }
    let schema = try SchemaLoader().load(directory: repositoryRoot + "/Schemas")
    _ = try Migrator(schema: schema, actor: "test").migrate(db)
    try body(database, RecordStore(schema: schema, db: db))
}

func message(_ body: () throws -> Void) -> String? {
    do {
        try body()
        return nil
    } catch {
        return "\(error)"
    }
}

@Suite struct RecordStoreTests {
    @Test(arguments: Engine.allCases)
    func putGetListDeleteRoundTrip(_ engine: Engine) throws {
        try withInventory(engine) { _, store in
            #expect(try store.put("site", [("name", "dc1")]) == .inserted(key: ["dc1"]))
            #expect(
                try store.put(
                    "host", [("name", "web01"), ("site", "dc1"), ("kind", "virtual"), ("primary_address", "10.0.0.11")])
                    == .inserted(key: ["web01"]))
            #expect(try store.put("host", [("name", "web01"), ("vcpus", "4")]) == .updated(key: ["web01"]))
            let host = try #require(try store.get("host", key: ["web01"]))
            let display = Dictionary(uniqueKeysWithValues: host.display(in: store.schema).map { ($0.column, $0.value) })
            #expect(display["kind"] == .text("virtual"))
            #expect(display["vcpus"] == .number("4"))
            #expect(display["site"] == .text("dc1"))
            #expect(display["status"] == .text("planned"), "the default applies")
            #expect(try store.list("host", where: [("site", "dc1")]).count == 1)
            #expect(try store.list("host", where: [("site", "")]).isEmpty)
            #expect(try store.delete("host", key: ["web01"]))
            #expect(try store.get("host", key: ["web01"]) == nil)
            #expect(try store.delete("host", key: ["web01"]) == false)
        }
    }

    @Test(arguments: Engine.allCases)
    func valuesAreNormalizedByColumnType(_ engine: Engine) throws {
        try withInventory(engine) { _, store in
            _ = try store.put(
                "mac_address",
                [("mac", "52-54-00-AB-CD-EF"), ("pxe_enabled", "yes"), ("last_seen", "2026-11-22 23:30:00+02:00")])
            let record = try #require(try store.get("mac_address", key: ["5254.00ab.cdef"]))
            let display = Dictionary(
                uniqueKeysWithValues: record.display(in: store.schema).map { ($0.column, $0.value) })
            #expect(display["mac"] == .text("52:54:00:ab:cd:ef"))
            #expect(display["pxe_enabled"] == .boolean(true))
            #expect(display["last_seen"] == .text("2026-11-22T21:30:00Z"))
            _ = try store.put("network", [("cidr", "2001:DB8:0:0::/32"), ("dns_servers", #"["10.0.0.53"]"#)])
            #expect(try store.get("network", key: ["2001:db8::/32"]) != nil)
        }
    }

    @Test(arguments: Engine.allCases)
    func badValuesAreRefusedInPlainWordsAndChangeNothing(_ engine: Engine) throws {
        try withInventory(engine) { database, store in
            _ = try store.put("site", [("name", "dc1")])
            _ = try store.put("host", [("name", "web01"), ("asset_tag", "A1")])
            let before = try database.snapshot()
            #expect(
                message { _ = try store.put("hots", [("name", "x")]) } == "unknown table 'hots' (did you mean 'host'?)")
            #expect(
                message { _ = try store.put("host", [("name", "x"), ("knd", "virtual")]) }
                    == "table 'host' has no column 'knd' (did you mean 'kind'?)")
            #expect(
                message { _ = try store.put("host", [("name", "x"), ("kind", "virtul")]) }
                    == "host.kind: 'virtul' is not one of: physical, virtual, container (did you mean 'virtual'?)")
            #expect(
                message { _ = try store.put("mac_address", [("mac", "52:54:00:zz:00:01")]) }
                    == "mac_address.mac: '52:54:00:zz:00:01' is not a MAC address (expected six hex octets, e.g. 52:54:00:12:34:56)"
            )
            #expect(
                message { _ = try store.put("host", [("name", "x"), ("primary_address", "10.0.0.300")]) }
                    == "host.primary_address: '10.0.0.300' is not an IP address")
            #expect(
                message { _ = try store.put("host", [("name", "x"), ("site", "dc9")]) }
                    == "host.site: site 'dc9' does not exist (host.site refers to site.name)")
            #expect(
                message { _ = try store.put("host", [("name", "x"), ("asset_tag", "A1")]) }?
                    .hasPrefix("host 'x': another host record already has the same asset_tag") == true)
            #expect(
                message { _ = try store.put("host", [("name", String(repeating: "a", count: 254))]) }
                    == "host.name: value is 254 characters long; the limit is 253")
            #expect(
                message { _ = try store.put("rack", [("name", "r1")]) }
                    == "new rack record needs a value for 'site' (it cannot be null)")
            #expect(
                message { _ = try store.put("monitor", [("name", "m"), ("kind", "tcp"), ("target", "x:1")]) }?
                    .contains("breaks the rule 'role IS NOT NULL OR host IS NOT NULL'") == true)
            #expect(
                message { _ = try store.get("host_role", key: ["web01"]) }?.contains("keyed by (host, role)") == true)
            #expect(try database.snapshot() == before)
        }
    }

    @Test(arguments: Engine.allCases)
    func deleteNamesTheRecordsThatStillReferToIt(_ engine: Engine) throws {
        try withInventory(engine) { database, store in
            _ = try store.put("bundle", [("name", "web"), ("repository", "bundles/web.git")])
            _ = try store.put("release", [("bundle", "web"), ("ref", "v1")])
            _ = try store.put("os_platform", [("name", "debian12")])
            _ = try store.put("host", [("name", "web01"), ("os_platform", "debian12")])
            _ = try store.put("role", [("name", "web")])
            _ = try store.put("deployment", [("role", "web"), ("ref", "v1"), ("requested_by", "me")])
            _ = try store.put("deployment_host", [("deployment", "1"), ("host", "web01")])
            let before = try database.snapshot()
            // deployment_host.host has on_delete cascade; host_role too. monitor.service set_null. None restrict host.
            #expect(try store.delete("os_platform", key: ["debian12"]), "set_null references do not block")
            #expect(try store.get("host", key: ["web01"])?["os_platform"] == .null)
            _ = before
            _ = try store.put("account", [("login", "deploy"), ("uid", "1000")])
            #expect(
                message { _ = try store.put("account", [("login", "other"), ("uid", "1000")]) }?.contains("uid") == true
            )
        }
    }
}
