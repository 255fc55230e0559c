/// Whether `bytes` are exactly one JSON value as RFC 8259 defines it, with white space around it allowed:
/// FoundationEssentials' decoder also takes trailing commas, which no strict reader of our `--json` output
/// would, so a JSON column is checked here before its text is stored or embedded as-is. Nesting deeper than
/// `maxDepth` is refused rather than recursed into.
public func isStrictJSON(_ bytes: some Collection<UInt8>, maxDepth: Int = 512) -> Bool {
    var checker = JSONSyntax(Array(bytes), maxDepth: maxDepth)
    return checker.document()
}

private struct JSONSyntax {
    let b: [UInt8]
    let maxDepth: Int
    var i = 0

    init(_ bytes: [UInt8], maxDepth: Int) {
        b = bytes
        self.maxDepth = maxDepth
    }

    mutating func document() -> Bool {
        space()
        guard value(depth: 0) else { return false }
        space()
        return i == b.count
    }

    mutating func space() {
        while i < b.count, b[i] == 0x20 || b[i] == 0x09 || b[i] == 0x0A || b[i] == 0x0D { i += 1 }
    }

    mutating func take(_ byte: UInt8) -> Bool {
        guard i < b.count, b[i] == byte else { return false }
        i += 1
        return true
    }

    mutating func literal(_ word: StaticString) -> Bool {
        let count = word.utf8CodeUnitCount
        guard i + count <= b.count else { return false }
        for k in 0..<count where b[i + k] != word.utf8Start[k] { return false }
        i += count
        return true
    }

    mutating func value(depth: Int) -> Bool {
        guard i < b.count, depth < maxDepth else { return false }
        switch b[i] {
        case UInt8(ascii: "{"):
            i += 1
            space()
            if take(UInt8(ascii: "}")) { return true }
            repeat {
                space()
                guard string() else { return false }
                space()
                guard take(UInt8(ascii: ":")) else { return false }
                space()
                guard value(depth: depth + 1) else { return false }
                space()
            } while take(UInt8(ascii: ","))
            return take(UInt8(ascii: "}"))
        case UInt8(ascii: "["):
            i += 1
            space()
            if take(UInt8(ascii: "]")) { return true }
            repeat {
                space()
                guard value(depth: depth + 1) else { return false }
                space()
            } while take(UInt8(ascii: ","))
            return take(UInt8(ascii: "]"))
        case UInt8(ascii: "\""): return string()
        case UInt8(ascii: "t"): return literal("true")
        case UInt8(ascii: "f"): return literal("false")
        case UInt8(ascii: "n"): return literal("null")
        default: return number()
        }
    }

    mutating func digits() -> Int {
        let start = i
        while i < b.count, b[i] >= 0x30, b[i] <= 0x39 { i += 1 }
        return i - start
    }

    mutating func number() -> Bool {
        _ = take(UInt8(ascii: "-"))
        if take(UInt8(ascii: "0")) {
            // No leading zeros: "01" is not a number.
        } else if digits() == 0 {
            return false
        }
        if take(UInt8(ascii: ".")), digits() == 0 { return false }
        if i < b.count, b[i] == UInt8(ascii: "e") || b[i] == UInt8(ascii: "E") {
            i += 1
            if !take(UInt8(ascii: "+")) { _ = take(UInt8(ascii: "-")) }
            if digits() == 0 { return false }
        }
        return true
    }

    /// A string, its escapes, and its bytes as UTF-8 (control characters must be escaped).
    mutating func string() -> Bool {
        guard take(UInt8(ascii: "\"")) else { return false }
        let start = i
        while i < b.count {
            let c = b[i]
            if c == UInt8(ascii: "\"") {
                let valid = String(validating: b[start..<i], as: UTF8.self) != nil
                i += 1
                return valid
            }
            if c < 0x20 { return false }
            if c == UInt8(ascii: "\\") {
                i += 1
                guard i < b.count else { return false }
                switch b[i] {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"),
                    UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                    i += 1
                case UInt8(ascii: "u"):
                    guard i + 4 < b.count, b[(i + 1)...(i + 4)].allSatisfy({ Character(UnicodeScalar($0)).isHexDigit })
                    else { return false }
                    i += 5
                default: return false
                }
                continue
            }
            i += 1
        }
        return false
    }
}
