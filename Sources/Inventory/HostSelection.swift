import Glibc

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
/// only: `name=`, `role=`, `site=`, `tag=`, `status=`. With no plain term, the start is every host.
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
    }

    public var terms: [Term]
    public var text: String

    public var description: String { text }

    /// A selection names at most this many terms; a longer one is a mistake, not a fleet.
    public static let maxTerms = 256

    public init(parsing text: String) throws(SelectionError) {
        self.text = text
        terms = []
        var offset = 0
        let pieces = text.split(omittingEmptySubsequences: false) { $0 == ":" || $0 == "," }
        guard pieces.count <= Self.maxTerms else {
            throw SelectionError(text: text, column: 1, message: "more than \(Self.maxTerms) terms")
        }
        for piece in pieces {
            let column = offset + 1
            offset += piece.count + 1
            var body = Substring(piece.trimmingCharacters(in: .whitespaces))
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
            terms.append(Term(operation: operation, field: field, pattern: String(body)))
        }
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
        func glob(_ value: String?) -> Bool { value.map { fnmatch(term.pattern, $0, 0) == 0 } ?? false }
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
