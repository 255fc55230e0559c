import CYAML

/// libyaml's events one at a time, for a reader of a large document of a known shape that would rather not
/// build a ``Node`` tree first (a bundle manifest lists every file of a bundle, often tens of thousands).
///
/// It applies none of ``YAMLParser``'s rules for aliases, merge keys or duplicate keys, and none of its limits:
/// a reader that meets an anchor, an alias, a tag or a key it does not expect should hand the document to
/// ``YAMLParser`` instead, which gives the located error or the general reading.
///
/// Not copyable: it owns the libyaml event last read, which it deletes when the next is read or it goes away.
public struct YAMLEventReader: ~Copyable {
    public enum Kind: Sendable, Equatable {
        case streamStart, streamEnd, documentStart, documentEnd
        case alias, scalar, sequenceStart, sequenceEnd, mappingStart, mappingEnd
    }

    /// The event last read by `next()`.
    public private(set) var kind: Kind = .streamStart
    /// Where it starts.
    public private(set) var mark = Mark(line: 1, column: 1)
    /// Whether it carries an anchor (`&name`) or an explicit tag (`!!str`, `!x`).
    public private(set) var isDecorated = false
    /// A scalar's style.
    public private(set) var style: Node.ScalarStyle = .plain

    private let parser: LibYAMLParser
    private var event = yaml_event_t()
    private var holdsEvent = false

    public init(_ bytes: [UInt8], file: String) {
        parser = LibYAMLParser(bytes: bytes, file: file)
    }

    deinit {
        guard holdsEvent else { return }
        var last = event  // the same pointers; deinit cannot mutate self
        yaml_event_delete(&last)
    }

    /// Reads the next event; malformed YAML is an error naming its line and column.
    public mutating func next() throws(YAMLError) {
        if holdsEvent {
            yaml_event_delete(&event)
            holdsEvent = false
        }
        try parser.next(&event)
        holdsEvent = true
        mark = Mark(line: Int(event.start_mark.line) + 1, column: Int(event.start_mark.column) + 1)
        isDecorated = false
        style = .plain
        switch event.type {
        case YAML_STREAM_START_EVENT: kind = .streamStart
        case YAML_STREAM_END_EVENT: kind = .streamEnd
        case YAML_DOCUMENT_START_EVENT: kind = .documentStart
        case YAML_DOCUMENT_END_EVENT: kind = .documentEnd
        case YAML_ALIAS_EVENT: kind = .alias
        case YAML_SCALAR_EVENT:
            kind = .scalar
            let s = event.data.scalar
            isDecorated =
                s.anchor != nil || explicitTag(s.tag, plain: s.style == YAML_PLAIN_SCALAR_STYLE) != nil
            style = YAML.style(s.style)
        case YAML_SEQUENCE_START_EVENT:
            kind = .sequenceStart
            isDecorated = event.data.sequence_start.anchor != nil || event.data.sequence_start.tag != nil
        case YAML_SEQUENCE_END_EVENT: kind = .sequenceEnd
        case YAML_MAPPING_START_EVENT:
            kind = .mappingStart
            isDecorated = event.data.mapping_start.anchor != nil || event.data.mapping_start.tag != nil
        case YAML_MAPPING_END_EVENT: kind = .mappingEnd
        default: kind = .streamEnd
        }
    }

    /// The scalar's bytes (UTF-8), valid until the next call to `next()`; empty for other events.
    public var scalarBytes: UnsafeBufferPointer<UInt8> {
        guard holdsEvent, event.type == YAML_SCALAR_EVENT else { return UnsafeBufferPointer(start: nil, count: 0) }
        return UnsafeBufferPointer(start: event.data.scalar.value, count: event.data.scalar.length)
    }

    /// The scalar's text.
    public var scalarText: String { String(decoding: scalarBytes, as: UTF8.self) }

    /// Whether the scalar's text is `text`, compared without making a string.
    public func scalarIs(_ text: StaticString) -> Bool {
        scalarBytes.elementsEqual(UnsafeBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }
}
