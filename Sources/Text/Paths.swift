/// A path's last component, as NSString's `lastPathComponent` gives it: trailing slashes dropped; "/" for "/".
public func lastPathComponent(_ path: String) -> String {
    let trimmed = path.trimmed(where: { $0 == "/" })
    if trimmed.isEmpty { return path.isEmpty ? "" : "/" }
    let withoutTrailing = path.hasSuffix("/") ? String(path.reversed().drop { $0 == "/" }.reversed()) : path
    if let slash = withoutTrailing.lastIndex(of: "/") {
        return String(withoutTrailing[withoutTrailing.index(after: slash)...])
    }
    return withoutTrailing
}

/// A path without its last component, as NSString's `deletingLastPathComponent` gives it: "/a" for "/a/b",
/// "/" for "/a", "" for "a".
public func deletingLastPathComponent(_ path: String) -> String {
    var text = Substring(path)
    while text.count > 1 && text.hasSuffix("/") { text = text.dropLast() }
    guard let slash = text.lastIndex(of: "/") else { return "" }
    var parent = text[..<slash]
    while parent.hasSuffix("/") { parent = parent.dropLast() }
    return parent.isEmpty ? "/" : String(parent)
}
