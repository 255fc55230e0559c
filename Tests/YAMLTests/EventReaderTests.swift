import Testing
import YAML

@Suite struct EventReaderTests {
    func events(_ text: String) throws -> [String] {
        var reader = YAMLEventReader(Array(text.utf8), file: "e.yaml")
        var out: [String] = []
        repeat {
            try reader.next()
            var line = "\(reader.kind) \(reader.mark.line):\(reader.mark.column)"
            if reader.kind == .scalar { line += " \(reader.scalarText) \(reader.style)" }
            if reader.isDecorated { line += " decorated" }
            out.append(line)
        } while reader.kind != .streamEnd
        return out
    }

    @Test func eventsCarryTheirPlaceStyleAndDecoration() throws {
        #expect(
            try events("a: 'x'\nb: &n [1, !!str 2, ! \"3\"]\nc: *n\n") == [
                "streamStart 1:1", "documentStart 1:1", "mappingStart 1:1",
                "scalar 1:1 a plain", "scalar 1:4 x singleQuoted",
                "scalar 2:1 b plain", "sequenceStart 2:4 decorated",
                "scalar 2:8 1 plain", "scalar 2:11 2 plain decorated", "scalar 2:20 3 doubleQuoted",
                "sequenceEnd 2:25",
                "scalar 3:1 c plain", "alias 3:4",
                "mappingEnd 4:1", "documentEnd 4:1", "streamEnd 4:1",
            ])
    }

    @Test func malformedYAMLIsALocatedError() {
        var reader = YAMLEventReader(Array("a: [1, 2\nb: 3\n".utf8), file: "bad.yaml")
        do {
            for _ in 0..<20 { try reader.next() }
            Issue.record("no error")
        } catch {
            #expect(error.description.hasPrefix("bad.yaml:2:2:"), "\(error)")
        }
    }

    @Test func scalarIsComparesWithoutAString() throws {
        var reader = YAMLEventReader(Array("path: x\n".utf8), file: "e.yaml")
        for _ in 0..<4 { try reader.next() }
        #expect(reader.scalarIs("path") && !reader.scalarIs("pat") && !reader.scalarIs("paths"))
    }
}
