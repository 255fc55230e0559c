import Testing

@testable import YAML

private enum Kind: String, YAMLChoice {
    case text, integer, boolean
}

private struct Settings: Decodable, Equatable {
    var name: String
    var port: Int
    var enabled: Bool
    var label: String?
    var mode: Int?
}

private struct Outer: Decodable {
    var inner: [String: Inner]
    struct Inner: Decodable {
        var kind: Kind
        var size: Int?
    }
}

@Suite struct DecoderTests {
    let decoder = YAMLDecoder()

    @Test func scalarsAreTypedByTheTargetField() throws {
        let s = try decoder.decode(
            Settings.self, from: "name: yes\nport: 22\nenabled: yes\nlabel: 0750\nmode: 0750\n", file: "s.yaml")
        #expect(s == Settings(name: "yes", port: 22, enabled: true, label: "0750", mode: 750))
    }

    @Test(arguments: ["yes", "Yes", "true", "on", "no", "off", "false"])
    func booleanWords(_ word: String) throws {
        let s = try decoder.decode(Settings.self, from: "name: a\nport: 1\nenabled: \(word)\n", file: "b.yaml")
        #expect(s.enabled == ["yes", "Yes", "true", "on"].contains(word))
    }

    @Test func unknownKeyNamesLocationPathAndSuggestion() {
        do {
            _ = try decoder.decode(Settings.self, from: "name: a\nport: 1\nenabled: true\nlable: x\n", file: "s.yaml")
            Issue.record("expected an error")
        } catch {
            #expect(error.description == "s.yaml:4:1: lable: unknown key 'lable' (did you mean 'label'?)")
        }
    }

    @Test func misspelledRequiredKeyIsReportedAsUnknownNotMissing() {
        do {
            _ = try decoder.decode(Settings.self, from: "name: a\nprot: 1\nenabled: true\n", file: "s.yaml")
            Issue.record("expected an error")
        } catch {
            #expect(error.description == "s.yaml:2:1: prot: unknown key 'prot' (did you mean 'port'?)")
        }
    }

    @Test func missingKeyNamesTheMapping() {
        do {
            _ = try decoder.decode(Settings.self, from: "name: a\nenabled: true\n", file: "s.yaml")
            Issue.record("expected an error")
        } catch {
            #expect(error.description == "s.yaml:1:1: missing required key 'port'")
        }
    }

    @Test func wrongTypeNamesTheValue() {
        do {
            _ = try decoder.decode(Settings.self, from: "name: a\nport: twenty\nenabled: true\n", file: "s.yaml")
            Issue.record("expected an error")
        } catch {
            #expect(error.location == SourceLocation(file: "s.yaml", line: 2, column: 7))
            #expect(error.path == "port")
            #expect(error.message.contains("expected an integer"))
        }
    }

    @Test func closedChoicesSuggestTheNearestWord() {
        do {
            _ = try decoder.decode(Outer.self, from: "inner:\n  host:\n    kind: strng\n", file: "o.yaml")
            Issue.record("expected an error")
        } catch {
            #expect(
                error.description
                    == "o.yaml:3:11: inner.host.kind: unknown value 'strng' (expected one of: text, integer, boolean)")
        }
        do {
            _ = try decoder.decode(Outer.self, from: "inner:\n  host:\n    kind: integr\n", file: "o.yaml")
            Issue.record("expected an error")
        } catch {
            #expect(error.message.contains("did you mean 'integer'?"))
        }
    }

    @Test func sequencePathsUseIndexes() {
        struct List: Decodable { var items: [Settings] }
        do {
            _ = try decoder.decode(
                List.self,
                from: "items:\n  - {name: a, port: 1, enabled: true}\n  - {name: b, port: x, enabled: true}\n",
                file: "l.yaml")
            Issue.record("expected an error")
        } catch {
            #expect(error.path == "items[1].port")
            #expect(error.location.line == 3)
        }
    }

    @Test func mappingWhereScalarExpected() {
        do {
            _ = try decoder.decode(Settings.self, from: "name: {a: 1}\nport: 1\nenabled: true\n", file: "s.yaml")
            Issue.record("expected an error")
        } catch {
            #expect(error.message == "expected a string, found a mapping")
        }
    }

    @Test func locatedValuesCarryTheirPosition() throws {
        struct Doc: Decodable { var value: Located<String> }
        let doc = try decoder.decode(Doc.self, from: "\n\nvalue:   hello\n", file: "p.yaml")
        #expect(doc.value.location == SourceLocation(file: "p.yaml", line: 3, column: 10))
        #expect(doc.value.value == "hello")
    }

    @Test func untypedValuesFollowTheCoreSchema() throws {
        struct Doc: Decodable { var attrs: YAMLValue }
        let doc = try decoder.decode(Doc.self, from: "attrs: {a: 1, b: true, c: '1', d: [x, null]}\n", file: "u.yaml")
        #expect(doc.attrs.jsonText == #"{"a":1,"b":true,"c":"1","d":["x",null]}"#)
    }

    /// The core schema exactly: tags decide where given (`!` is text, YAML 1.2 example 6.28), and only the core
    /// forms are numbers (`0o17` is 15; `1_000`, `0x1p3`, `0b11` and `+.5e` are text).
    @Test(arguments: [
        ("! 12", #""12""#), ("!!str 12", #""12""#), ("!!int '12'", "12"), ("!!int 0x1F", "31"), ("!!bool TRUE", "true"),
        ("!!float 3", "3.0"), ("!!null ''", "null"), ("0o17", "15"), ("0x1f", "31"), ("-12", "-12"), ("+12", "12"),
        ("1_000", #""1_000""#), ("0x1p3", #""0x1p3""#), ("0b11", #""0b11""#), ("+.5e", #""+.5e""#), ("1.5e3", "1500.0"),
        (".5", "0.5"), ("yes", #""yes""#), ("True", "true"), ("~", "null"), ("'true'", #""true""#),
        ("!local 12", #""12""#),
    ])
    func untypedScalarsByTagAndForm(_ yaml: String, _ json: String) throws {
        struct Doc: Decodable { var v: YAMLValue }
        let doc = try decoder.decode(Doc.self, from: Array("v: \(yaml)\n".utf8), file: "t.yaml")
        #expect(doc.v.jsonText == json, "\(yaml)")
    }

    @Test func aTagItsTextDoesNotFitIsAnError() {
        struct Doc: Decodable { var v: YAMLValue }
        #expect(throws: (any Error).self) {
            try decoder.decode(Doc.self, from: Array("v: !!int twelve\n".utf8), file: "t.yaml")
        }
        #expect(throws: (any Error).self) {
            try decoder.decode(Doc.self, from: Array("v: !!bool yes\n".utf8), file: "t.yaml")
        }
    }

    @Test func suggestionsOnlyForCloseWords() {
        #expect(closestMatch(to: "colums", among: ["columns", "key"]) == "columns")
        #expect(closestMatch(to: "zzzzzz", among: ["columns", "key"]) == nil)
    }
}
