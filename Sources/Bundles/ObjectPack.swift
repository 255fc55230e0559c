import FoundationEssentials
import Glibc

/// Content a deploy sends in one file: objects one after another, each a header line `SHA256 SIZE\n` followed by
/// SIZE bytes. The receiver indexes it by hash and reads objects in place (the file is memory-mapped); every
/// object is checked against its hash before it is written into a release.
public enum ObjectPack {
    public static func header(sha256: String, size: Int) -> [UInt8] { Array("\(sha256) \(size)\n".utf8) }

    /// sha256 → the bytes' range in `data`; a truncated or malformed pack is an error naming the offset.
    static func index(_ data: Data, file: String) throws -> [String: Range<Int>] {
        var out: [String: Range<Int>] = [:]
        try data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
            var offset = 0
            while offset < raw.count {
                guard let newline = raw[offset..<min(raw.count, offset + 100)].firstIndex(of: 10) else {
                    throw BundleError("\(file): bad object header at byte \(offset)")
                }
                let words = String(decoding: raw[offset..<newline], as: UTF8.self).split(separator: " ")
                guard words.count == 2, words[0].count == 64, let size = Int(words[1]), size >= 0,
                    newline + 1 + size <= raw.count
                else { throw BundleError("\(file): bad or truncated object at byte \(offset)") }
                out[String(words[0])] = (newline + 1)..<(newline + 1 + size)
                offset = newline + 1 + size
            }
        }
        return out
    }
}
