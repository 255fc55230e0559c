import FileSystem
import FoundationEssentials
import Glibc

extension BundleInstaller {
    // MARK: stat index

    struct StatRecord {
        var size: Int64
        var mtime: Int64
        /// Change time: an owner who rewrites the file and resets its mtime still moves it.
        var ctime: Int64 = 0
        var inode: UInt64
        /// Permission bits, owner and group: a chmod or chown since installation also prevents reuse.
        var mode: UInt32 = 0
        var uid: UInt32 = 0
        var gid: UInt32 = 0
        /// The git blob the file was written from (and verified against the manifest's sha256).
        var blob: String?
        /// The manifest entry it was installed by (mode, owner, group, sha256).
        var entry: String?

        init(size: Int64, mtime: Int64, inode: UInt64, blob: String?, entry: String?) {
            self.size = size
            self.mtime = mtime
            self.inode = inode
            self.blob = blob
            self.entry = entry
        }

        init(stat st: stat, blob: String?, entry: String?) {
            self.blob = blob
            self.entry = entry
            size = Int64(st.st_size)
            mtime = Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec)
            ctime = Int64(st.st_ctim.tv_sec) * 1_000_000_000 + Int64(st.st_ctim.tv_nsec)
            inode = UInt64(st.st_ino)
            mode = UInt32(st.st_mode) & 0o7777
            uid = st.st_uid
            gid = st.st_gid
        }

        /// Unchanged since it was verified: a file whose size, times, inode, mode and owner are the same is not
        /// re-read.
        func matches(_ st: stat) -> Bool {
            let now = StatRecord(stat: st, blob: nil, entry: nil)
            return now.size == size && now.mtime == mtime && now.ctime == ctime && now.inode == inode
                && now.mode == mode && now.uid == uid && now.gid == gid
        }
    }

    /// The stat index of a release: one line per file, `size mtime ctime inode mode uid gid blob entry path`, tab-separated
    /// (bundle paths hold no control characters).
    func loadIndex(_ release: String) -> [String: StatRecord] {
        Self.loadIndex(at: layout.statIndex(release))
    }

    static func loadIndex(at path: String) -> [String: StatRecord] {
        guard let data = FileManager.default.contents(atPath: path) else { return [:] }
        var out: [String: StatRecord] = [:]
        // Parsed as bytes: this file has a line per file of the release and is read on every install.
        data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
            let bytes = raw.bindMemory(to: UInt8.self)
            var lineStart = 0
            while lineStart < bytes.count {
                var lineEnd = lineStart
                while lineEnd < bytes.count && bytes[lineEnd] != 10 { lineEnd += 1 }
                var fields: [Range<Int>] = []
                var fieldStart = lineStart
                for i in lineStart..<lineEnd where bytes[i] == 9 && fields.count < 9 {
                    fields.append(fieldStart..<i)
                    fieldStart = i + 1
                }
                fields.append(fieldStart..<lineEnd)
                func number(_ r: Range<Int>) -> UInt64? {
                    guard !r.isEmpty else { return nil }
                    var v: UInt64 = 0
                    for i in r {
                        guard bytes[i] >= 48 && bytes[i] <= 57 else { return nil }
                        v = v &* 10 &+ UInt64(bytes[i] - 48)
                    }
                    return v
                }
                func text(_ r: Range<Int>) -> String {
                    String(decoding: UnsafeBufferPointer(rebasing: bytes[r]), as: UTF8.self)
                }
                if fields.count == 10, let size = number(fields[0]), let mtime = number(fields[1]),
                    let ctime = number(fields[2]), let inode = number(fields[3]),
                    let mode = number(fields[4]), let uid = number(fields[5]), let gid = number(fields[6])
                {
                    var record = StatRecord(
                        size: Int64(size), mtime: Int64(mtime), inode: inode,
                        blob: fields[7].isEmpty ? nil : text(fields[7]),
                        entry: text(fields[8]))
                    record.ctime = Int64(ctime)
                    record.mode = UInt32(mode)
                    record.uid = UInt32(uid)
                    record.gid = UInt32(gid)
                    out[text(fields[9])] = record
                }
                lineStart = lineEnd + 1
            }
        }
        return out
    }

    func saveIndex(_ index: [String: StatRecord], release: String) throws {
        // Written as bytes: string interpolation of 10,000 lines was a tenth of a re-install.
        var out: [UInt8] = []
        out.reserveCapacity(index.count * 200)
        func number(_ value: UInt64) {
            out.append(contentsOf: String(value).utf8)  // a small string: no allocation
            out.append(9)
        }
        for (path, r) in index {
            number(UInt64(bitPattern: r.size))
            number(UInt64(bitPattern: r.mtime))
            number(UInt64(bitPattern: r.ctime))
            number(r.inode)
            number(UInt64(r.mode))
            number(UInt64(r.uid))
            number(UInt64(r.gid))
            out.append(contentsOf: (r.blob ?? "").utf8)
            out.append(9)
            out.append(contentsOf: (r.entry ?? "").utf8)
            out.append(9)
            out.append(contentsOf: path.utf8)
            out.append(10)
        }
        try atomicWrite(layout.statIndex(release), out)
    }
}
