import Digest
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

/// Reads a directory tree with lstat, hashing files as it goes.
public enum TreeScanner {
    /// Every path under `root` (relative), except the manifest itself and a `.git` directory at the root.
    public static func scan(_ root: String, hashing: Bool = true) throws(BundleError) -> [String: FoundEntry] {
        var out: [String: FoundEntry] = [:]
        try walk(root, relative: "", into: &out, hashing: hashing)
        return out
    }

    private static func walk(_ root: String, relative: String, into out: inout [String: FoundEntry], hashing: Bool)
        throws(BundleError)
    {
        let directory = relative.isEmpty ? root : root + "/" + relative
        guard let dir = opendir(directory) else {
            throw BundleError(
                "\(relative.isEmpty ? root : relative): cannot read the directory: \(String(cString: strerror(errno)))")
        }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name == "." || name == ".." { continue }
            if relative.isEmpty && (name == ".git" || name == Manifest.fileName) { continue }
            names.append(name)
        }
        for name in names.sorted() {
            let path = relative.isEmpty ? name : relative + "/" + name
            let full = root + "/" + path
            var st = stat()
            guard lstat(full, &st) == 0 else { throw BundleError("\(path): \(String(cString: strerror(errno)))") }
            let type = st.st_mode & S_IFMT
            var found = FoundEntry(
                path: path, kind: .file, mode: FileMode(UInt32(st.st_mode)), uid: st.st_uid, gid: st.st_gid,
                size: Int64(st.st_size),
                sha256: nil, target: nil, special: false)
            switch type {
            case S_IFDIR:
                found.kind = .dir
                out[path] = found
                try walk(root, relative: path, into: &out, hashing: hashing)
                continue
            case S_IFREG:
                if hashing { found.sha256 = try hashFile(full, display: path) }
            case S_IFLNK:
                found.kind = .symlink
                var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
                let n = readlink(full, &buffer, buffer.count - 1)
                guard n >= 0 else {
                    throw BundleError("\(path): cannot read the link: \(String(cString: strerror(errno)))")
                }
                found.target = String(decoding: buffer.prefix(n).map { UInt8(bitPattern: $0) }, as: UTF8.self)
                found.mode = FileMode(0o777)
            default:
                found.special = true
            }
            out[path] = found
        }
    }

    /// The given paths only (lstat each, no hashing): for checking what an install just wrote.
    public static func entries(_ paths: [String], under root: String) throws(BundleError) -> [String: FoundEntry] {
        var out: [String: FoundEntry] = [:]
        for path in paths {
            var st = stat()
            guard lstat(root + "/" + path, &st) == 0 else { continue }
            var found = FoundEntry(path: path, stat: st)
            if found.kind == .symlink {
                var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
                let n = readlink(root + "/" + path, &buffer, buffer.count - 1)
                if n >= 0 {
                    found.target = String(decoding: buffer.prefix(n).map { UInt8(bitPattern: $0) }, as: UTF8.self)
                }
            }
            out[path] = found
        }
        return out
    }

    /// SHA-256 of a file, read in 1 MiB chunks.
    public static func hashFile(_ path: String, display: String? = nil) throws(BundleError) -> String {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw BundleError("\(display ?? path): cannot open: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let hasher = SHA256Hasher()
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
        defer { buffer.deallocate() }
        while true {
            let n = read(fd, buffer.baseAddress, buffer.count)
            if n < 0 {
                if errno == EINTR { continue }
                throw BundleError("\(display ?? path): read failed: \(String(cString: strerror(errno)))")
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
