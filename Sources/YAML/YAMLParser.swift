import CYAML

/// Reads YAML text into ``Node`` trees through libyaml's event API.
///
/// The event API (rather than libyaml's document loader) keeps each alias's own position and lets us
/// bound what aliases expand to: a "billion laughs" document fails with an error instead of eating memory.
public struct YAMLParser: Sendable {
    /// Upper bounds that keep hostile input from exhausting memory or the stack.
    public struct Limits: Sendable {
        /// Nodes in the document once every alias is expanded.
        public var maxExpandedNodes: Int
        /// Nesting of sequences and mappings.
        public var maxDepth: Int

        public init(maxExpandedNodes: Int = 1_000_000, maxDepth: Int = 200) {
            self.maxExpandedNodes = maxExpandedNodes
            self.maxDepth = maxDepth
        }
    }

    public var limits: Limits

    public init(limits: Limits = Limits()) {
        self.limits = limits
    }

    /// Parses every document of a stream.
    /// - Parameters:
    ///   - bytes: the file's contents (UTF-8, UTF-16 with BOM; anything else is an error with its position).
    ///   - file: the name used in error locations.
    public func parseAll(_ bytes: [UInt8], file: String) throws(YAMLError) -> [Node] {
        let session = ParseSession(bytes: bytes, file: file, limits: limits)
        return try session.run()
    }

    /// Parses a stream that holds at most one document; an empty stream gives nil.
    public func parse(_ bytes: [UInt8], file: String) throws(YAMLError) -> Node? {
        let documents = try parseAll(bytes, file: file)
        if documents.count > 1 {
            throw YAMLError(
                location: SourceLocation(file: file, line: documents[1].mark.line, column: documents[1].mark.column),
                path: "", message: "expected one YAML document, found \(documents.count)")
        }
        return documents.first
    }

    public func parse(_ text: String, file: String) throws(YAMLError) -> Node? {
        try parse(Array(text.utf8), file: file)
    }
}

/// Owns one `yaml_parser_t` and the input it reads from (libyaml keeps a pointer to the input), and turns its
/// failures into located errors.
final class LibYAMLParser {
    private let parser: UnsafeMutablePointer<yaml_parser_t>
    private let input: UnsafeMutableBufferPointer<UInt8>
    let file: String

    init(bytes: [UInt8], file: String) {
        self.file = file
        input = .allocate(capacity: max(bytes.count, 1))
        _ = input.initialize(from: bytes)
        parser = .allocate(capacity: 1)
        yaml_parser_initialize(parser)
        yaml_parser_set_input_string(parser, input.baseAddress, bytes.count)
    }

    deinit {
        yaml_parser_delete(parser)
        parser.deallocate()
        input.deallocate()
    }

    /// The next event into `event`, which the caller deletes with `yaml_event_delete`.
    func next(_ event: inout yaml_event_t) throws(YAMLError) {
        guard yaml_parser_parse(parser, &event) == 1 else { throw libyamlError() }
    }

    func error(_ message: String, at mark: Mark) -> YAMLError {
        YAMLError(
            location: SourceLocation(file: file, line: mark.line, column: mark.column), path: "", message: message)
    }

    private func libyamlError() -> YAMLError {
        let p = parser.pointee
        let problem = p.problem.map { String(cString: $0) } ?? "malformed YAML"
        var message = problem
        if let context = p.context.map({ String(cString: $0) }) {
            message = "\(problem) (\(context) at line \(p.context_mark.line + 1), column \(p.context_mark.column + 1))"
        }
        if p.error == YAML_READER_ERROR {
            // The reader reports a byte offset, not a line: say where in bytes, and what.
            return error(
                "\(problem) at byte \(p.problem_offset) (the file must be UTF-8)", at: Mark(line: 1, column: 1))
        }
        return error(message, at: Mark(line: Int(p.problem_mark.line) + 1, column: Int(p.problem_mark.column) + 1))
    }
}

/// Builds the node trees of a stream from its events.
private final class ParseSession {
    private let parser: LibYAMLParser
    private let file: String
    private let limits: YAMLParser.Limits

    /// An open sequence or mapping. A class, so that appending to it happens in place: with value types,
    /// every item added to a long sequence would copy the sequence.
    private final class Frame {
        let isMapping: Bool
        let mark: Mark
        let anchor: String?
        let startCount: Int
        var items: [Node] = []
        var pairs: [Node.Pair] = []
        var pendingKey: Node?

        init(isMapping: Bool, mark: Mark, anchor: String?, startCount: Int) {
            self.isMapping = isMapping
            self.mark = mark
            self.anchor = anchor
            self.startCount = startCount
        }
    }

    private var frames: [Frame] = []
    private var anchors: [String: (node: Node, weight: Int)] = [:]
    private var expandedCount = 0
    private var documents: [Node] = []

    init(bytes: [UInt8], file: String, limits: YAMLParser.Limits) {
        self.file = file
        self.limits = limits
        parser = LibYAMLParser(bytes: bytes, file: file)
    }

    private func error(_ message: String, at mark: Mark) -> YAMLError { parser.error(message, at: mark) }

    func run() throws(YAMLError) -> [Node] {
        var event = yaml_event_t()
        while true {
            try parser.next(&event)
            defer { yaml_event_delete(&event) }
            let mark = Mark(line: Int(event.start_mark.line) + 1, column: Int(event.start_mark.column) + 1)
            switch event.type {
            case YAML_STREAM_END_EVENT:
                return documents
            case YAML_DOCUMENT_START_EVENT:
                anchors = [:]
            case YAML_SCALAR_EVENT:
                let s = event.data.scalar
                let text = String(decoding: UnsafeBufferPointer(start: s.value, count: s.length), as: UTF8.self)
                let node = Node(
                    content: .scalar(
                        .init(
                            text: text, style: style(s.style),
                            tag: explicitTag(s.tag, plain: s.style == YAML_PLAIN_SCALAR_STYLE))),
                    mark: mark)
                try count(1, at: mark)
                try register(anchor: s.anchor, node: node, weight: 1)
                try add(node)
            case YAML_ALIAS_EVENT:
                let name = String(cString: event.data.alias.anchor)
                guard let anchored = anchors[name] else { throw error("unknown alias '*\(name)'", at: mark) }
                try count(anchored.weight, at: mark)
                try add(anchored.node)
            case YAML_SEQUENCE_START_EVENT:
                let anchor = anchorString(event.data.sequence_start.anchor)
                try push(Frame(isMapping: false, mark: mark, anchor: anchor, startCount: expandedCount), at: mark)
            case YAML_MAPPING_START_EVENT:
                let anchor = anchorString(event.data.mapping_start.anchor)
                try push(Frame(isMapping: true, mark: mark, anchor: anchor, startCount: expandedCount), at: mark)
            case YAML_SEQUENCE_END_EVENT, YAML_MAPPING_END_EVENT:
                guard let frame = frames.popLast(), frame.isMapping == (event.type == YAML_MAPPING_END_EVENT) else {
                    throw error("unbalanced collection", at: mark)
                }
                let content: Node.Content =
                    frame.isMapping ? .mapping(try mergeAndCheck(frame.pairs)) : .sequence(frame.items)
                try finish(Node(content: content, mark: frame.mark), anchor: frame.anchor, startCount: frame.startCount)
            default:
                break
            }
        }
    }

    private func push(_ frame: Frame, at mark: Mark) throws(YAMLError) {
        if frames.count >= limits.maxDepth {
            throw error("nesting deeper than \(limits.maxDepth) levels", at: mark)
        }
        try count(1, at: mark)
        frames.append(frame)
    }

    private func finish(_ node: Node, anchor: String?, startCount: Int) throws(YAMLError) {
        if let anchor {
            anchors[anchor] = (node, expandedCount - startCount)
        }
        try add(node)
    }

    private func count(_ n: Int, at mark: Mark) throws(YAMLError) {
        expandedCount += n
        if expandedCount > limits.maxExpandedNodes {
            throw error(
                "document expands to more than \(limits.maxExpandedNodes) nodes (aliases nested too deeply?)", at: mark)
        }
    }

    private func register(anchor: UnsafeMutablePointer<yaml_char_t>?, node: Node, weight: Int) throws(YAMLError) {
        if let name = anchorString(anchor) { anchors[name] = (node, weight) }
    }

    private func add(_ node: Node) throws(YAMLError) {
        guard let top = frames.last else {
            documents.append(node)
            return
        }
        if !top.isMapping {
            top.items.append(node)
        } else if let key = top.pendingKey {
            top.pairs.append(Node.Pair(key: key, value: node))
            top.pendingKey = nil
        } else {
            top.pendingKey = node
        }
    }

    /// Applies `<<` merge keys (explicit keys win) and rejects duplicate keys.
    private func mergeAndCheck(_ pairs: [Node.Pair]) throws(YAMLError) -> [Node.Pair] {
        // Most mappings are small and merge nothing (a manifest has one per file): comparing their keys pairwise
        // costs less than hashing them into a dictionary, and the pairs are returned as they are.
        if pairs.count <= 12 {
            var simple = true
            for (i, pair) in pairs.enumerated() {
                guard case .scalar(let key) = pair.key.content else { continue }
                if key.text == "<<" && key.style == .plain {
                    simple = false
                    break
                }
                for earlier in pairs[..<i] where earlier.key.scalarText == key.text {
                    throw error(
                        "duplicate key '\(key.text)' (first at line \(earlier.key.mark.line), column \(earlier.key.mark.column))",
                        at: pair.key.mark)
                }
            }
            if simple { return pairs }
        }
        var result: [Node.Pair] = []
        var merged: [Node.Pair] = []
        var seen: [String: Mark] = [:]
        for pair in pairs {
            if case .scalar(let k) = pair.key.content, k.text == "<<", k.style == .plain {
                switch pair.value.content {
                case .mapping(let inner): merged += inner
                case .sequence(let items):
                    for item in items {
                        guard case .mapping(let inner) = item.content else {
                            throw error("a merge key (<<) takes a mapping or a list of mappings", at: item.mark)
                        }
                        merged += inner
                    }
                default: throw error("a merge key (<<) takes a mapping or a list of mappings", at: pair.value.mark)
                }
                continue
            }
            if let text = pair.key.scalarText {
                if let first = seen[text] {
                    throw error(
                        "duplicate key '\(text)' (first at line \(first.line), column \(first.column))",
                        at: pair.key.mark)
                }
                seen[text] = pair.key.mark
            }
            result.append(pair)
        }
        for pair in merged {
            guard let text = pair.key.scalarText, seen[text] == nil else { continue }
            seen[text] = pair.key.mark
            result.append(pair)
        }
        return result
    }

    private func anchorString(_ p: UnsafeMutablePointer<yaml_char_t>?) -> String? {
        p.map { String(cString: $0) }
    }

}

/// A scalar's explicit tag, or nil. The non-specific `!` is kept on a plain scalar (`! 12` is the text "12",
/// YAML 1.2 example 6.28) and dropped on a quoted one, which is text anyway.
func explicitTag(_ p: UnsafeMutablePointer<yaml_char_t>?, plain: Bool) -> String? {
    guard let p else { return nil }
    let tag = String(cString: p)
    return tag == "!" && !plain ? nil : tag
}

/// A scalar's style as the node tree records it.
func style(_ s: yaml_scalar_style_t) -> Node.ScalarStyle {
    switch s {
    case YAML_SINGLE_QUOTED_SCALAR_STYLE: return .singleQuoted
    case YAML_DOUBLE_QUOTED_SCALAR_STYLE: return .doubleQuoted
    case YAML_LITERAL_SCALAR_STYLE: return .literal
    case YAML_FOLDED_SCALAR_STYLE: return .folded
    default: return .plain
    }
}
