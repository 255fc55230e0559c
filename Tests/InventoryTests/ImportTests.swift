import Database
import Foundation
import Inventory
import Schema
import TestSupport
import Testing

private func importText(_ store: RecordStore, _ text: String, name: String) throws -> ImportSummary {
    let directory = try makeTemporaryDirectory()
    defer { try? FileManager.default.removeItem(atPath: directory) }
    try writeFiles([name: text], under: directory)
    return try store.importBatches(try ImportReader.read(path: directory + "/" + name))
}

private let fleet = """
    site:
      - {name: dc1}
    host:
      - {name: web01, site: dc1, kind: virtual, attrs: {owner: ops}}
      - {name: web02, site: dc1}
    interface:
      - {host: web01, name: eth0}
      - {host: web02, name: eth0}
    mac_address:
      - {mac: 52:54:00:00:00:01, interface: 1}

    """

@Suite struct ImportTests {
    @Test(arguments: Engine.allCases)
    func yamlImportInsertsThenUpdatesInPlace(_ engine: Engine) throws {
        try withInventory(engine) { _, store in
            let first = try importText(store, fleet, name: "fleet.yaml")
            #expect(first.records == 6)
            #expect(first.tables.map(\.inserted) == [1, 2, 2, 1])
            let second = try importText(store, fleet, name: "fleet.yaml")
            #expect(second.tables.map(\.inserted) == [0, 0, 0, 0])
            #expect(second.tables.map(\.updated) == [1, 2, 2, 1])
            #expect(try store.list("interface").count == 2, "interfaces are matched by (host, name), not duplicated")
            let attrs = try #require(try store.get("host", key: ["web01"])?["attrs"].text)
            #expect(attrs.replacingOccurrences(of: " ", with: "") == #"{"owner":"ops"}"#)
        }
    }

    @Test(arguments: Engine.allCases)
    func explicitGeneratedKeysDoNotCollideWithLaterInserts(_ engine: Engine) throws {
        try withInventory(engine) { _, store in
            _ = try importText(
                store, "bundle:\n  - {name: web, repository: r}\nrelease:\n  - {id: 5, bundle: web, ref: v1}\n",
                name: "r.yaml")
            #expect(try store.put("release", [("bundle", "web"), ("ref", "v2")]) == .inserted(key: ["6"]))
        }
    }

    @Test(arguments: Engine.allCases)
    func csvImportWithQuotesAndNulls(_ engine: Engine) throws {
        try withInventory(engine) { _, store in
            _ = try store.put("site", [("name", "dc1")])
            let csv = "name,site,description,vcpus\r\nweb01,dc1,\"web, \"\"front\"\"\nend\",4\nweb02,,,\n"
            let summary = try importText(store, csv, name: "host.csv")
            #expect(summary.records == 2)
            let web01 = try #require(try store.get("host", key: ["web01"]))
            #expect(web01["description"].text == "web, \"front\"\nend")
            #expect(try store.get("host", key: ["web02"])?["site"] == .null)
        }
    }

    /// Each broken import gets one clear error at the offending value, and leaves the database unchanged.
    @Test(arguments: Engine.allCases)
    func brokenImportsChangeNothing(_ engine: Engine) throws {
        let cases: [(name: String, text: String, expected: String)] = [
            (
                "bad-mac.yaml", "mac_address:\n  - {mac: 52:54:00:00:00:02}\n  - {mac: 'not-a-mac'}\n",
                "3:11: mac_address.mac: 'not-a-mac' is not a MAC address"
            ),
            (
                "dup-mac.yaml", "mac_address:\n  - {mac: 52:54:00:00:00:02}\n  - {mac: 52-54-00-00-00-02}\n",
                "3:5: mac_address mac '52:54:00:00:00:02' appears twice in this import (first at line 2)"
            ),
            (
                "taken-mac.yaml", "mac_address:\n  - {mac: 52:54:00:00:00:09, interface: 7}\n",
                "2:41: mac_address.interface: interface '7' does not exist"
            ),
            (
                "unknown-column.yaml", "host:\n  - {name: web09, colour: red}\n",
                "2:27: table 'host' has no column 'colour'"
            ),
            ("unknown-table.yaml", "hosts:\n  - {name: web09}\n", "1:1: unknown table 'hosts' (did you mean 'host'?)"),
            (
                "wrong-type.yaml", "host:\n  - {name: web09, vcpus: many}\n",
                "2:26: host.vcpus: 'many' is not an integer"
            ),
            ("structured.yaml", "host:\n  - {name: web09, site: [a, b]}\n", "2:25: host.site takes a single value"),
            (
                "oversized.yaml", "host:\n  - {name: \(String(repeating: "x", count: 300))}\n",
                "host.name: value is 300 characters long"
            ),
            ("malformed.yaml", "host:\n  - {name: web09\n", "malformed.yaml:3:1:"),
            ("short-row.csv", "name,site\nweb09\n", "short-row.csv:2:1: 1 fields, but the header names 2 columns"),
            ("open-quote.csv", "name\n\"web09\n", "open-quote.csv:2:1: a quoted field is not closed"),
            // A bad value and a missing reference: both in one run.
            ("host.csv", "name,site,vcpus\nweb09,nowhere,many\n", "2:15: host.vcpus: 'many' is not an integer"),
            ("host.csv", "name,site,vcpus\nweb09,nowhere,many\n", "2:7: host.site: site 'nowhere' does not exist"),
        ]
        try withInventory(engine) { database, store in
            _ = try importText(store, fleet, name: "fleet.yaml")
            let before = try database.snapshot()
            for item in cases {
                let text = item.name.hasSuffix(".csv") ? item.text : item.text
                let error = message { _ = try importText(store, text, name: item.name) }
                #expect(error?.contains(item.expected) == true, "\(item.name): \(error ?? "no error")")
                #expect(try database.snapshot() == before, "\(item.name) changed the database")
            }
            // Not UTF-8: refused with its position.
            let directory = try makeTemporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let path = directory + "/host.csv"
            #expect(
                FileManager.default.createFile(
                    atPath: path, contents: Data("name\nweb09\n".utf8 + [0x77, 0xe9, 0x62, 0x0a])))
            let error = message { _ = try store.importBatches(try ImportReader.read(path: path)) }
            #expect(error?.contains("host.csv:3:1: not valid UTF-8 text") == true, "\(error ?? "no error")")
            #expect(try database.snapshot() == before)
        }
    }
}
