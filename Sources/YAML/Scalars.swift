/// Scalar conversions used by the decoder. The target type decides how text is read: `yes` is
/// true for a Bool field and the text "yes" for a String field; `0750` is 750 for an Int field and
/// octal for a ``FileMode``.
enum ScalarReader {
    static let trueWords: Set<String> = ["true", "yes", "on"]
    static let falseWords: Set<String> = ["false", "no", "off"]

    static func bool(_ text: String) -> Bool? {
        let lower = text.lowercased()
        if trueWords.contains(lower) { return true }
        if falseWords.contains(lower) { return false }
        return nil
    }

    static func integer<T: FixedWidthInteger>(_ text: String, as: T.Type) -> T? {
        var t = Substring(text.filter { $0 != "_" })
        var negative = false
        if t.first == "-" || t.first == "+" {
            negative = t.first == "-"
            t = t.dropFirst()
        }
        var radix = 10
        if t.hasPrefix("0x") || t.hasPrefix("0X") {
            radix = 16
            t = t.dropFirst(2)
        } else if t.hasPrefix("0o") || t.hasPrefix("0O") {
            radix = 8
            t = t.dropFirst(2)
        } else if t.hasPrefix("0b") || t.hasPrefix("0B") {
            radix = 2
            t = t.dropFirst(2)
        }
        guard !t.isEmpty, t.first != "-", t.first != "+" else { return nil }
        return T(negative ? "-" + t : String(t), radix: radix)
    }

    static func double(_ text: String) -> Double? {
        switch text.lowercased() {
        case ".inf", "+.inf": return .infinity
        case "-.inf": return -.infinity
        case ".nan": return .nan
        default:
            let cleaned = text.filter { $0 != "_" }
            guard let first = cleaned.first else { return nil }
            let startsNumeric: Bool = first.isNumber || first == "-" || first == "+" || first == "."
            return startsNumeric ? Double(cleaned) : nil
        }
    }
}
