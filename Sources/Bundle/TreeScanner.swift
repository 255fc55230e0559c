import Digest
import FileSystem
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

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
            throw BundleError("\(root): cannot read the directory: \(String(cString: strerror(error.code)))")
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
                "\(relative.isEmpty ? directory.path : relative): cannot read the directory: \(String(cString: strerror(error.code)))"
            )
        }
        for name in names.sorted() {
            if relative.isEmpty && (name == ".git" || name == Manifest.fileName) { continue }
            let path = relative.isEmpty ? name : relative + "/" + name
            guard var found = entry(name, in: directory, path: path) else {
                throw BundleError("\(path): \(String(cString: strerror(errno)))")
            }
            if found.kind == .symlink && found.target == nil { throw BundleError("\(path): cannot read the link") }
            if found.kind == .dir {
                out[path] = found
                let sub: Directory
                do {
                    sub = try directory.directory(name)
                } catch {
                    throw BundleError("\(path): cannot read the directory: \(String(cString: strerror(error.code)))")
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
        guard fd >= 0 else { throw BundleError("\(display): cannot open: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        return try hash(fd, display: display)
    }

    /// SHA-256 of a file, read in 1 MiB chunks.
    public static func hashFile(_ path: String, display: String? = nil) throws(BundleError) -> String {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw BundleError("\(display ?? path): cannot open: \(String(cString: strerror(errno)))") }
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
                throw BundleError("\(display): read failed: \(String(cString: strerror(errno)))")
            }
            if n == 0 { break }
            hasher.update(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
        }
        return hexString(hasher.finalize())
    }
}

/// User and group names ↔ ids, through the system's databases (cached).
public final class Accounts {
    private var users: [UInt32: String] = [:]
    private var groups: [UInt32: String] = [:]

    public init() {}

    public func userName(_ uid: UInt32) -> String {
        if let name = users[uid] { return name }
        let name = getpwuid(uid).map { String(cString: $0.pointee.pw_name) } ?? String(uid)
        users[uid] = name
        return name
    }

    public func groupName(_ gid: UInt32) -> String {
        if let name = groups[gid] { return name }
        let name = getgrgid(gid).map { String(cString: $0.pointee.gr_name) } ?? String(gid)
        groups[gid] = name
        return name
    }

    public func uid(_ name: String) -> UInt32? {
        if let n = UInt32(name) { return n }
        return getpwnam(name).map { $0.pointee.pw_uid }
    }

    public func gid(_ name: String) -> UInt32? {
        if let n = UInt32(name) { return n }
        return getgrnam(name).map { $0.pointee.gr_gid }
    }
}

/// One way a tree and its manifest disagree, naming the path.
public struct Finding: Sendable, Hashable, CustomStringConvertible, Encodable {
    public var path: String
    public var problem: String
    public var description: String { "\(path): \(problem)" }
}

/// The least-bit rules: the tree and the manifest agree exactly, and nothing is world-writable, set-id
/// without saying so, or pointing out of the bundle.
public enum LeastBit {
    public static func check(
        _ manifest: Manifest, against found: [String: FoundEntry], owners: Accounts? = nil
    ) -> [Finding] {
        var findings: [Finding] = []
        for path in found.keys.sorted() where manifest.entry(path) == nil {
            findings.append(Finding(path: path, problem: "on disk but not in the manifest"))
        }
        for entry in manifest.entries {
            guard let f = found[entry.path] else {
                findings.append(Finding(path: entry.path, problem: "in the manifest but missing"))
                continue
            }
            if f.special {
                findings.append(
                    Finding(path: entry.path, problem: "a device, fifo or socket, which a bundle may not hold"))
                continue
            }
            guard f.kind == entry.kind else {
                findings.append(
                    Finding(
                        path: entry.path, problem: "is a \(f.kind.rawValue), the manifest says \(entry.kind.rawValue)"))
                continue
            }
            switch entry.kind {
            case .file:
                if let sha = f.sha256, sha != entry.sha256 {
                    findings.append(Finding(path: entry.path, problem: "content does not match the manifest's sha256"))
                }
            case .symlink:
                if f.target != entry.target {
                    findings.append(
                        Finding(
                            path: entry.path,
                            problem: "points to \(f.target ?? "?"), the manifest says \(entry.target ?? "?")"))
                }
                if let target = f.target, let problem = symlinkProblem(path: entry.path, target: target) {
                    findings.append(Finding(path: entry.path, problem: problem))
                }
            case .dir:
                break
            }
            if entry.kind != .symlink {
                if f.mode != entry.mode {
                    findings.append(
                        Finding(path: entry.path, problem: "mode \(f.mode), the manifest says \(entry.mode)"))
                }
                if f.mode.isSetID && !entry.mode.isSetID {
                    findings.append(
                        Finding(path: entry.path, problem: "has a setuid/setgid bit the manifest does not declare"))
                }
                if f.mode.isWorldWritable && !(entry.kind == .dir && f.mode.bits & 0o1000 != 0) {
                    findings.append(Finding(path: entry.path, problem: "is world-writable"))
                }
            }
            if let owners {
                let user = owners.userName(f.uid)
                let group = owners.groupName(f.gid)
                if user != entry.owner && String(f.uid) != entry.owner {
                    findings.append(
                        Finding(path: entry.path, problem: "owned by \(user), the manifest says \(entry.owner)"))
                }
                if group != entry.group && String(f.gid) != entry.group {
                    findings.append(
                        Finding(path: entry.path, problem: "group \(group), the manifest says \(entry.group)"))
                }
            }
        }
        return findings
    }

    /// Rules the manifest itself must follow, whatever is on disk.
    public static func checkManifest(_ manifest: Manifest) -> [Finding] {
        var findings: [Finding] = []
        for entry in manifest.entries where entry.kind != .symlink {
            if entry.mode.isWorldWritable && !(entry.kind == .dir && entry.mode.bits & 0o1000 != 0) {
                findings.append(
                    Finding(path: entry.path, problem: "the manifest declares it world-writable (\(entry.mode))"))
            }
        }
        return findings
    }
}

extension Manifest {
    /// A manifest describing a tree as it is: modes as found, owner and group as given (kept from `previous`
    /// for paths it already listed), hooks kept from `previous`.
    public static func describe(
        _ found: [String: FoundEntry], owner: String, group: String, previous: Manifest? = nil
    ) throws(BundleError) -> Manifest {
        var entries: [ManifestEntry] = []
        var problems: [String] = []
        for f in found.values.sorted(by: { $0.path < $1.path }) {
            if f.special { problems.append("\(f.path): a device, fifo or socket, which a bundle may not hold") }
            if let target = f.target, let problem = symlinkProblem(path: f.path, target: target) {
                problems.append("\(f.path): \(problem)")
            }
            if f.kind != .symlink && f.mode.isWorldWritable && !(f.kind == .dir && f.mode.bits & 0o1000 != 0) {
                problems.append("\(f.path): is world-writable (mode \(f.mode)); fix it with chmod o-w")
            }
            let kept = previous?.entry(f.path)
            entries.append(
                ManifestEntry(
                    path: f.path, kind: f.kind, mode: f.kind == .symlink ? FileMode(0o777) : f.mode,
                    owner: kept?.owner ?? owner,
                    group: kept?.group ?? group, sha256: f.sha256, target: f.target))
        }
        if !problems.isEmpty { throw BundleError(problems.joined(separator: "\n")) }
        return Manifest(
            name: previous?.name, beforeSwitch: previous?.beforeSwitch, afterSwitch: previous?.afterSwitch,
            entries: entries)
    }
}
