import Database
import Foundation
import Inventory
import Schema
import TestSupport
import Testing
import YAML

/// A fresh database of `engine` holding the Mother Brain schema.
func withInventory(_ engine: Engine, _ body: (TestDatabase, RecordStore) throws -> Void) throws {
    let database = try TestDatabase(engine)
    defer { database.remove() }
    let db = try database.open()
    defer { db.close() }
    let schema = try SchemaLoader().load(directory: repositoryRoot + "/Schemas")
    _ = try Migrator(schema: schema, actor: "test").migrate(db)
    try body(database, RecordStore(schema: schema, db: db, actor: "test"))
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
            #expect(try store.delete("host", key: ["web01"]) != nil)
            #expect(try store.get("host", key: ["web01"]) == nil)
            #expect(try store.delete("host", key: ["web01"]) == nil)
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

    @Test(
        "a delete that reaches other records is refused with what it would do, changing nothing; with cascade it does that and history keeps its rows",
        arguments: Engine.allCases)
    func deletesSayWhatTheyDo(_ engine: Engine) throws {
        try withInventory(engine) { database, store in
            _ = try store.put("site", [("name", "fra1")])
            _ = try store.put("rack", [("site", "fra1"), ("name", "r01")])
            _ = try store.put("rack", [("site", "fra1"), ("name", "r02")])
            let racks = try store.list("rack").map { $0["id"].description }
            _ = try store.put("os_platform", [("name", "debian12")])
            for (i, name) in ["api01", "api02", "api03"].enumerated() {
                _ = try store.put(
                    "host",
                    [("name", name), ("site", "fra1"), ("rack", racks[i % 2]), ("os_platform", "debian12")])
            }
            _ = try store.put("interface", [("host", "api03"), ("name", "eth0")])
            _ = try store.put("role", [("name", "api")])
            _ = try store.put("host_role", [("host", "api03"), ("role", "api")])
            _ = try store.put("deployment", [("role", "api"), ("ref", "v1"), ("requested_by", "me")])
            _ = try store.put("deployment_host", [("deployment", "1"), ("host", "api03"), ("state", "succeeded")])
            let before = try database.snapshot()

            let impact = try #require(try store.deletionImpact("site", key: ["fra1"]))
            #expect(
                impact.lines.sorted() == [
                    "clears host.rack on 3 host records (on_delete: set_null)",
                    "clears host.site on 3 host records (on_delete: set_null)",
                    "deletes 2 rack records (rack.site, on_delete: cascade)",
                ])
            let refused = message { try store.delete("site", key: ["fra1"]) }
            #expect(
                refused?.contains("deleting site 'fra1' also") == true && refused?.contains("--cascade") == true,
                "\(refused ?? "not refused")")
            #expect(try database.snapshot() == before, "a refused delete changed the database")

            let host = try #require(try store.deletionImpact("host", key: ["api03"]))
            #expect(host.effects.map(\.table).sorted() == ["host_role", "interface"], "\(host.lines)")
            #expect(try store.delete("host", key: ["api03"], cascade: true) != nil)
            // The record of what ran where outlives the host, and the deployment outlives its role.
            #expect(try store.list("deployment_host", where: [("host", "api03")]).count == 1)
            #expect(try store.delete("role", key: ["api"], cascade: true) != nil)
            #expect(try store.get("deployment", key: ["1"])?["role"] == .text("api"))

            #expect(try store.delete("site", key: ["fra1"], cascade: true)?.effects.count == 3)
            #expect(try store.list("rack").isEmpty)
            #expect(try store.list("host").allSatisfy { $0["site"].isNull && $0["rack"].isNull })
            // Nothing refers to it any more: a plain delete.
            #expect(try store.deletionImpact("os_platform", key: ["debian12"])?.reachesOthers == true)
            _ = try store.put("account", [("login", "deploy"), ("uid", "1000")])
            #expect(
                message { _ = try store.put("account", [("login", "other"), ("uid", "1000")]) }?.contains("uid") == true
            )
        }
    }
}

@Suite("the change log")
struct ChangeLogTests {
    @Test(
        "every write is logged with who, when, and the values before and after, in its own transaction; a refused write logs nothing",
        arguments: Engine.allCases)
    func writesAreLogged(_ engine: Engine) throws {
        try withInventory(engine) { database, store in
            _ = try store.put("site", [("name", "fra1")])
            _ = try store.put("host", [("name", "api01"), ("site", "fra1")])
            _ = try store.put("host", [("name", "api01"), ("vcpus", "4")])
            #expect(try store.put("host", [("name", "api01"), ("vcpus", "4")]) == .unchanged(key: ["api01"]))
            var history = try store.history("host", key: ["api01"])
            #expect(history.map(\.action) == ["insert", "update"], "an unchanged put is not a change")
            #expect(history.allSatisfy { $0.actor == "test" && $0.at.hasSuffix("Z") })
            #expect(history[0].before == .null)
            guard case .json(let before) = history[1].before, case .json(let after) = history[1].after else {
                Issue.record("no before and after: \(history)")
                return
            }
            #expect(before.contains("\"vcpus\": null") && after.contains("\"vcpus\": 4"), "\(before) \(after)")

            // Refused writes change nothing, the log included.
            let snapshot = try database.snapshot()
            #expect(throws: (any Error).self) { _ = try store.put("host", [("name", "api02"), ("site", "nowhere")]) }
            #expect(throws: (any Error).self) { try store.delete("site", key: ["fra1"]) }
            #expect(try database.snapshot() == snapshot)

            try store.delete("site", key: ["fra1"], cascade: true)
            let site = try store.history("site", key: ["fra1"])
            #expect(site.map(\.action) == ["insert", "delete"])
            #expect(site.last?.message == "with it: cleared host.site on 1 host record (on_delete: set_null)")
            // The history of a deleted record stays.
            try store.delete("host", key: ["api01"])
            history = try store.history("host", key: ["api01"])
            #expect(history.map(\.action) == ["insert", "update", "delete"])
        }
    }

    @Test("imports are logged per record, a few rows and the bulk path alike", arguments: Engine.allCases)
    func importsAreLogged(_ engine: Engine) throws {
        try withInventory(engine) { _, store in
            func hosts(_ range: Range<Int>, vcpus: Int) -> ImportBatch {
                let at = SourceLocation(file: "hosts.csv", line: 1, column: 1)
                return ImportBatch(
                    table: "host",
                    rows: range.map { i in
                        ImportRow(
                            values: [
                                ImportValue(column: "name", text: "h\(i)", structured: false, location: at),
                                ImportValue(column: "vcpus", text: String(vcpus), structured: false, location: at),
                            ], location: at)
                    }, location: at)
            }
            _ = try store.importBatches([hosts(0..<3, vcpus: 1)])  // row by row
            _ = try store.importBatches([hosts(0..<400, vcpus: 1)])  // bulk: 397 new, 3 unchanged
            _ = try store.importBatches([hosts(0..<400, vcpus: 2)])  // bulk: 400 updated
            #expect(try store.history("host", key: ["h1"]).map(\.action) == ["insert", "update"])
            #expect(try store.history("host", key: ["h399"]).map(\.action) == ["insert", "update"])
            let interface = ImportBatch(
                table: "interface",
                rows: [
                    ImportRow(
                        values: [
                            ImportValue(
                                column: "host", text: "h1", structured: false,
                                location: SourceLocation(file: "i.csv", line: 2, column: 1)),
                            ImportValue(
                                column: "name", text: "eth0", structured: false,
                                location: SourceLocation(file: "i.csv", line: 2, column: 4)),
                        ], location: SourceLocation(file: "i.csv", line: 2, column: 1))
                ], location: SourceLocation(file: "i.csv", line: 1, column: 1))
            _ = try store.importBatches([interface])
            let id = try #require(try store.list("interface").first)["id"].description
            #expect(try store.history("interface", key: [id]).map(\.action) == ["insert"])
        }
    }
}

@Suite("queries")
struct QueryTests {
    @Test("filters people use, typed by the column, on both engines", arguments: Engine.allCases)
    func filters(_ engine: Engine) throws {
        try withInventory(engine) { _, store in
            _ = try store.put("site", [("name", "fra1")])
            _ = try store.put("site", [("name", "ams1")])
            let hosts: [(String, String?, String, String?, String)] = [
                ("web01", "fra1", "4", "2026-01-10T00:00:00Z", #"{"tier": "gold", "rank": 3}"#),
                ("web02", "fra1", "8", nil, #"{"tier": "silver", "rank": 10}"#),
                ("db01", "ams1", "16", "2026-07-01T00:00:00Z", #"{"tier": "gold", "rank": 1}"#),
                ("lb01", nil, "2", nil, "{}"),
            ]
            for (name, site, vcpus, _, attrs) in hosts {
                _ = try store.put("host", [("name", name), ("site", site), ("vcpus", vcpus), ("attrs", attrs)])
            }
            func names(_ filters: [String], sort: String? = nil, limit: Int? = nil) throws -> [String] {
                try store.list(
                    "host", filters: try filters.map { try RecordFilter.parse($0) },
                    sort: sort.map(RecordSort.parse) ?? [], limit: limit
                ).map { $0["name"].description }
            }
            #expect(try names(["site=fra1"]) == ["web01", "web02"])
            #expect(try names(["site!=fra1"]) == ["db01", "lb01"], "null is different from fra1")
            #expect(try names(["vcpus>4"]) == ["db01", "web02"], "numbers compare as numbers, not text")
            #expect(try names(["vcpus<=4"]) == ["lb01", "web01"])
            #expect(try names(["name~web*"]) == ["web01", "web02"])
            #expect(try names(["name!~web*"]) == ["db01", "lb01"])
            #expect(try names(["site in ams1,fra1", "vcpus>=8"]) == ["db01", "web02"])
            #expect(try names(["site is null"]) == ["lb01"])
            #expect(try names(["site is not null"], sort: "-vcpus") == ["db01", "web02", "web01"])
            #expect(try names(["site="]) == ["lb01"])
            #expect(try names(["attrs.tier=gold"]) == ["db01", "web01"])
            #expect(try names(["attrs.rank>2"]) == ["web01", "web02"], "JSON numbers compare as numbers")
            #expect(
                try names([], sort: "site,-name", limit: 3) == ["db01", "web02", "web01"], "nulls last on both engines")
            #expect(try names([], sort: "-vcpus", limit: 2) == ["db01", "web02"])

            // Bad conditions: one clear error each.
            #expect(message { _ = try names(["vcpus>many"]) }?.contains("--where vcpus>many") == true)
            #expect(message { _ = try names(["site.tier=x"]) }?.contains("is not a JSON column") == true)
            #expect(message { _ = try names(["colour=red"]) }?.contains("has no column 'colour'") == true)
            #expect(message { _ = try names(["vcpus"]) }?.contains("expected COLUMN=VALUE") == true)
            #expect(message { _ = try names(["site in fra1,,ams1"]) }?.contains("empty value") == true)
            #expect(message { _ = try names([], sort: "nope") }?.contains("has no column 'nope'") == true)
        }
    }

    @Test func filterParsing() throws {
        #expect(try RecordFilter.parse("a<=2") == RecordFilter(column: "a", op: .lessOrEqual, values: ["2"]))
        #expect(try RecordFilter.parse("a!~x*") == RecordFilter(column: "a", op: .notGlob, values: ["x*"]))
        #expect(try RecordFilter.parse("a=b=c") == RecordFilter(column: "a", op: .equal, values: ["b=c"]))
        #expect(
            try RecordFilter.parse("attrs.x.y>=1")
                == RecordFilter(column: "attrs", path: ["x", "y"], op: .greaterOrEqual, values: ["1"]))
        #expect(try RecordFilter.parse("a IS NOT NULL") == RecordFilter(column: "a", op: .isNotNull, values: []))
        #expect(try RecordFilter.parse("a in x, y") == RecordFilter(column: "a", op: .in, values: ["x", "y"]))
        for bad in ["", "=x", ".a=1", "a.=1", "a..b=1", "a", "a is nul"] {
            #expect(throws: InventoryError.self, "\(bad)") { try RecordFilter.parse(bad) }
        }
    }
}

@Suite("natural keys")
struct NaturalKeyTests {
    @Test("a reference to a numbered record may name it by its natural unique key", arguments: Engine.allCases)
    func referencesByNaturalKey(_ engine: Engine) throws {
        try withInventory(engine) { _, store in
            _ = try store.put("site", [("name", "fra1")])
            _ = try store.put("rack", [("site", "fra1"), ("name", "r01")])
            let rack = try #require(try store.list("rack").first)["id"]
            _ = try store.put("host", [("name", "api01"), ("rack", "fra1/r01")])
            #expect(try store.get("host", key: ["api01"])?["rack"] == rack)
            _ = try store.put("host", [("name", "api02"), ("rack", rack.description)])
            #expect(try store.get("host", key: ["api02"])?["rack"] == rack)
            #expect(
                message { _ = try store.put("host", [("name", "api03"), ("rack", "fra1/r99")]) }?
                    .contains("no rack with site/name 'fra1/r99'") == true)
            #expect(
                message { _ = try store.put("host", [("name", "api03"), ("rack", "r01")]) }?
                    .contains("neither an id of rack nor its site/name") == true)
            #expect(try store.list("host", filters: [try RecordFilter.parse("rack=fra1/r01")]).count == 2)
        }
    }
}
