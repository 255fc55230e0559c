import Text

/// Quotes a word for a POSIX shell: the result is always one word with the exact bytes given.
public func shellQuote(_ word: String) -> String {
    if !word.isEmpty,
        word.utf8.allSatisfy({ c in
            (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A)
                || "-_./=:,+@%".utf8.contains(c)
        })
    {
        return word
    }
    return "'" + word.replacing("'", with: "'\\''") + "'"
}

/// Text a remote host sent, made safe to print and to store: control characters other than newline and tab
/// (terminal escapes among them: ESC, CSI, OSC) are shown as `\xNN`, so a hostile host cannot move the cursor,
/// retitle the operator's terminal or hide lines, in the output or later in `deploy history`.
public func printable(_ text: String) -> String {
    var out = ""
    out.reserveCapacity(text.utf8.count)
    for scalar in text.unicodeScalars {
        let v = scalar.value
        if (v < 0x20 && v != 0x0A && v != 0x09) || v == 0x7F || (0x80...0x9F).contains(v) {
            out += "\\x" + String(v, radix: 16, uppercase: true).leftPadded(to: 2)
        } else {
            out.unicodeScalars.append(scalar)
        }
    }
    return out
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        String(repeating: "0", count: max(0, width - count)) + self
    }
}
