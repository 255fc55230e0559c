import Database
import Foundation
import Inventory
import Plan
import Schema
import TestSupport
import Testing

@Suite struct InventorySyncTests {
    @Test(arguments: Engine.allCases)
    func plansLoadIntoTheInventoryAndUpdateInPlace(_ engine: Engine) throws {
        let database = try TestDatabase(engine)
        defer { database.remove() }
        let db = try database.open()
        defer { db.close() }
        let schema = try SchemaLoader().load(directory: repositoryRoot + "/Schemas")
        _ = try Migrator(schema: schema, actor: "test").migrate(db)
        let store = RecordStore(schema: schema, db: db, actor: "test")
        let plans = try PlanLoader().load(directory: repositoryRoot + "/Plans")

        _ = try InventorySync(plans: plans, store: store).run()
        #expect(try store.list("host").count == plans.hosts.count)
        let mac = try #require(try store.get("mac_address", key: ["52:54:00:12:35:58"]))
        let interface = try #require(try store.get("interface", key: [mac["interface"].description]))
        #expect(interface["host"].text == "web03")
        #expect(try store.get("host_role", key: ["web03", "web"]) != nil)
        let monitors = try store.list("monitor", where: [("host", "web03")])
        #expect(Set(monitors.map { $0["name"].description }) == ["health", "port"])
        #expect(monitors.first { $0["name"].description == "health" }?["target"].text == "http://10.0.0.13:8081/health")

        // A second run changes nothing in count; records are updated, not duplicated.
        let again = try InventorySync(plans: plans, store: store).run()
        #expect(again.written.tables.allSatisfy { $0.inserted == 0 })
        #expect(try store.list("monitor").count == monitors.count + 4 + 2)

        // Pruning removes what the plans no longer declare, and nothing else.
        _ = try store.put("host", [("name", "unplanned")])
        var fewer = plans
        fewer.hosts.removeAll { $0.name == "web02" }
        let pruned = try InventorySync(plans: fewer, store: store).run(prune: true)
        #expect(pruned.pruned == 1)
        #expect(try store.get("host", key: ["web02"]) == nil)
        #expect(try store.get("host", key: ["unplanned"]) != nil)
    }
}
