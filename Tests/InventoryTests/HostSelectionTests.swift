import Inventory
import Testing

@Suite struct HostSelectionTests {
    let fleet = [
        HostFacts(name: "web01", role: "web", site: "fra1", status: "active", tags: ["canary"]),
        HostFacts(name: "web02", role: "web", site: "fra1", status: "active"),
        HostFacts(name: "web03", role: "web", site: "ams1", status: "failed", tags: ["canary", "edge"]),
        HostFacts(name: "db01", role: "db", site: "fra1", status: "active", tags: ["edge"]),
    ]

    func select(_ text: String) throws -> [String] {
        let selection = try HostSelection(parsing: text)
        return fleet.filter { selection.matches($0) }.map(\.name)
    }

    @Test(arguments: [
        ("web0*", ["web01", "web02", "web03"]),
        ("web01,db01", ["web01", "db01"]),
        ("web:&fra1", ["web01", "web02"]),
        ("web:&fra1:!web02", ["web01"]),
        ("fra1:&tag=edge", ["db01"]),
        ("canary", ["web01", "web03"]),
        ("!tag=canary", ["web02", "db01"]),
        ("status=failed", ["web03"]),
        ("role=d*", ["db01"]),
        ("site=ams1:db01", ["web03", "db01"]),
        ("name=fra1", []),
        ("web:&edge:&canary", ["web03"]),
        ("all", ["web01", "web02", "web03", "db01"]),
        ("all:!role=db", ["web01", "web02", "web03"]),
        ("web[01:02]", ["web01", "web02"]),
        ("web[2:3]", []),
        ("web0[2:3],db01", ["web02", "web03", "db01"]),
        ("name=web[02:09]:&fra1", ["web02"]),
        ("web0[13]", ["web01", "web03"]),
        ("[a:d]b01", ["db01"]),
    ])
    func patternsSelectAsAnsiblesLimitDoes(_ text: String, _ expected: [String]) throws {
        #expect(try select(text) == expected, "\(text)")
    }

    @Test(arguments: [
        ("web:&colour=red", 5, "unknown field 'colour'"),
        ("web::db", 5, "an empty term"),
        ("&", 1, "an empty term"),
        ("web:&!db", 5, "a pattern holds no control characters"),
        ("tag=", 1, "an empty term"),
        ("db01:web[05:01]", 6, "the range [05:01] runs backwards"),
        ("web[1:x]", 1, "[1:x] is not a range of numbers or of letters"),
        ("web[0:99999]", 1, "is too long"),
        ("h[0:999][0:999]", 1, "stand for more than 10000 names"),
        ("a[0:5999],b[0:5999]", 11, "stand for more than 10000 names"),
    ])
    func mistakesAreNamedWithTheirColumn(_ text: String, _ column: Int, _ message: String) {
        do {
            _ = try HostSelection(parsing: text)
            Issue.record("'\(text)' was accepted")
        } catch {
            #expect(error.column == column, "\(text): \(error)")
            #expect(error.description.contains(message), "\(error)")
        }
    }
}
