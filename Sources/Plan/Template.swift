import FoundationEssentials
import Glibc
import Text
import YAML

/// A string with `{{variable}}` placeholders, filled per host.
public struct Template: Sendable, Hashable {
    public enum Part: Sendable, Hashable {
        case literal(String)
        case variable(String)
    }

    public var text: String
    public var parts: [Part]
    public var location: SourceLocation?

    /// Parses `text`; an unclosed `{{` or an empty `{{}}` is an error.
    public init(_ text: String, location: SourceLocation? = nil) throws(PlanIssue) {
        self.text = text
        self.location = location
        var parts: [Part] = []
        var rest = Substring(text)
        while let open = rest.firstRange(of: "{{") {
            if open.lowerBound > rest.startIndex { parts.append(.literal(String(rest[..<open.lowerBound]))) }
            guard let close = rest[open.upperBound..<rest.endIndex].firstRange(of: "}}") else {
                throw PlanIssue(location, "unclosed '{{' in '\(text)'")
            }
            let name = rest[open.upperBound..<close.lowerBound].trimmedSpaces()
            guard !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" || $0 == "." || $0 == "-" })
            else {
                throw PlanIssue(location, "'{{\(name)}}' is not a variable name")
            }
            parts.append(.variable(name))
            rest = rest[close.upperBound...]
        }
        if !rest.isEmpty { parts.append(.literal(String(rest))) }
        self.parts = parts
    }

    public var variables: [String] {
        parts.compactMap { if case .variable(let v) = $0 { return v } else { return nil } }
    }

    /// A variable the values did not have.
    public struct MissingVariable: Error, Sendable {
        public var name: String
    }

    /// How a value goes into the text.
    public enum Quoting: Sendable {
        /// As it is (paths, URLs, names).
        case none
        /// As one word of a `/bin/sh` command: a value holding anything but letters, digits and `_./:@%+=,-` is
        /// single-quoted, so a host's variable can never add a command to a hook, a run command or a check.
        case shell
    }

    /// The text with every variable replaced, or the first variable `values` lacks.
    public func render(_ values: [String: String], quoting: Quoting = .none) -> Result<String, MissingVariable> {
        var out = ""
        for part in parts {
            switch part {
            case .literal(let s): out += s
            case .variable(let v):
                guard let value = values[v] else { return .failure(MissingVariable(name: v)) }
                out += quoting == .shell ? Template.shellWord(value) : value
            }
        }
        return .success(out)
    }

    /// `value` as one word for `/bin/sh`: unchanged when it holds only safe characters, else single-quoted.
    public static func shellWord(_ value: String) -> String {
        let safe =
            !value.isEmpty
            && value.utf8.allSatisfy { c in
                (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || "_./:@%+=,-".utf8.contains(c)
            }
        return safe ? value : "'" + value.replacing("'", with: "'\\''") + "'"
    }
}
