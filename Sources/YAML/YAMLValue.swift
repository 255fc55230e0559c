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
        self = YAMLValue(node)
    }

    public init(_ node: Node) {
        switch node.content {
        case .scalar(let s):
            self = YAMLValue.resolve(s)
        case .sequence(let items):
            self = .array(items.map(YAMLValue.init))
        case .mapping(let pairs):
            var object: [String: YAMLValue] = [:]
            for pair in pairs { object[pair.key.scalarText ?? ""] = YAMLValue(pair.value) }
            self = .object(object)
        }
    }

    static func resolve(_ s: Node.Scalar) -> YAMLValue {
        guard s.style == .plain, s.tag == nil else { return .string(s.text) }
        if s.isNull { return .null }
        if s.text == "true" || s.text == "True" || s.text == "TRUE" { return .bool(true) }
        if s.text == "false" || s.text == "False" || s.text == "FALSE" { return .bool(false) }
        if s.text.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == "-" || $0 == "+") }), let i = Int64(s.text) {
            return .integer(i)
        }
        if s.text.first.map({ $0.isNumber || $0 == "-" || $0 == "." }) == true, let d = ScalarReader.double(s.text),
            d.isFinite
        {
            return .double(d)
        }
        return .string(s.text)
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
    var out = "\""
    for scalar in s.unicodeScalars {
        switch scalar {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        default:
            if scalar.value < 0x20 {
                out +=
                    "\\u" + String(repeating: "0", count: 4 - String(scalar.value, radix: 16).count)
                    + String(scalar.value, radix: 16)
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
    }
    return out + "\""
}
