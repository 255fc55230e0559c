import Digest

/// A line delta between two manifests, so a deploy that changes one file sends a few lines instead of the whole
/// manifest (tens of kilobytes for thousands of paths). Text form:
///
/// ```
/// redeye-delta 1 <sha256 of the old manifest> <sha256 of the new one>
/// c START COUNT        copy COUNT lines of the old manifest from line START (0-based)
/// i COUNT              insert the COUNT lines that follow
/// ```
///
/// Applying it checks both hashes, so a delta against another base, or a damaged one, is refused.
public enum ManifestDelta {
    static let header = "redeye-delta 1"

    /// Whether `input` is a delta rather than a whole manifest.
    public static func isDelta(_ input: [UInt8]) -> Bool { input.starts(with: Array((header + " ").utf8)) }

    public static func make(from old: [UInt8], to new: [UInt8]) -> [UInt8] {
        let oldLines = lines(old)
        let newLines = lines(new)
        var positions: [ArraySlice<UInt8>: Int] = [:]
        for (i, line) in oldLines.enumerated() where positions[line] == nil { positions[line] = i }
        var out = Array("\(header) \(SHA256Hasher.hex(old)) \(SHA256Hasher.hex(new))\n".utf8)
        var pendingInserts: [ArraySlice<UInt8>] = []
        var copyStart = -1
        var copyCount = 0
        func flushCopy() {
            if copyCount > 0 { out += Array("c \(copyStart) \(copyCount)\n".utf8) }
            copyCount = 0
        }
        func flushInserts() {
            guard !pendingInserts.isEmpty else { return }
            out += Array("i \(pendingInserts.count)\n".utf8)
            for line in pendingInserts {
                out += line
                if line.last != 10 { out.append(10) }  // the delta's own line break; see `apply`
            }
            pendingInserts = []
        }
        for line in newLines {
            if copyCount > 0, copyStart + copyCount < oldLines.count, oldLines[copyStart + copyCount] == line {
                copyCount += 1
            } else if let at = positions[line] {
                flushCopy()
                flushInserts()
                copyStart = at
                copyCount = 1
            } else {
                flushCopy()
                pendingInserts.append(line)
            }
        }
        flushCopy()
        flushInserts()
        return out
    }

    /// The new manifest, rebuilt from `old` and a delta made against it.
    public static func apply(_ delta: [UInt8], to old: [UInt8]) throws(BundleError) -> [UInt8] {
        let deltaLines = lines(delta)
        guard let first = deltaLines.first else { throw BundleError("the manifest delta is empty") }
        let words = String(decoding: first, as: UTF8.self).trimmingSuffixNewline.split(separator: " ")
        guard words.count == 4, "\(words[0]) \(words[1])" == header else {
            throw BundleError("not a manifest delta (it starts with '\(words.joined(separator: " "))')")
        }
        guard words[2] == SHA256Hasher.hex(old) else {
            throw BundleError("the manifest delta was made against another manifest than the host's current one")
        }
        let oldLines = lines(old)
        var out: [UInt8] = []
        var i = 1
        var lastInsertedLacksNewline = false
        while i < deltaLines.count {
            let op = String(decoding: deltaLines[i], as: UTF8.self).trimmingSuffixNewline.split(separator: " ")
            i += 1
            switch (op.first, op.count) {
            case ("c", 3):
                guard let start = Int(op[1]), let count = Int(op[2]), start >= 0, count > 0,
                    start + count <= oldLines.count
                else { throw BundleError("the manifest delta copies lines the manifest does not have") }
                for line in oldLines[start..<(start + count)] { out += line }
            case ("i", 2):
                guard let count = Int(op[1]), count > 0, i + count <= deltaLines.count else {
                    throw BundleError("the manifest delta is truncated")
                }
                for line in deltaLines[i..<(i + count)] { out += line }
                i += count
                lastInsertedLacksNewline = true
            default:
                throw BundleError("the manifest delta has a bad line \(i)")
            }
        }
        // A final line without a line break was given one in the delta; the new hash decides which is right.
        if SHA256Hasher.hex(out) != words[3], lastInsertedLacksNewline, out.last == 10,
            SHA256Hasher.hex(Array(out.dropLast())) == words[3]
        {
            out.removeLast()
        }
        guard SHA256Hasher.hex(out) == words[3] else {
            throw BundleError("the rebuilt manifest does not match its sha256")
        }
        return out
    }

    static func lines(_ bytes: [UInt8]) -> [ArraySlice<UInt8>] {
        var out: [ArraySlice<UInt8>] = []
        var start = 0
        for (i, b) in bytes.enumerated() where b == 10 {
            out.append(bytes[start...i])
            start = i + 1
        }
        if start < bytes.count { out.append(bytes[start...]) }
        return out
    }
}

extension String {
    fileprivate var trimmingSuffixNewline: String { hasSuffix("\n") ? String(dropLast()) : self }
}
