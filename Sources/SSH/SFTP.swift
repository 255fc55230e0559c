import CSSH2
import FoundationEssentials
import Glibc
import Net

/// File transfer over an `SSHConnection` (SFTP version 3, as OpenSSH serves it).
public struct SFTP {
    let connection: SSHConnection
    let handle: OpaquePointer

    private func failure(_ operation: String) -> SSHError {
        let code = libssh2_sftp_last_error(handle)
        let names: [UInt: String] = [
            2: "no such file", 3: "permission denied", 4: "failure", 11: "file already exists", 14: "no space left",
        ]
        var error = SSHError.last(connection.session.handle, -1, operation)
        if code != 0 { error.message = names[code] ?? "SFTP status \(code)" }
        return error
    }

    /// Writes `bytes` to a new file at `path` (refused if it exists) with `mode`.
    public func create(_ path: String, _ bytes: [UInt8], mode: Int32 = 0o600) throws(SSHError) {
        let file = try open(forWriting: path, mode: mode)
        defer { file.close() }
        try file.write(bytes)
    }

    /// Opens a new file (refused if it exists) for writing in pieces: for content too large to hold at once.
    public func open(forWriting path: String, mode: Int32 = 0o600) throws(SSHError) -> SFTPFile {
        guard
            let file = cssh2_sftp_open(
                handle, path, UInt(LIBSSH2_FXF_WRITE | LIBSSH2_FXF_CREAT | LIBSSH2_FXF_EXCL), Int(mode))
        else { throw failure("create \(path) on \(connection.host)") }
        connection.countSent(path.utf8.count)
        return SFTPFile(sftp: self, handle: file, path: path)
    }

    /// The whole content of a file, or nil when it does not exist.
    public func read(_ path: String, limit: Int = 64 << 20) throws(SSHError) -> [UInt8]? {
        guard let file = cssh2_sftp_open(handle, path, UInt(LIBSSH2_FXF_READ), 0) else {
            if libssh2_sftp_last_error(handle) == UInt(LIBSSH2_FX_NO_SUCH_FILE) { return nil }
            throw failure("open \(path) on \(connection.host)")
        }
        defer { _ = cssh2_sftp_close(file) }
        var out: [UInt8] = []
        var buffer = [CChar](repeating: 0, count: 65_536)
        while true {
            let n = libssh2_sftp_read(file, &buffer, buffer.count)
            if n == 0 { break }
            guard n > 0 else { throw failure("read \(path) on \(connection.host)") }
            out += buffer.prefix(n).map { UInt8(bitPattern: $0) }
            guard out.count <= limit else {
                throw SSHError(code: -1, message: "larger than \(limit) bytes", operation: "read \(path)")
            }
        }
        return out
    }

    /// Where a symlink points, or nil when `path` does not exist.
    public func readlink(_ path: String) throws(SSHError) -> String? {
        // libssh2 1.10 reports a garbage status when READLINK fails, so a missing path is found by lstat first.
        guard exists(path) else { return nil }
        var buffer = [CChar](repeating: 0, count: 4096)
        let n = cssh2_sftp_readlink(handle, path, &buffer, UInt32(buffer.count))
        guard n >= 0 else { throw failure("read the link \(path) on \(connection.host)") }
        return String(decoding: buffer.prefix(Int(n)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Creates a directory; `exclusive` makes an existing one an error (how a lock is taken).
    public func mkdir(_ path: String, mode: Int32 = 0o700, exclusive: Bool = false) throws(SSHError) {
        guard cssh2_sftp_mkdir(handle, path, Int(mode)) == 0 else {
            if !exclusive, exists(path) { return }
            throw failure("create the directory \(path) on \(connection.host)")
        }
    }

    public func exists(_ path: String) -> Bool {
        var attributes = LIBSSH2_SFTP_ATTRIBUTES()
        return cssh2_sftp_lstat(handle, path, &attributes) == 0
    }

    public func unlink(_ path: String) throws(SSHError) {
        guard cssh2_sftp_unlink(handle, path) == 0 else { throw failure("remove \(path) on \(connection.host)") }
    }

    public func rmdir(_ path: String) throws(SSHError) {
        guard cssh2_sftp_rmdir(handle, path) == 0 else { throw failure("remove \(path) on \(connection.host)") }
    }

    /// The names in a directory (without `.` and `..`), or nil when it does not exist.
    public func list(_ path: String) throws(SSHError) -> [String]? {
        guard let directory = cssh2_sftp_opendir(handle, path) else {
            if libssh2_sftp_last_error(handle) == UInt(LIBSSH2_FX_NO_SUCH_FILE) { return nil }
            throw failure("list \(path) on \(connection.host)")
        }
        defer { _ = cssh2_sftp_close(directory) }
        var names: [String] = []
        var buffer = [CChar](repeating: 0, count: 1024)
        var attributes = LIBSSH2_SFTP_ATTRIBUTES()
        while names.count < 100_000 {
            let n = cssh2_sftp_readdir(directory, &buffer, buffer.count, &attributes)
            if n == 0 { break }
            guard n > 0 else { throw failure("list \(path) on \(connection.host)") }
            let name = String(decoding: buffer.prefix(Int(n)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }
}

/// A remote file open for writing; `close()` it (or let it go) when done.
public final class SFTPFile {
    let sftp: SFTP
    private var handle: OpaquePointer?
    public let path: String

    init(sftp: SFTP, handle: OpaquePointer, path: String) {
        self.sftp = sftp
        self.handle = handle
        self.path = path
    }

    deinit { close() }

    public func write(_ bytes: [UInt8]) throws(SSHError) {
        guard let handle else { throw SSHError(code: -1, message: "closed", operation: "write \(path)") }
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { raw in
                libssh2_sftp_write(
                    handle, raw.baseAddress!.assumingMemoryBound(to: CChar.self) + offset, bytes.count - offset)
            }
            guard n > 0 else {
                throw SSHError.last(
                    sftp.connection.session.handle, Int32(n), "write \(path) on \(sftp.connection.host)")
            }
            offset += n
        }
        sftp.connection.countSent(bytes.count)
    }

    public func close() {
        if let handle { _ = cssh2_sftp_close(handle) }
        handle = nil
    }
}
