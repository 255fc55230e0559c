import Digest
import FileSystem
import FoundationEssentials
import Glibc

/// A path as found on disk (never following symlinks).
public struct FoundEntry: Sendable, Hashable {
    public var path: String
    public var kind: ManifestEntry.Kind
    /// Permission bits including setuid/setgid/sticky.
    public var mode: FileMode
    public var uid: UInt32
    public var gid: UInt32
    public var size: Int64
    public var sha256: String?
    public var target: String?
    /// Anything else (device, fifo, socket): never allowed in a bundle.
    public var special: Bool
}

extension FoundEntry {
    /// What `lstat` (or `fstat`) says of `path`; a symlink's target is left for the caller to read.
    init(path: String, stat st: stat) {
        let type = st.st_mode & S_IFMT
        self.init(
            path: path, kind: type == S_IFDIR ? .dir : type == S_IFLNK ? .symlink : .file,
            mode: type == S_IFLNK ? FileMode(0o777) : FileMode(UInt32(st.st_mode)),
            uid: st.st_uid, gid: st.st_gid, size: Int64(st.st_size), sha256: nil, target: nil,
            special: type != S_IFDIR && type != S_IFLNK && type != S_IFREG)
    }
}

/// Reads a directory tree through directory descriptors (no symlink followed, so a directory swapped for a
/// symlink while it is read is reported as the symlink), hashing files as it goes.
public enum TreeScanner {
    /// Every path under `root` (relative), except the manifest itself and a `.git` directory at the root.
    public static func scan(_ root: String, hashing: Bool = true) throws(BundleError) -> [String: FoundEntry] {
        var out: [String: FoundEntry] = [:]
        let directory: Directory
        do {
            directory = try Directory.open(root)
        } catch {
            throw BundleError("\(root): cannot read the directory: \(SystemError.describe(error.code))")
        }
        try walk(directory, relative: "", into: &out, hashing: hashing)
        return out
    }

    private static func walk(
        _ directory: Directory, relative: String, into out: inout [String: FoundEntry], hashing: Bool
    ) throws(BundleError) {
        let names: [String]
        do {
            names = try directory.names()
        } catch {
            throw BundleError(
                "\(relative.isEmpty ? directory.path : relative): cannot read the directory: \(SystemError.describe(error.code))"
            )
        }
        for name in names.sorted() {
            if relative.isEmpty && (name == ".git" || name == Manifest.fileName) { continue }
            let path = relative.isEmpty ? name : relative + "/" + name
            guard var found = entry(name, in: directory, path: path) else {
                throw BundleError("\(path): \(SystemError.describe(errno))")
            }
            if found.kind == .symlink && found.target == nil { throw BundleError("\(path): cannot read the link") }
            if found.kind == .dir {
                out[path] = found
                let sub: Directory
                do {
                    sub = try directory.directory(name)
                } catch {
                    throw BundleError("\(path): cannot read the directory: \(SystemError.describe(error.code))")
                }
                try walk(sub, relative: path, into: &out, hashing: hashing)
                continue
            }
            if hashing && found.kind == .file && !found.special {
                found.sha256 = try hashFile(name, in: directory, display: path)
            }
            out[path] = found
        }
    }

    /// What lstat says of `name` in `directory` (a symlink's target read), or nil when it is not there.
    static func entry(_ name: String, in directory: Directory, path: String) -> FoundEntry? {
        var st = stat()
        guard fstatat(directory.descriptor, name, &st, AT_SYMLINK_NOFOLLOW) == 0 else { return nil }
        var found = FoundEntry(path: path, stat: st)
        if found.kind == .symlink { found.target = try? directory.readLink(name) }
        return found
    }

    /// The given paths only (lstat each, no hashing, no symlink followed on the way): for checking a tree.
    public static func entries(_ paths: [String], under root: String) throws(BundleError) -> [String: FoundEntry] {
        var out: [String: FoundEntry] = [:]
        guard let top = try? Directory.open(root) else { return out }
        for path in paths {
            let (parent, leaf) = splitPath(path)
            guard let directory = parent.isEmpty ? top : try? top.directory(parent),
                let found = entry(leaf, in: directory, path: path)
            else { continue }
            out[path] = found
        }
        return out
    }

    /// SHA-256 of the regular file `name` in `directory` (never through a symlink), read in 1 MiB chunks.
    static func hashFile(_ name: String, in directory: Directory, display: String) throws(BundleError) -> String {
        let fd = retryingInterrupts { openat(directory.descriptor, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC) }
        guard fd >= 0 else { throw BundleError("\(display): cannot open: \(SystemError.describe(errno))") }
        defer { close(fd) }
        return try hash(fd, display: display)
    }

    /// SHA-256 of a file, read in 1 MiB chunks.
    public static func hashFile(_ path: String, display: String? = nil) throws(BundleError) -> String {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw BundleError("\(display ?? path): cannot open: \(SystemError.describe(errno))") }
        defer { close(fd) }
        return try hash(fd, display: display ?? path)
    }

    static func hash(_ fd: Int32, display: String) throws(BundleError) -> String {
        let hasher = SHA256Hasher()
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
        defer { buffer.deallocate() }
        while true {
            let n = read(fd, buffer.baseAddress, buffer.count)
            if n < 0 {
                if errno == EINTR { continue }
                throw BundleError("\(display): read failed: \(SystemError.describe(errno))")
            }
            if n == 0 { break }
            hasher.update(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
        }
        return hexString(hasher.finalize())
    }
}
