/// A value of no fixed type, for free-form fields such as `attrs` or host variables.
///
/// Plain scalars are resolved by the YAML 1.2 core schema (`true`, `12`, `1.5`, `null`); quoted
/// scalars are always strings. Use a typed field instead wherever the meaning is known.
public enum YAMLValue: Sendable, Hashable, Decodable {
    case null
    case bool(Bool)
    case integer(Int64)
    case double(Double)
    case string(String)
    case array([YAMLValue])
    case object([String: YAMLValue])

    public init(from decoder: any Decoder) throws {
        guard let node = decoder.yamlNode else {
            let c = try decoder.singleValueContainer()
            self = .string(try c.decode(String.self))
            return
        }
        if case .scalar(let s) = node.content, case .failure(let problem) = YAMLValue.resolve(s) {
            throw DecodingError.dataCorrupted(
                .init(codingPath: decoder.codingPath, debugDescription: problem.description))
        }
        self = YAMLValue(node)
    }

    /// The value of `node`; a tagged scalar its tag does not fit (`!!int x`) is kept as text.
    public init(_ node: Node) {
        switch node.content {
        case .scalar(let s):
            self = (try? YAMLValue.resolve(s).get()) ?? .string(s.text)
        case .sequence(let items):
            self = .array(items.map(YAMLValue.init))
        case .mapping(let pairs):
            var object: [String: YAMLValue] = [:]
            for pair in pairs { object[pair.key.scalarText ?? ""] = YAMLValue(pair.value) }
            self = .object(object)
        }
    }

    static let coreTag = "tag:yaml.org,2002:"

    /// A scalar's value by the YAML 1.2 core schema: an explicit tag decides (`!!str`, `!!int`, `!!float`,
    /// `!!bool`, `!!null`; the non-specific `!` and any quoting mean text), otherwise the plain text's form.
    static func resolve(_ s: Node.Scalar) -> Result<YAMLValue, YAMLTagError> {
        func bad(_ kind: String) -> Result<YAMLValue, YAMLTagError> {
            .failure(YAMLTagError(description: "'\(s.text)' is not \(kind)"))
        }
        guard let tag = s.tag else {
            guard s.style == .plain else { return .success(.string(s.text)) }
            if s.isNull { return .success(.null) }
            if let b = coreBool(s.text) { return .success(.bool(b)) }
            if let i = coreInt(s.text) { return .success(.integer(i)) }
            if let d = coreFloat(s.text), d.isFinite { return .success(.double(d)) }
            return .success(.string(s.text))
        }
        switch tag {
        case coreTag + "str", "!": return .success(.string(s.text))
        case coreTag + "int": return coreInt(s.text).map { .success(.integer($0)) } ?? bad("an integer (!!int)")
        case coreTag + "float":
            if let d = coreFloat(s.text), d.isFinite { return .success(.double(d)) }
            if let i = coreInt(s.text) { return .success(.double(Double(i))) }
            return bad("a finite number (!!float)")
        case coreTag + "bool": return coreBool(s.text).map { .success(.bool($0)) } ?? bad("true or false (!!bool)")
        case coreTag + "null":
            return ["", "~", "null", "Null", "NULL"].contains(s.text) ? .success(.null) : bad("null (!!null)")
        default: return .success(.string(s.text))  // a local tag: text, as the application's own
        }
    }

    static func coreBool(_ text: String) -> Bool? {
        switch text {
        case "true", "True", "TRUE": true
        case "false", "False", "FALSE": false
        default: nil
        }
    }

    /// `[-+]?[0-9]+`, `0o[0-7]+`, `0x[0-9a-fA-F]+`: nothing else (no `_`, no `0b`) is an integer.
    static func coreInt(_ text: String) -> Int64? {
        let u = Array(text.utf8)
        func all(_ bytes: ArraySlice<UInt8>, _ ok: (UInt8) -> Bool) -> Bool { !bytes.isEmpty && bytes.allSatisfy(ok) }
        let digit = { (c: UInt8) in c >= 48 && c <= 57 }
        if u.count > 2 && u[0] == 48 && u[1] == UInt8(ascii: "o") {
            return all(u[2...], { $0 >= 48 && $0 <= 55 })
                ? Int64(String(decoding: u[2...], as: UTF8.self), radix: 8) : nil
        }
        if u.count > 2 && u[0] == 48 && u[1] == UInt8(ascii: "x") {
            let hex = { (c: UInt8) in digit(c) || (c >= 65 && c <= 70) || (c >= 97 && c <= 102) }
            return all(u[2...], hex) ? Int64(String(decoding: u[2...], as: UTF8.self), radix: 16) : nil
        }
        let body = u.first == UInt8(ascii: "-") || u.first == UInt8(ascii: "+") ? u[1...] : u[...]
        return all(body, digit) ? Int64(text) : nil
    }

    /// `[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?` and the infinities and NaN.
    static func coreFloat(_ text: String) -> Double? {
        switch text {
        case ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF": return .infinity
        case "-.inf", "-.Inf", "-.INF": return -.infinity
        case ".nan", ".NaN", ".NAN": return .nan
        default: break
        }
        var u = Array(text.utf8)[...]
        if u.first == UInt8(ascii: "-") || u.first == UInt8(ascii: "+") { u = u.dropFirst() }
        func digits() -> Int {
            let n = u.prefix { $0 >= 48 && $0 <= 57 }.count
            u = u.dropFirst(n)
            return n
        }
        let whole = digits()
        var fraction = 0
        var dot = false
        if u.first == UInt8(ascii: ".") {
            dot = true
            u = u.dropFirst()
            fraction = digits()
        }
        guard whole > 0 || (dot && fraction > 0) else { return nil }
        if u.first == UInt8(ascii: "e") || u.first == UInt8(ascii: "E") {
            u = u.dropFirst()
            if u.first == UInt8(ascii: "-") || u.first == UInt8(ascii: "+") { u = u.dropFirst() }
            guard digits() > 0 else { return nil }
        }
        return u.isEmpty ? Double(text) : nil
    }

    /// Compact JSON text with keys sorted, so equal values print equally.
    public var jsonText: String {
        switch self {
        case .null: return "null"
        case .bool(let b): return b ? "true" : "false"
        case .integer(let i): return String(i)
        case .double(let d): return "\(d)"
        case .string(let s): return jsonQuote(s)
        case .array(let items): return "[" + items.map(\.jsonText).joined(separator: ",") + "]"
        case .object(let o):
            return "{" + o.keys.sorted().map { jsonQuote($0) + ":" + o[$0]!.jsonText }.joined(separator: ",") + "}"
        }
    }
}

/// A JSON string literal for `s`.
public func jsonQuote(_ s: String) -> String {
    var out: [UInt8] = []
    out.reserveCapacity(s.utf8.count + 2)
    appendJSONQuoted(s, to: &out)
    return String(decoding: out, as: UTF8.self)
}

/// Appends `s` as a JSON string to `out`: quotes, and escapes for the quote, the backslash and control
/// characters; everything else (UTF-8 included) as it is.
public func appendJSONQuoted(_ s: String, to out: inout [UInt8]) {
    out.append(UInt8(ascii: "\""))
    var s = s
    s.withUTF8 { bytes in
        // Most values need no escape: one scan of the bytes, then one copy.
        guard bytes.contains(where: { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) else {
            out.append(contentsOf: bytes)
            return
        }
        let hex = Array("0123456789abcdef".utf8)
        for byte in bytes {
            switch byte {
            case UInt8(ascii: "\""): out += [UInt8(ascii: "\\"), UInt8(ascii: "\"")]
            case UInt8(ascii: "\\"): out += [UInt8(ascii: "\\"), UInt8(ascii: "\\")]
            case UInt8(ascii: "\n"): out += [UInt8(ascii: "\\"), UInt8(ascii: "n")]
            case UInt8(ascii: "\r"): out += [UInt8(ascii: "\\"), UInt8(ascii: "r")]
            case UInt8(ascii: "\t"): out += [UInt8(ascii: "\\"), UInt8(ascii: "t")]
            case 0..<0x20:
                out += [UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0")]
                out += [hex[Int(byte >> 4)], hex[Int(byte & 15)]]
            default: out.append(byte)
            }
        }
    }
    out.append(UInt8(ascii: "\""))
}

/// A scalar whose explicit tag its text does not fit.
public struct YAMLTagError: Error, Sendable, CustomStringConvertible {
    public var description: String
}
