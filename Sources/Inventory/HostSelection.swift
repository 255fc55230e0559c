import Glibc
import Text

/// What a host is known by, for selecting it: its name, role and site from the plans, its status and tags
/// from the inventory.
public struct HostFacts: Sendable, Hashable {
    public var name: String
    public var role: String?
    public var site: String?
    public var status: String?
    public var tags: Set<String>

    public init(name: String, role: String? = nil, site: String? = nil, status: String? = nil, tags: Set<String> = []) {
        self.name = name
        self.role = role
        self.site = site
        self.status = status
        self.tags = tags
    }
}

/// Which hosts a command acts on, written as Ansible's `--limit` is: terms separated by `:` or `,`; a plain
/// term adds the hosts it matches, `&term` keeps only hosts that also match it, `!term` removes hosts that
/// match it (`web:&fra1:!web03`). A term is a glob (`web0*`) over the name, role, site or a tag, or one field
/// only: `name=`, `role=`, `site=`, `tag=`, `status=`. `all` is every host. A range in brackets stands for each
/// of its values, as in an Ansible inventory: `web[01:05]` is web01 … web05 (the width of the first bound is
/// kept), `rack[a:c]` is racka … rackc. With no plain term, the start is every host.
public struct HostSelection: Sendable, Equatable, CustomStringConvertible {
    public enum Field: String, Sendable, CaseIterable {
        case name, role, site, tag, status
    }

    public enum Operation: Sendable, Equatable {
        case add, intersect, exclude
    }

    public struct Term: Sendable, Equatable {
        public var operation: Operation
        /// nil: the name, role, site or any tag.
        public var field: Field?
        public var pattern: String
        /// The globs the pattern stands for, its ranges expanded (`web[01:03]`: web01, web02, web03).
        public var globs: [String]
    }

    /// The ranges of a selection stand for at most this many globs in all.
    public static let maxExpansion = 10_000

    public var terms: [Term]
    public var text: String

    public var description: String { text }

    /// A selection names at most this many terms; a longer one is a mistake, not a fleet.
    public static let maxTerms = 256

    public init(parsing text: String) throws(SelectionError) {
        self.text = text
        terms = []
        var offset = 0
        var expanded = 0
        let pieces = Self.split(text)
        guard pieces.count <= Self.maxTerms else {
            throw SelectionError(text: text, column: 1, message: "more than \(Self.maxTerms) terms")
        }
        for piece in pieces {
            let column = offset + 1
            offset += piece.count + 1
            var body = Substring(piece.trimmedSpaces())
            var operation = Operation.add
            if body.first == "&" {
                operation = .intersect
                body = body.dropFirst()
            } else if body.first == "!" {
                operation = .exclude
                body = body.dropFirst()
            }
            var field: Field?
            if let equals = body.firstIndex(of: "=") {
                let name = String(body[..<equals])
                guard let known = Field(rawValue: name) else {
                    throw SelectionError(
                        text: text, column: column,
                        message:
                            "unknown field '\(name)' (fields: \(Field.allCases.map(\.rawValue).joined(separator: ", ")))"
                    )
                }
                field = known
                body = body[body.index(after: equals)...]
            }
            guard !body.isEmpty else {
                throw SelectionError(text: text, column: column, message: "an empty term")
            }
            guard !body.unicodeScalars.contains(where: { $0.value < 0x20 || $0 == "&" || $0 == "!" || $0 == "=" })
            else {
                throw SelectionError(
                    text: text, column: column,
                    message: "'\(body)': a pattern holds no control characters, '&', '!' or '=' but at its start")
            }
            let globs: [String]
            do {
                globs = try Self.expandRanges(String(body))
            } catch {
                throw SelectionError(text: text, column: column, message: "'\(body)': \(error.message)")
            }
            expanded += globs.count
            guard expanded <= Self.maxExpansion else {
                throw SelectionError(
                    text: text, column: column, message: "its ranges stand for more than \(Self.maxExpansion) names")
            }
            terms.append(Term(operation: operation, field: field, pattern: String(body), globs: globs))
        }
    }

    /// The terms: split at `:` and `,` outside brackets (a range's `:` is its own).
    static func split(_ text: String) -> [Substring] {
        var pieces: [Substring] = []
        var depth = 0
        var start = text.startIndex
        for index in text.indices {
            let character = text[index]
            if character == "[" {
                depth += 1
            } else if character == "]" {
                depth = max(0, depth - 1)
            } else if depth == 0, character == ":" || character == "," {
                pieces.append(text[start..<index])
                start = text.index(after: index)
            }
        }
        pieces.append(text[start...])
        return pieces
    }

    struct RangeError: Error { var message: String }

    /// `web[01:03]x` → web01x, web02x, web03x; letters too (`[a:c]`); brackets without a range stay globs.
    static func expandRanges(_ pattern: String) throws(RangeError) -> [String] {
        var results = [""]
        var rest = Substring(pattern)
        while let open = rest.firstIndex(of: "[") {
            guard let close = rest[open...].firstIndex(of: "]") else { break }
            let inside = rest[rest.index(after: open)..<close]
            let bounds = inside.split(separator: ":", omittingEmptySubsequences: false)
            let prefix = rest[..<open]
            guard bounds.count == 2 else {
                // Not a range: a glob's character class, kept as it is.
                results = results.map { $0 + prefix + rest[open...close] }
                rest = rest[rest.index(after: close)...]
                continue
            }
            let (first, last) = (String(bounds[0]), String(bounds[1]))
            var values: [String]
            if let low = Int(first), let high = Int(last), first.allSatisfy(\.isASCII), last.allSatisfy(\.isASCII) {
                guard low <= high else { throw RangeError(message: "the range [\(inside)] runs backwards") }
                guard high - low < maxExpansion else { throw RangeError(message: "the range [\(inside)] is too long") }
                let width = first.count
                values = (low...high).map { value in
                    let digits = String(value)
                    return String(repeating: "0", count: max(0, width - digits.count)) + digits
                }
            } else if first.count == 1, last.count == 1, let a = first.unicodeScalars.first,
                let b = last.unicodeScalars.first, a.properties.isLowercase || a.properties.isUppercase,
                a.isASCII, b.isASCII, a.properties.isLowercase == b.properties.isLowercase
            {
                guard a.value <= b.value else { throw RangeError(message: "the range [\(inside)] runs backwards") }
                values = (a.value...b.value).compactMap { Unicode.Scalar($0).map { String(Character($0)) } }
            } else {
                throw RangeError(message: "[\(inside)] is not a range of numbers or of letters")
            }
            guard results.count * values.count <= maxExpansion else {
                throw RangeError(message: "its ranges stand for more than \(maxExpansion) names")
            }
            results = results.flatMap { head in values.map { head + prefix + $0 } }
            rest = rest[rest.index(after: close)...]
        }
        return results.map { $0 + rest }
    }

    /// Whether the host is selected.
    public func matches(_ host: HostFacts) -> Bool {
        let adding = terms.filter { $0.operation == .add }
        var selected = adding.isEmpty || adding.contains { Self.matches($0, host) }
        for term in terms where term.operation != .add && selected {
            let hit = Self.matches(term, host)
            selected = term.operation == .intersect ? hit : !hit
        }
        return selected
    }

    static func matches(_ term: Term, _ host: HostFacts) -> Bool {
        if term.field == nil, term.pattern == "all" { return true }
        func glob(_ value: String?) -> Bool {
            guard let value else { return false }
            return term.globs.contains { fnmatch($0, value, 0) == 0 }
        }
        switch term.field {
        case .name: return glob(host.name)
        case .role: return glob(host.role)
        case .site: return glob(host.site)
        case .status: return glob(host.status)
        case .tag: return host.tags.contains { glob($0) }
        case nil: return glob(host.name) || glob(host.role) || glob(host.site) || host.tags.contains { glob($0) }
        }
    }
}

/// A selection that cannot be read, with the column of the term at fault.
public struct SelectionError: Error, Sendable, CustomStringConvertible {
    public var text: String
    public var column: Int
    public var message: String

    public var description: String { "host selection '\(text)', column \(column): \(message)" }
}
