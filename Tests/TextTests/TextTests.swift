import Foundation
import Synchronization
import Testing
import Threads

@testable import Text

/// The helpers that replace Foundation's (the product links FoundationEssentials only) give what Foundation gave.
@Suite("text helpers")
struct TextTests {
    @Test("trimming as CharacterSet trimmed", arguments: [" a b \n", "\t\r\n", "", "x", "\u{00A0}y\u{2003}"])
    func trimmingMatchesFoundation(_ text: String) {
        #expect(text.trimmed() == text.trimmingCharacters(in: .whitespacesAndNewlines))
        #expect(text.trimmedNewlines() == text.trimmingCharacters(in: .newlines))
        #expect(text.trimmed(in: " \t") == text.trimmingCharacters(in: CharacterSet(charactersIn: " \t")))
    }

    @Test func spacesStopAtLineBreaks() {
        #expect(" \t a \n".trimmedSpaces() == "a \n")
        #expect("[::1]".trimmed(in: "[]") == "::1")
        #expect("///".trimmed(in: "/") == "")
    }

    @Test(
        "fixed-point numbers as %.Nf printed them", arguments: [0.0, 1.005, 2.5, -0.004, 12.3456, 99.995, -3.75, 1e6])
    func fixedMatchesPrintf(_ value: Double) {
        for digits in 0...3 {
            #expect(fixed(value, digits: digits) == String(format: "%.\(digits)f", value), "\(value) \(digits)")
        }
        #expect(fixed(value, digits: 2, width: 9) == String(format: "%9.2f", value))
    }

    @Test func zeroPaddingAndColumns() {
        #expect(zeroPadded(7, width: 2) == "07")
        #expect(zeroPadded(2026, width: 4) == "2026")
        #expect(zeroPadded(-5, width: 3) == "-005")
        #expect("ab".padded(to: 4) == "ab  ")
        #expect("abcdef".padded(to: 3) == "abc")
    }

    @Test(
        "path components as NSString gives them",
        arguments: [
            ("/a/b", "b", "/a"), ("/a/b/", "b", "/a"), ("a", "a", ""), ("/", "/", "/"), ("", "", ""),
            ("//x//", "x", "/"), ("a/b.lease", "b.lease", "a"), ("/a", "a", "/"),
        ])
    func pathComponents(_ path: String, last: String, parent: String) {
        #expect(lastPathComponent(path) == last, "\(path)")
        #expect(deletingLastPathComponent(path) == parent, "\(path)")
    }

    @Test func timestampsAreUTCToTheSecond() {
        let date = Date(timeIntervalSince1970: 1_796_239_640)
        #expect(iso8601(date) == "2026-12-02T19:27:20Z")
        #expect(iso8601(secondsSince1970: 0) == "1970-01-01T00:00:00Z")
        #expect(parseISO8601("2026-12-02T19:27:20Z") == date)
        #expect(parseISO8601("2026-12-02T19:27:20.250Z") == date.addingTimeInterval(0.25))
        #expect(parseISO8601("yesterday") == nil)
    }

    @Test func jsonValuesReadAndPrintAsWritten() throws {
        #expect(JSONValue(parsing: "3") == .integer(3))
        #expect(JSONValue(parsing: "1.5") == .number(1.5))
        #expect(JSONValue(parsing: "true") == .bool(true))
        #expect(JSONValue(parsing: "null") == .null)
        #expect(JSONValue(parsing: "\"a/b\"")?.text == "\"a/b\"")
        let object = try #require(JSONValue(parsing: #"{"b": [1, 2.5, "x"], "a": {"n": null}}"#))
        #expect(object.text == #"{"a":{"n":null},"b":[1,2.5,"x"]}"#)
        for good in ["1E+2", "-0.5e-3", #""\u00e9\n""#, " [ ] ", "{\"a\":{}}", "0"] {
            #expect(isStrictJSON(good.utf8), "\(good)")
        }
        #expect(isStrictJSON(String(repeating: "[", count: 600).utf8) == false)
        for bad in [
            "", "{", "[1,]", "{\"a\":1,}", "AA:BB", "{'a': 1}", "nul", "01", "1.", "-", "1e", #""\x""#, "\"a\u{1}\"",
            "[1] 2",
        ] {
            #expect(JSONValue(parsing: bad) == nil, "\(bad)")
        }
    }

    @Test func detachedThreadsRunTheirBodies() {
        let count = Mutex(0)
        let done = DispatchSemaphore(value: 0)
        for _ in 0..<8 {
            detachThread {
                for _ in 0..<1000 { count.withLock { $0 += 1 } }
                done.signal()
            }
        }
        for _ in 0..<8 { done.wait() }
        #expect(count.withLock { $0 } == 8000)
    }
}
