/// A YAML node with its position, as read by ``YAMLParser``.
///
/// Aliases are already resolved into copies of their anchored node; merge keys (`<<`) are applied.
/// Scalars stay text: their type is decided by whoever decodes them, never guessed here.
public struct Node: Sendable {
    public enum ScalarStyle: Sendable, Hashable {
        case plain, singleQuoted, doubleQuoted, literal, folded
    }

    public struct Scalar: Sendable, Hashable {
        public var text: String
        public var style: ScalarStyle
        /// An explicit tag such as `!!str`, or nil when the scalar carried none.
        public var tag: String?

        /// A plain `~`, `null` or empty scalar: YAML's null.
        public var isNull: Bool {
            style == .plain && tag == nil
                && (text.isEmpty || text == "~" || text == "null" || text == "Null" || text == "NULL")
        }
    }

    public struct Pair: Sendable {
        public var key: Node
        public var value: Node
    }

    public enum Content: Sendable {
        case scalar(Scalar)
        case sequence([Node])
        case mapping([Pair])
    }

    public var content: Content
    public var mark: Mark

    public init(content: Content, mark: Mark) {
        self.content = content
        self.mark = mark
    }

    /// The scalar's text, if this node is a scalar.
    public var scalarText: String? {
        if case .scalar(let s) = content { return s.text }
        return nil
    }

    /// What kind of node this is, in words for error messages.
    public var kindDescription: String {
        switch content {
        case .scalar(let s): return s.isNull ? "null" : "the scalar '\(s.text.prefix(40))'"
        case .sequence: return "a sequence"
        case .mapping: return "a mapping"
        }
    }

    /// The value for a scalar key of a mapping, if present.
    public subscript(key: String) -> Node? {
        guard case .mapping(let pairs) = content else { return nil }
        return pairs.first { $0.key.scalarText == key }?.value
    }
}
