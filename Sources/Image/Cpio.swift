/// A cpio archive in the "newc" format (SVR4 without checksums), the one the Linux kernel unpacks as an
/// initramfs: per entry a 110-byte ASCII header, the NUL-terminated name, the data, each padded to 4 bytes,
/// and a `TRAILER!!!` entry at the end. Every entry is owned by root with a fixed mtime (0), so the same
/// inputs give the same bytes.
public struct CpioArchive: Sendable {
    public enum Kind: Sendable, Equatable {
        case directory
        case file([UInt8])
        case symlink(target: String)
        /// A character device (`/dev/console`: the kernel opens it before running init).
        case characterDevice(major: UInt32, minor: UInt32)
    }

    public struct Entry: Sendable {
        /// The path inside the archive, without a leading slash.
        public var path: String
        public var kind: Kind
        /// Permission bits (0o755, 0o600…).
        public var mode: UInt32

        /// The size of its data in the archive (a symlink's data is its target).
        public var size: Int {
            switch kind {
            case .directory, .characterDevice: 0
            case .file(let bytes): bytes.count
            case .symlink(let target): target.utf8.count
            }
        }
    }

    public private(set) var entries: [Entry] = []
    private var paths: Set<String> = []

    public init() {}

    /// Adds an entry, and the directories above it that are not in the archive yet (mode 0755). A path given
    /// twice is an error of the caller: the kernel would take the last one silently.
    public mutating func add(_ path: String, _ kind: Kind, mode: UInt32) throws(ImageError) {
        let clean = path.split(separator: "/").joined(separator: "/")
        guard !clean.isEmpty, !clean.split(separator: "/").contains(where: { $0 == ".." || $0 == "." }) else {
            throw ImageError("'\(path)' is not a path inside the image")
        }
        var parent = ""
        for component in clean.split(separator: "/").dropLast() {
            parent += (parent.isEmpty ? "" : "/") + component
            if !paths.contains(parent) {
                paths.insert(parent)
                entries.append(Entry(path: parent, kind: .directory, mode: 0o755))
            }
        }
        if case .directory = kind, paths.contains(clean) { return }
        guard paths.insert(clean).inserted else { throw ImageError("'\(clean)' is put in the image twice") }
        entries.append(Entry(path: clean, kind: kind, mode: mode))
    }

    public func contains(_ path: String) -> Bool { paths.contains(path.split(separator: "/").joined(separator: "/")) }

    /// The archive's bytes, passed to `sink` in pieces (an image is tens of megabytes: it is compressed as it
    /// is written, never held twice).
    public func write(to sink: (UnsafeRawBufferPointer) throws -> Void) rethrows {
        var inode: UInt32 = 1
        func emit(_ bytes: [UInt8]) throws { try bytes.withUnsafeBytes { try sink($0) } }
        func header(_ entry: Entry?, name: String, modeBits: UInt32, size: Int, rdev: (UInt32, UInt32)) -> [UInt8] {
            let nameSize = name.utf8.count + 1
            let fields: [UInt32] = [
                entry == nil ? 0 : inode, modeBits, 0, 0, 1, 0, UInt32(size), 0, 0, rdev.0, rdev.1, UInt32(nameSize), 0,
            ]
            var out = Array("070701".utf8)
            for field in fields {
                let hex = String(field, radix: 16, uppercase: true)
                out += Array(String(repeating: "0", count: 8 - hex.count).utf8) + Array(hex.utf8)
            }
            out += Array(name.utf8) + [0]
            while out.count % 4 != 0 { out.append(0) }
            return out
        }
        for entry in entries {
            var data: [UInt8] = []
            var rdev: (UInt32, UInt32) = (0, 0)
            let type: UInt32
            switch entry.kind {
            case .directory: type = 0o040000
            case .file(let bytes):
                type = 0o100000
                data = bytes
            case .symlink(let target):
                type = 0o120000
                data = Array(target.utf8)
            case .characterDevice(let major, let minor):
                type = 0o020000
                rdev = (major, minor)
            }
            try emit(
                header(entry, name: entry.path, modeBits: type | (entry.mode & 0o7777), size: data.count, rdev: rdev))
            try emit(data)
            if data.count % 4 != 0 { try emit([UInt8](repeating: 0, count: 4 - data.count % 4)) }
            inode += 1
        }
        try emit(header(nil, name: "TRAILER!!!", modeBits: 0, size: 0, rdev: (0, 0)))
    }
}

/// Why an image cannot be built: one sentence naming the input at fault.
public struct ImageError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}
