import CLinux
import Glibc

/// An open directory, owning its descriptor. Everything beneath it is reached through descriptors, with no
/// symlink followed on the way (openat2 with RESOLVE_BENEATH and RESOLVE_NO_SYMLINKS): a path that someone else
/// can change between two calls (a service account owning a directory of a release, say) cannot redirect a
/// write, a link or a removal outside the tree, or onto another file in it.
///
/// Relative paths given to its methods are `/`-separated and never absolute; `..` cannot climb out.
public final class Directory: Sendable {
    public let descriptor: Int32
    /// The path it was opened by, for messages.
    public let path: String

    init(descriptor: Int32, path: String) {
        self.descriptor = descriptor
        self.path = path
    }

    deinit { close(descriptor) }

    /// Opens a directory that the operator named (an install root, a state directory), creating it and its
    /// parents with `mode` when `create` is set. Its own path may go through symlinks the operator made; only
    /// what lies beneath it is held to the no-symlink rule.
    public static func open(_ path: String, create mode: mode_t? = nil) throws(SystemError) -> Directory {
        if let mode { try makeDirectories(path, mode: mode) }
        let fd = retryingInterrupts { Glibc.open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC) }
        guard fd >= 0 else { throw SystemError("open \(path)") }
        return Directory(descriptor: fd, path: path)
    }

    /// `mkdir -p`: each missing component is created with `mode`.
    static func makeDirectories(_ path: String, mode: mode_t) throws(SystemError) {
        var prefix = path.hasPrefix("/") ? "" : "."
        for part in path.split(separator: "/") {
            prefix += "/" + part
            if mkdir(prefix, mode) != 0 && errno != EEXIST { throw SystemError("create \(prefix)") }
        }
    }

    func display(_ relative: String) -> String { relative.isEmpty ? path : path + "/" + relative }

    /// Opens `relative` beneath this directory with `flags`, following no symlink on the way.
    public func openBeneath(_ relative: String, flags: Int32, mode: mode_t = 0) -> Int32 {
        retryingInterrupts {
            clinux_open_beneath(descriptor, relative.isEmpty ? "." : relative, flags | O_CLOEXEC, UInt32(mode))
        }
    }

    /// The directory `relative` beneath this one.
    public func directory(_ relative: String) throws(SystemError) -> Directory {
        let fd = openBeneath(relative, flags: O_RDONLY | O_DIRECTORY | O_NOFOLLOW)
        guard fd >= 0 else { throw SystemError("open \(display(relative))") }
        return Directory(descriptor: fd, path: display(relative))
    }

    /// The directory holding `relative`, and the last component's name.
    func parent(of relative: String) throws(SystemError) -> (Directory?, String) {
        guard let slash = relative.lastIndex(of: "/") else { return (nil, relative) }
        return (try directory(String(relative[..<slash])), String(relative[relative.index(after: slash)...]))
    }

    /// Creates the directory `relative`; one that is already there is fine when `existing` says so.
    public func makeDirectory(_ relative: String, mode: mode_t, existing: Bool = false) throws(SystemError) {
        let (parent, name) = try parent(of: relative)
        if mkdirat(parent?.descriptor ?? descriptor, name, mode) == 0 { return }
        let code = errno
        if code == EEXIST && existing, isDirectory(relative) { return }
        throw SystemError("create \(display(relative))", code: code)
    }

    /// Creates the symlink `relative` pointing to `target` (the target is not looked at).
    public func makeSymlink(_ relative: String, target: String) throws(SystemError) {
        let (parent, name) = try parent(of: relative)
        guard symlinkat(target, parent?.descriptor ?? descriptor, name) == 0 else {
            throw SystemError("create symlink \(display(relative))")
        }
    }

    /// Creates the regular file `relative`, which must not exist (no symlink or file is ever opened in its
    /// place), for writing; the caller owns the descriptor.
    public func createFile(_ relative: String, mode: mode_t) throws(SystemError) -> Int32 {
        let fd = openBeneath(relative, flags: O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, mode: mode)
        guard fd >= 0 else { throw SystemError("write \(display(relative))") }
        return fd
    }

    /// Opens the regular file `relative` for reading, following no symlink; the caller owns the descriptor.
    /// Anything else is refused: opened without blocking, so a FIFO put in a file's place (by whoever owns its
    /// directory) cannot hang the reader, and then checked to be a regular file.
    public func openFile(_ relative: String) throws(SystemError) -> Int32 {
        let fd = openBeneath(relative, flags: O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY)
        guard fd >= 0 else { throw SystemError("open \(display(relative))") }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            let error = SystemError("stat \(display(relative))")
            close(fd)
            throw error
        }
        guard st.st_mode & S_IFMT == S_IFREG else {
            close(fd)
            throw SystemError("open \(display(relative)) (not a regular file)", code: EINVAL)
        }
        return fd
    }

    /// The whole of the regular file `relative`, refused beyond `limit` bytes.
    public func read(_ relative: String, limit: Int) throws(SystemError) -> [UInt8] {
        let fd = try openFile(relative)
        defer { close(fd) }
        return try readAll(fd, limit: limit, display: display(relative))
    }

    /// What lstat says of `relative`, or nil when it does not exist (or cannot be reached without a symlink).
    public func status(_ relative: String) -> stat? {
        let fd = openBeneath(relative, flags: clinux_O_PATH | O_NOFOLLOW)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var st = stat()
        return fstat(fd, &st) == 0 ? st : nil
    }

    public func isDirectory(_ relative: String) -> Bool {
        status(relative).map { $0.st_mode & S_IFMT == S_IFDIR } ?? false
    }

    /// Where the symlink `relative` points.
    public func readLink(_ relative: String) throws(SystemError) -> String {
        let (parent, name) = try parent(of: relative)
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = readlinkat(parent?.descriptor ?? descriptor, name, &buffer, buffer.count - 1)
        guard n >= 0 else { throw SystemError("read the link \(display(relative))") }
        return String(decoding: buffer.prefix(n).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The names in this directory (not `.` and `..`), unsorted.
    public func names() throws(SystemError) -> [String] {
        let fd = dup(descriptor)
        guard fd >= 0, let stream = fdopendir(fd) else {
            if fd >= 0 { close(fd) }
            throw SystemError("read the directory \(path)")
        }
        defer { closedir(stream) }
        rewinddir(stream)
        var out: [String] = []
        while let entry = readdir(stream) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name != "." && name != ".." { out.append(name) }
        }
        return out
    }

    /// Renames `from` to `to`, both beneath this directory, replacing `to` if it is there.
    public func rename(_ from: String, to: String) throws(SystemError) {
        let (fromParent, fromName) = try parent(of: from)
        let (toParent, toName) = try parent(of: to)
        guard renameat(fromParent?.descriptor ?? descriptor, fromName, toParent?.descriptor ?? descriptor, toName) == 0
        else { throw SystemError("rename \(display(from)) to \(display(to))") }
    }

    /// Swaps the entries `a` and `b` beneath this directory in one step (renameat2 RENAME_EXCHANGE): there is
    /// no moment at which either name is missing, so a directory that a link points into is replaced whole.
    public func exchange(_ a: String, _ b: String) throws(SystemError) {
        let (aParent, aName) = try parent(of: a)
        let (bParent, bName) = try parent(of: b)
        guard clinux_exchange(aParent?.descriptor ?? descriptor, aName, bParent?.descriptor ?? descriptor, bName) == 0
        else { throw SystemError("exchange \(display(a)) and \(display(b))") }
    }

    /// Removes the file or symlink `relative`; one that is not there is fine.
    public func removeFile(_ relative: String) throws(SystemError) {
        let (parent, name) = try parent(of: relative)
        guard unlinkat(parent?.descriptor ?? descriptor, name, 0) == 0 || errno == ENOENT else {
            throw SystemError("remove \(display(relative))")
        }
    }

    /// Removes `relative` and everything beneath it, making directories writable first (a release may hold
    /// 0555 directories). Every step is relative to a directory descriptor opened without following symlinks:
    /// a directory swapped for a symlink mid-way has the symlink removed, never what it points to.
    public func removeTree(_ relative: String) throws(SystemError) {
        let parent: Directory?
        let name: String
        do {
            (parent, name) = try self.parent(of: relative)
        } catch  where error.code == ENOENT {
            return
        }
        try Self.removeTree(in: parent?.descriptor ?? descriptor, name, display: display(relative))
    }

    static func removeTree(in parent: Int32, _ name: String, display: String) throws(SystemError) {
        // A name that is swapped for something else while its directory is emptied (rmdir then says ENOTDIR or
        // ENOTEMPTY) is removed again, as what it is now; a bounded number of times.
        for attempt in 1...8 {
            let fd = retryingInterrupts { openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) }
            if fd < 0 {
                switch errno {
                case ENOENT: return
                case ENOTDIR, ELOOP:  // a file or a symlink: the entry itself goes
                    if unlinkat(parent, name, 0) == 0 || errno == ENOENT { return }
                    guard errno == EISDIR && attempt < 8 else { throw SystemError("remove \(display)") }
                    continue
                default: throw SystemError("open \(display)")
                }
            }
            let directory = Directory(descriptor: fd, path: display)
            var st = stat()
            if fstat(fd, &st) == 0, st.st_mode & 0o700 != 0o700 { fchmod(fd, 0o700) }
            for child in try directory.names() {
                try removeTree(in: fd, child, display: display + "/" + child)
            }
            if unlinkat(parent, name, AT_REMOVEDIR) == 0 || errno == ENOENT { return }
            guard (errno == ENOTDIR || errno == ENOTEMPTY) && attempt < 8 else {
                throw SystemError("remove \(display)")
            }
        }
    }

    /// Replaces `name` (beneath this directory) with `bytes` atomically: a temporary file with a random name,
    /// created exclusively (never a file or symlink someone planted), given `mode`, flushed, then renamed over
    /// the old one, and the directory flushed. Readers see the old content or the new, never a part.
    public func writeAtomically(_ name: String, _ bytes: some Collection<UInt8>, mode: mode_t) throws(SystemError) {
        let (parent, leaf) = try parent(of: name)
        let directory = parent ?? self
        var temporary = ""
        var fd: Int32 = -1
        for _ in 0..<16 {
            temporary = ".\(leaf).\(String(UInt64.random(in: 0...UInt64.max), radix: 36)).tmp"
            fd = directory.openBeneath(temporary, flags: O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, mode: 0o600)
            if fd >= 0 || errno != EEXIST { break }
        }
        guard fd >= 0 else { throw SystemError("write \(display(name))") }
        do throws(SystemError) {
            let contiguous = Array(bytes)
            let shown = display(name)
            var failure: SystemError?
            contiguous.withUnsafeBytes { raw in
                do throws(SystemError) { try writeAll(fd, raw, display: shown) } catch { failure = error }
            }
            if let failure { throw failure }
            guard fchmod(fd, mode) == 0 else { throw SystemError("set the mode of \(shown)") }
            guard fsync(fd) == 0 else { throw SystemError("write \(shown)") }
        } catch {
            close(fd)
            unlinkat(directory.descriptor, temporary, 0)
            throw error
        }
        close(fd)
        guard renameat(directory.descriptor, temporary, directory.descriptor, leaf) == 0 else {
            let failure = SystemError("replace \(display(name))")
            unlinkat(directory.descriptor, temporary, 0)
            throw failure
        }
        fsync(directory.descriptor)
    }

    /// An O_PATH descriptor of `name` (a name in this directory, never followed if a symlink), or -1: for a
    /// stat and a link of one and the same file.
    public func pathDescriptor(_ name: String) -> Int32 {
        retryingInterrupts { openat(descriptor, name, clinux_O_PATH | O_NOFOLLOW | O_CLOEXEC) }
    }

    /// Hard-links the file open as `fd` (any descriptor of it, O_PATH included) as `name` in this directory: the
    /// link is to exactly the file that was opened, whatever its old name points to now.
    public func link(descriptor fd: Int32, as name: String) -> Bool {
        if linkat(fd, "", descriptor, name, clinux_AT_EMPTY_PATH) == 0 { return true }
        // AT_EMPTY_PATH needs CAP_DAC_READ_SEARCH; /proc names the same open file for everyone else.
        guard errno == ENOENT || errno == EPERM else { return false }
        return linkat(AT_FDCWD, "/proc/self/fd/\(fd)", descriptor, name, AT_SYMLINK_FOLLOW) == 0
    }

    /// Flushes the file system holding this directory to disk.
    public func syncFileSystem() throws(SystemError) {
        guard clinux_syncfs(descriptor) == 0 else { throw SystemError("flush \(path) to disk") }
    }
}
