/// Decodes ``Node`` trees into `Decodable` models.
///
/// - Every error is a ``YAMLError`` naming the file, line, column and key path.
/// - A mapping key that the target type never asked for is an error, with a "did you mean".
/// - Scalars are typed by the field they decode into (see ``ScalarReader``).
public struct YAMLDecoder: Sendable {
    public var parser: YAMLParser

    public init(parser: YAMLParser = YAMLParser()) {
        self.parser = parser
    }

    public func decode<T: Decodable>(_ type: T.Type, from node: Node, file: String) throws(YAMLError) -> T {
        do {
            return try decodeNode(type, node: node, path: [], file: file)
        } catch let error as YAMLError {
            throw error
        } catch {
            throw YAMLError(
                location: SourceLocation(file: file, line: node.mark.line, column: node.mark.column), path: "",
                message: "\(error)")
        }
    }

    /// Parses and decodes one document; an empty file decodes as an empty mapping.
    public func decode<T: Decodable>(_ type: T.Type, from bytes: [UInt8], file: String) throws(YAMLError) -> T {
        let node = try parser.parse(bytes, file: file) ?? Node(content: .mapping([]), mark: Mark(line: 1, column: 1))
        return try decode(type, from: node, file: file)
    }

    public func decode<T: Decodable>(_ type: T.Type, from text: String, file: String) throws(YAMLError) -> T {
        try decode(type, from: Array(text.utf8), file: file)
    }
}

extension Decoder {
    /// Where the value being decoded starts, when decoding YAML.
    public var yamlLocation: SourceLocation? { (self as? NodeDecoder)?.location }
    /// The node being decoded, when decoding YAML.
    public var yamlNode: Node? { (self as? NodeDecoder)?.node }
}

/// A value together with where it was written, for errors found after decoding.
public struct Located<Value: Decodable & Sendable>: Decodable, Sendable {
    public var value: Value
    public var location: SourceLocation?

    public init(_ value: Value, location: SourceLocation? = nil) {
        self.value = value
        self.location = location
    }

    public init(from decoder: any Decoder) throws {
        location = decoder.yamlLocation
        value = try Value(from: decoder)
    }
}

extension Located: Equatable where Value: Equatable {}
extension Located: Hashable where Value: Hashable {}

/// A closed set of words, such as a column type: decoding an unknown word names the choices.
public protocol YAMLChoice: Decodable, CaseIterable, RawRepresentable where RawValue == String {}

extension YAMLChoice {
    public init(from decoder: any Decoder) throws {
        let word = try decoder.singleValueContainer().decode(String.self)
        guard let value = Self(rawValue: word) else {
            let choices = Self.allCases.map(\.rawValue)
            var message = "unknown value '\(word)'"
            if let match = closestMatch(to: word, among: choices) {
                message += " (did you mean '\(match)'? expected one of: \(choices.joined(separator: ", ")))"
            } else {
                message += " (expected one of: \(choices.joined(separator: ", ")))"
            }
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: message))
        }
        self = value
    }
}

struct AnyKey: CodingKey {
    var stringValue: String
    var intValue: Int?
    init(stringValue: String) { self.stringValue = stringValue }
    init(intValue: Int) {
        self.stringValue = "\(intValue)"
        self.intValue = intValue
    }
}

/// The keys a type asked about while decoding one mapping: anything else in the mapping is unknown.
final class KeyTracker {
    var queried: Set<String> = []
    var tookAllKeys = false
}

func decodeNode<T: Decodable>(_ type: T.Type, node: Node, path: [any CodingKey], file: String) throws -> T {
    let decoder = NodeDecoder(node: node, file: file, codingPath: path)
    do {
        let value = try T(from: decoder)
        try decoder.checkUnknownKeys()
        return value
    } catch let error as YAMLError {
        throw error
    } catch let error as DecodingError {
        // A misspelled required key shows up first as "missing": report the misspelling instead.
        if case .keyNotFound(let key, _) = error, let unknown = decoder.unknownKeyError(near: key.stringValue) {
            throw unknown
        }
        throw decoder.locate(error)
    }
}

final class NodeDecoder: Decoder {
    let node: Node
    let file: String
    let codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }
    var tracker: KeyTracker?

    init(node: Node, file: String, codingPath: [any CodingKey]) {
        self.node = node
        self.file = file
        self.codingPath = codingPath
    }

    var location: SourceLocation { SourceLocation(file: file, line: node.mark.line, column: node.mark.column) }

    func error(_ message: String, at node: Node? = nil, path: [any CodingKey]? = nil) -> YAMLError {
        let n = node ?? self.node
        return YAMLError(
            location: SourceLocation(file: file, line: n.mark.line, column: n.mark.column),
            path: formatPath(path ?? codingPath), message: message)
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        let pairs: [Node.Pair]
        switch node.content {
        case .mapping(let p): pairs = p
        case .scalar(let s) where s.isNull: pairs = []
        default: throw error("expected a mapping, found \(node.kindDescription)")
        }
        for pair in pairs where pair.key.scalarText == nil {
            throw error("mapping keys must be scalars", at: pair.key)
        }
        if tracker == nil { tracker = KeyTracker() }
        return KeyedDecodingContainer(KeyedContainer<Key>(decoder: self, pairs: pairs, tracker: tracker!))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        switch node.content {
        case .sequence(let items): return UnkeyedContainer(decoder: self, items: items)
        case .scalar(let s) where s.isNull: return UnkeyedContainer(decoder: self, items: [])
        default: throw error("expected a sequence, found \(node.kindDescription)")
        }
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer { SingleValueContainer(decoder: self) }

    func checkUnknownKeys() throws {
        if let e = unknownKeyError() { throw e }
    }

    /// The first key of the mapping the type never asked about; with `near`, only one that looks like a
    /// misspelling of that key (decoding stopped early, so other keys may simply not have been asked yet).
    func unknownKeyError(near missing: String? = nil) -> YAMLError? {
        guard let tracker, !tracker.tookAllKeys, case .mapping(let pairs) = node.content else { return nil }
        for pair in pairs {
            guard let key = pair.key.scalarText, !tracker.queried.contains(key) else { continue }
            if let missing, closestMatch(to: key, among: [missing]) == nil { continue }
            let expected = tracker.queried.sorted()
            return error(
                "unknown key '\(key)'\(suggestionSuffix(for: key, among: expected))", at: pair.key,
                path: codingPath + [AnyKey(stringValue: key)])
        }
        return nil
    }

    /// Turns a `DecodingError` into a located error, at the deepest node its coding path reaches.
    func locate(_ error: DecodingError) -> YAMLError {
        switch error {
        case .keyNotFound(let key, let context):
            return self.error("missing required key '\(key.stringValue)'", path: context.codingPath)
        case .typeMismatch(_, let context), .valueNotFound(_, let context), .dataCorrupted(let context):
            let (target, path) = resolve(context.codingPath)
            return self.error(context.debugDescription, at: target, path: path)
        @unknown default:
            return self.error("\(error)")
        }
    }

    private func resolve(_ fullPath: [any CodingKey]) -> (Node, [any CodingKey]) {
        var current = node
        var path = codingPath
        guard fullPath.count > codingPath.count else { return (current, fullPath.isEmpty ? codingPath : fullPath) }
        for key in fullPath[codingPath.count...] {
            switch current.content {
            case .mapping(let pairs):
                guard let next = pairs.first(where: { $0.key.scalarText == key.stringValue }) else {
                    return (current, fullPath)
                }
                current = next.value
            case .sequence(let items):
                guard let i = key.intValue, items.indices.contains(i) else { return (current, fullPath) }
                current = items[i]
            case .scalar:
                return (current, fullPath)
            }
            path.append(key)
        }
        return (current, path)
    }

    // MARK: scalars

    func scalar(expecting what: String) throws -> Node.Scalar {
        guard case .scalar(let s) = node.content else {
            throw error("expected \(what), found \(node.kindDescription)")
        }
        return s
    }

    func decodeString() throws -> String {
        let s = try scalar(expecting: "a string")
        if s.isNull { throw error("expected a string, found null") }
        return s.text
    }

    func decodeBool() throws -> Bool {
        let s = try scalar(expecting: "a boolean")
        guard let b = ScalarReader.bool(s.text) else {
            throw error("expected a boolean (true/false, yes/no, on/off), found '\(s.text)'")
        }
        return b
    }

    func decodeInteger<T: FixedWidthInteger>(_ type: T.Type) throws -> T {
        let s = try scalar(expecting: "an integer")
        guard let v = ScalarReader.integer(s.text, as: T.self) else {
            throw error("expected an integer in \(T.min)...\(T.max), found '\(s.text)'")
        }
        return v
    }

    func decodeDouble() throws -> Double {
        let s = try scalar(expecting: "a number")
        guard let v = ScalarReader.double(s.text) else { throw error("expected a number, found '\(s.text)'") }
        return v
    }
}

struct KeyedContainer<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let decoder: NodeDecoder
    let pairs: [Node.Pair]
    let tracker: KeyTracker

    var codingPath: [any CodingKey] { decoder.codingPath }

    var allKeys: [Key] {
        tracker.tookAllKeys = true
        return pairs.compactMap { $0.key.scalarText.flatMap(Key.init(stringValue:)) }
    }

    private func child(_ key: Key) -> Node? {
        tracker.queried.insert(key.stringValue)
        return pairs.first { $0.key.scalarText == key.stringValue }?.value
    }

    func contains(_ key: Key) -> Bool { child(key) != nil }

    func decodeNil(forKey key: Key) throws -> Bool {
        guard let node = child(key) else { return true }
        if case .scalar(let s) = node.content { return s.isNull }
        return false
    }

    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
        guard let node = child(key) else {
            throw DecodingError.keyNotFound(key, .init(codingPath: codingPath, debugDescription: "missing key"))
        }
        return try decodeNode(type, node: node, path: codingPath + [key], file: decoder.file)
    }

    func decode(_ type: Bool.Type, forKey key: Key) throws -> Bool { try decode(Wrapped<Bool>.self, forKey: key).value }
    func decode(_ type: String.Type, forKey key: Key) throws -> String {
        try decode(Wrapped<String>.self, forKey: key).value
    }
    func decode(_ type: Double.Type, forKey key: Key) throws -> Double {
        try decode(Wrapped<Double>.self, forKey: key).value
    }
    func decode(_ type: Float.Type, forKey key: Key) throws -> Float {
        try decode(Wrapped<Float>.self, forKey: key).value
    }
    func decode(_ type: Int.Type, forKey key: Key) throws -> Int { try decode(Wrapped<Int>.self, forKey: key).value }
    func decode(_ type: Int8.Type, forKey key: Key) throws -> Int8 { try decode(Wrapped<Int8>.self, forKey: key).value }
    func decode(_ type: Int16.Type, forKey key: Key) throws -> Int16 {
        try decode(Wrapped<Int16>.self, forKey: key).value
    }
    func decode(_ type: Int32.Type, forKey key: Key) throws -> Int32 {
        try decode(Wrapped<Int32>.self, forKey: key).value
    }
    func decode(_ type: Int64.Type, forKey key: Key) throws -> Int64 {
        try decode(Wrapped<Int64>.self, forKey: key).value
    }
    func decode(_ type: UInt.Type, forKey key: Key) throws -> UInt { try decode(Wrapped<UInt>.self, forKey: key).value }
    func decode(_ type: UInt8.Type, forKey key: Key) throws -> UInt8 {
        try decode(Wrapped<UInt8>.self, forKey: key).value
    }
    func decode(_ type: UInt16.Type, forKey key: Key) throws -> UInt16 {
        try decode(Wrapped<UInt16>.self, forKey: key).value
    }
    func decode(_ type: UInt32.Type, forKey key: Key) throws -> UInt32 {
        try decode(Wrapped<UInt32>.self, forKey: key).value
    }
    func decode(_ type: UInt64.Type, forKey key: Key) throws -> UInt64 {
        try decode(Wrapped<UInt64>.self, forKey: key).value
    }

    func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws
        -> KeyedDecodingContainer<NestedKey>
    {
        guard let node = child(key) else {
            throw DecodingError.keyNotFound(key, .init(codingPath: codingPath, debugDescription: "missing key"))
        }
        return try NodeDecoder(node: node, file: decoder.file, codingPath: codingPath + [key]).container(keyedBy: type)
    }

    func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
        guard let node = child(key) else {
            throw DecodingError.keyNotFound(key, .init(codingPath: codingPath, debugDescription: "missing key"))
        }
        return try NodeDecoder(node: node, file: decoder.file, codingPath: codingPath + [key]).unkeyedContainer()
    }

    func superDecoder() throws -> any Decoder { decoder }
    func superDecoder(forKey key: Key) throws -> any Decoder {
        let node = child(key) ?? Node(content: .scalar(.init(text: "", style: .plain)), mark: decoder.node.mark)
        return NodeDecoder(node: node, file: decoder.file, codingPath: codingPath + [key])
    }
}

/// Routes primitive decodes through ``decodeNode`` so they get located errors like any other value.
struct Wrapped<T: Decodable>: Decodable {
    let value: T
    init(from decoder: any Decoder) throws {
        value = try decoder.singleValueContainer().decode(T.self)
    }
}

struct UnkeyedContainer: UnkeyedDecodingContainer {
    let decoder: NodeDecoder
    let items: [Node]
    var currentIndex = 0

    init(decoder: NodeDecoder, items: [Node]) {
        self.decoder = decoder
        self.items = items
    }

    var codingPath: [any CodingKey] { decoder.codingPath }
    var count: Int? { items.count }
    var isAtEnd: Bool { currentIndex >= items.count }

    private mutating func next() throws -> (Node, [any CodingKey]) {
        guard !isAtEnd else {
            throw DecodingError.valueNotFound(
                Any.self, .init(codingPath: codingPath, debugDescription: "expected more items in the sequence"))
        }
        defer { currentIndex += 1 }
        return (items[currentIndex], codingPath + [AnyKey(intValue: currentIndex)])
    }

    mutating func decodeNil() throws -> Bool {
        guard !isAtEnd else { return true }
        if case .scalar(let s) = items[currentIndex].content, s.isNull {
            currentIndex += 1
            return true
        }
        return false
    }

    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T {
        let (node, path) = try next()
        return try decodeNode(type, node: node, path: path, file: decoder.file)
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws
        -> KeyedDecodingContainer<NestedKey>
    {
        let (node, path) = try next()
        return try NodeDecoder(node: node, file: decoder.file, codingPath: path).container(keyedBy: type)
    }

    mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer {
        let (node, path) = try next()
        return try NodeDecoder(node: node, file: decoder.file, codingPath: path).unkeyedContainer()
    }

    mutating func superDecoder() throws -> any Decoder {
        let (node, path) = try next()
        return NodeDecoder(node: node, file: decoder.file, codingPath: path)
    }
}

struct SingleValueContainer: SingleValueDecodingContainer {
    let decoder: NodeDecoder
    var codingPath: [any CodingKey] { decoder.codingPath }

    func decodeNil() -> Bool {
        if case .scalar(let s) = decoder.node.content { return s.isNull }
        return false
    }

    func decode(_ type: Bool.Type) throws -> Bool { try decoder.decodeBool() }
    func decode(_ type: String.Type) throws -> String { try decoder.decodeString() }
    func decode(_ type: Double.Type) throws -> Double { try decoder.decodeDouble() }
    func decode(_ type: Float.Type) throws -> Float { Float(try decoder.decodeDouble()) }
    func decode(_ type: Int.Type) throws -> Int { try decoder.decodeInteger(type) }
    func decode(_ type: Int8.Type) throws -> Int8 { try decoder.decodeInteger(type) }
    func decode(_ type: Int16.Type) throws -> Int16 { try decoder.decodeInteger(type) }
    func decode(_ type: Int32.Type) throws -> Int32 { try decoder.decodeInteger(type) }
    func decode(_ type: Int64.Type) throws -> Int64 { try decoder.decodeInteger(type) }
    func decode(_ type: UInt.Type) throws -> UInt { try decoder.decodeInteger(type) }
    func decode(_ type: UInt8.Type) throws -> UInt8 { try decoder.decodeInteger(type) }
    func decode(_ type: UInt16.Type) throws -> UInt16 { try decoder.decodeInteger(type) }
    func decode(_ type: UInt32.Type) throws -> UInt32 { try decoder.decodeInteger(type) }
    func decode(_ type: UInt64.Type) throws -> UInt64 { try decoder.decodeInteger(type) }

    func decode<T: Decodable>(_ type: T.Type) throws -> T {
        // Primitive types reach here through `Wrapped`; decode them from this node directly.
        switch type {
        case is String.Type: return try decoder.decodeString() as! T
        case is Bool.Type: return try decoder.decodeBool() as! T
        case is Int.Type: return try decoder.decodeInteger(Int.self) as! T
        case is Int64.Type: return try decoder.decodeInteger(Int64.self) as! T
        case is Int32.Type: return try decoder.decodeInteger(Int32.self) as! T
        case is UInt32.Type: return try decoder.decodeInteger(UInt32.self) as! T
        case is UInt16.Type: return try decoder.decodeInteger(UInt16.self) as! T
        case is UInt8.Type: return try decoder.decodeInteger(UInt8.self) as! T
        case is UInt64.Type: return try decoder.decodeInteger(UInt64.self) as! T
        case is UInt.Type: return try decoder.decodeInteger(UInt.self) as! T
        case is Double.Type: return try decoder.decodeDouble() as! T
        case is Float.Type: return Float(try decoder.decodeDouble()) as! T
        default: return try T(from: decoder)
        }
    }
}

/// The errors of one `decodeReportingAll`, gathered from the parts that could be skipped.
// Unchecked: one decode uses it, on the thread that runs the decode, and reads it once that decode is done.
final class YAMLErrorCollector: @unchecked Sendable {
    var errors: [YAMLError] = []
    @TaskLocal static var current: YAMLErrorCollector?
}

extension YAMLDecoder {
    /// Decodes, going on past parts that report their error and skip themselves (`Decoder.skipReporting`: each
    /// entry of a schema's tables and columns), so that a file with several mistakes gets them all at once.
    /// Returns the value when there was no error, and every error found.
    public func decodeReportingAll<T: Decodable>(_ type: T.Type, from bytes: [UInt8], file: String) -> (
        value: T?, errors: [YAMLError]
    ) {
        let collector = YAMLErrorCollector()
        let result: Result<T, YAMLError> = YAMLErrorCollector.$current.withValue(collector) {
            () -> Result<T, YAMLError> in
            do throws(YAMLError) {
                return .success(try decode(type, from: bytes, file: file))
            } catch {
                return .failure(error)
            }
        }
        switch result {
        case .success(let value): return (collector.errors.isEmpty ? value : nil, collector.errors)
        case .failure(let error): return (nil, collector.errors + [error])
        }
    }
}

extension Decoder {
    /// Within `decodeReportingAll`, keeps `error` to report and returns true (the caller skips the bad part and
    /// goes on); elsewhere returns false (the caller throws it).
    public func skipReporting(_ error: any Error) -> Bool {
        guard let collector = YAMLErrorCollector.current else { return false }
        if let located = error as? YAMLError {
            collector.errors.append(located)
        } else if let decoder = self as? NodeDecoder, let decodingError = error as? DecodingError {
            collector.errors.append(decoder.locate(decodingError))
        } else {
            collector.errors.append(
                YAMLError(
                    location: yamlLocation ?? SourceLocation(file: "?", line: 0, column: 0), path: "",
                    message: "\(error)"))
        }
        return true
    }
}
