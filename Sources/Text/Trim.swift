/// Trimming without Foundation's CharacterSet: the agent links FoundationEssentials only, which keeps ICU (34 MB
/// of data) out of the binary and the netboot image.
extension StringProtocol {
    /// Without leading and trailing white space, newlines included (Unicode's, as `Character.isWhitespace` has it).
    public func trimmed() -> String {
        trimmed(where: \.isWhitespace)
    }

    /// Without leading and trailing spaces and tabs: line breaks stay.
    public func trimmedSpaces() -> String {
        trimmed(where: { $0.isWhitespace && !$0.isNewline })
    }

    /// Without leading and trailing line breaks.
    public func trimmedNewlines() -> String {
        trimmed(where: \.isNewline)
    }

    /// Without the leading and trailing characters that are in `characters`.
    public func trimmed(in characters: String) -> String {
        trimmed(where: { characters.contains($0) })
    }

    /// Without the leading and trailing characters `drop` is true for.
    public func trimmed(where drop: (Character) -> Bool) -> String {
        guard let first = firstIndex(where: { !drop($0) }) else { return "" }
        let last = lastIndex(where: { !drop($0) })!
        return String(self[first...last])
    }
}

extension String {
    /// Exactly `width` characters: cut, or filled with spaces on the right (a table's column).
    public func padded(to width: Int) -> String {
        count >= width ? String(prefix(width)) : self + String(repeating: " ", count: width - count)
    }
}
