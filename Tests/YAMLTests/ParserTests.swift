import Testing

@testable import YAML

@Suite struct ParserTests {
    let parser = YAMLParser()

    @Test func nodesKeepLineAndColumn() throws {
        let text = """
            tables:
              host:
                key: name
                columns: [a, b]
            """
        let root = try #require(try parser.parse(text, file: "x.yaml"))
        let key = try #require(root["tables"]?["host"]?["key"])
        #expect(key.mark == Mark(line: 3, column: 10))
        #expect(key.scalarText == "name")
        guard case .sequence(let items) = root["tables"]?["host"]?["columns"]?.content else {
            Issue.record("columns is not a sequence")
            return
        }
        #expect(items[1].mark == Mark(line: 4, column: 18))
    }

    @Test func malformedYAMLNamesFileLineAndColumn() {
        #expect(throws: YAMLError.self) { try parser.parse("a: [1, 2\nb: 3\n", file: "bad.yaml") }
        do {
            _ = try parser.parse("key: value\n  - nested: wrong\n", file: "bad.yaml")
            Issue.record("expected an error")
        } catch {
            #expect(error.location.file == "bad.yaml")
            #expect(error.location.line == 2)
            #expect(error.description.hasPrefix("bad.yaml:2:"))
        }
    }

    @Test func duplicateKeysAreErrors() {
        do {
            _ = try parser.parse("a: 1\nb: 2\na: 3\n", file: "d.yaml")
            Issue.record("expected an error")
        } catch {
            #expect(error.description == "d.yaml:3:1: duplicate key 'a' (first at line 1, column 1)")
        }
    }

    @Test func aliasExpansionIsBounded() {
        // The "billion laughs": each level multiplies the previous by nine.
        var text = "a: &a [x, x, x, x, x, x, x, x, x]\n"
        let names = ["b", "c", "d", "e", "f", "g", "h", "i"]
        var previous = "a"
        for name in names {
            text += "\(name): &\(name) [" + Array(repeating: "*\(previous)", count: 9).joined(separator: ", ") + "]\n"
            previous = name
        }
        do {
            _ = try parser.parse(text, file: "laughs.yaml")
            Issue.record("expected the expansion limit to stop this document")
        } catch {
            #expect(error.message.contains("expands to more than"))
        }
    }

    @Test func smallAliasesStillWork() throws {
        let root = try #require(try parser.parse("base: &b {x: 1}\nuse: *b\n", file: "a.yaml"))
        #expect(root["use"]?["x"]?.scalarText == "1")
    }

    @Test func unknownAliasIsAnError() {
        #expect(throws: YAMLError.self) { try parser.parse("a: *nothing\n", file: "a.yaml") }
    }

    @Test func nestingIsBounded() {
        let text = String(repeating: "[", count: 500) + String(repeating: "]", count: 500)
        do {
            _ = try parser.parse(text, file: "deep.yaml")
            Issue.record("expected an error")
        } catch {
            #expect(error.message.contains("nesting deeper than"))
        }
    }

    @Test func mergeKeysApplyWithExplicitKeysWinning() throws {
        let root = try #require(
            try parser.parse("defaults: &d {a: 1, b: 2}\nthing:\n  <<: *d\n  b: 3\n", file: "m.yaml"))
        #expect(root["thing"]?["a"]?.scalarText == "1")
        #expect(root["thing"]?["b"]?.scalarText == "3")
    }

    @Test func nonUTF8InputIsAnError() {
        let bytes: [UInt8] = Array("name: ".utf8) + [0xff, 0xfe, 0x41] + Array("\n".utf8)
        do {
            _ = try parser.parse(bytes, file: "latin.yaml")
            Issue.record("expected an error")
        } catch {
            #expect(error.location.file == "latin.yaml")
            #expect(error.message.contains("UTF-8"))
        }
    }

    @Test func severalDocumentsAreRefusedWhereOneIsExpected() {
        #expect(throws: YAMLError.self) { try parser.parse("a: 1\n---\nb: 2\n", file: "two.yaml") }
    }

    @Test func emptyStreamHasNoDocument() throws {
        #expect(try parser.parse("", file: "empty.yaml") == nil)
    }
}
