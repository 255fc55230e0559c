import Glibc

/// `value` with exactly `digits` digits after the point, as `%.Nf` prints it (String(format:) is Foundation's,
/// not FoundationEssentials'): the C library's own formatting, so rounding and signs are printf's.
public func fixed(_ value: Double, digits: Int) -> String {
    let digits = Int32(max(0, min(digits, 17)))
    var buffer = [CChar](repeating: 0, count: 352)
    let written = withVaList([digits, value]) { arguments in
        buffer.withUnsafeMutableBufferPointer { vsnprintf($0.baseAddress, $0.count, "%.*f", arguments) }
    }
    guard written >= 0 else { return String(value) }
    return String(decoding: buffer.prefix(Int(min(written, 351))).map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

/// `fixed(value, digits:)` padded on the left with spaces to `width` characters, as `%W.Nf` prints it.
public func fixed(_ value: Double, digits: Int, width: Int) -> String {
    let text = fixed(value, digits: digits)
    return String(repeating: " ", count: max(0, width - text.count)) + text
}

/// `value` in decimal, with leading zeros to at least `width` digits, as `%0Wd`.
public func zeroPadded(_ value: Int, width: Int) -> String {
    let digits = String(value.magnitude)
    return (value < 0 ? "-" : "") + String(repeating: "0", count: max(0, width - digits.count)) + digits
}
