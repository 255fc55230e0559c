import FileSystem
import FoundationEssentials
import Glibc

func posixError(_ what: String) -> BundleError {
    BundleError(SystemError(what).description)
}

/// `path` split into its directory ("" at the top) and its last component.
func splitPath(_ path: String) -> (String, String) {
    guard let slash = path.lastIndex(of: "/") else { return ("", path) }
    return (String(path[..<slash]), String(path[path.index(after: slash)...]))
}

func makeDirectory(_ path: String, mode: mode_t, parents: Bool = false) throws {
    if parents {
        // The missing parents as mkdir -p makes them (0755 less the umask), then `path` itself.
        var prefix = path.hasPrefix("/") ? "/" : ""
        for component in path.split(separator: "/").dropLast() {
            prefix += component
            guard mkdir(prefix, 0o755) == 0 || errno == EEXIST else { throw posixError("create \(prefix)") }
            prefix += "/"
        }
    }
    guard mkdir(path, mode) == 0 || errno == EEXIST else { throw posixError("create \(path)") }
}

/// Creates `name` in `directory` with `bytes` (exclusively, never through a symlink), gives it `owner` (first:
/// chown clears set-id bits) and `mode` through its descriptor, and returns what fstat then says of it.
func writeFile(
    in directory: Directory, _ name: String, _ bytes: UnsafeRawBufferPointer, owner: (UInt32, UInt32), mode: mode_t,
    display: String
) throws -> stat {
    let fd = retryingInterrupts {
        openat(directory.descriptor, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
    }
    guard fd >= 0 else { throw posixError("write \(display)") }
    var st = stat()
    do {
        try writeAll(fd, bytes, display: display)
        guard fchown(fd, owner.0, owner.1) == 0 else { throw posixError("set the owner of \(display)") }
        guard fchmod(fd, mode) == 0 else { throw posixError("set the mode of \(display)") }
        guard fstat(fd, &st) == 0 else { throw posixError("stat \(display)") }
    } catch {
        close(fd)
        throw error
    }
    guard close(fd) == 0 else { throw posixError("write \(display)") }
    return st
}

/// Replaces the file at `path` atomically (the one writer: `Directory.writeAtomically`).
func atomicWrite(_ path: String, _ bytes: [UInt8], mode: mode_t = 0o600) throws {
    let (directory, name) = splitPath(path)
    try Directory.open(directory).writeAtomically(name, bytes, mode: mode)
}

/// Removes a tree through directory descriptors (`Directory.removeTree`): a directory swapped for a symlink
/// while it is removed has the symlink removed, never what it points to.
func removeTree(_ path: String) throws {
    let (directory, name) = splitPath(path)
    let parent: Directory
    do {
        parent = try Directory.open(directory.isEmpty ? "/" : directory)
    } catch  where error.code == ENOENT {
        return
    }
    try parent.removeTree(name)
}
