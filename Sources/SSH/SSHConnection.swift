import CSSH2
import Foundation
import Net

#if canImport(Glibc)
    import Glibc
#endif

/// How a connection proves who it is: a private key file (its public key beside it as `PATH.pub`, or none), or
/// the keys of an ssh-agent.
public enum SSHAuthentication: Sendable, Equatable {
    case keyFile(String)
    /// The agent listening on `socket`, or on `$SSH_AUTH_SOCK` when nil.
    case agent(socket: String?)
}

/// Decides which host keys are trusted: strict checking against OpenSSH known_hosts files (plain and hashed
/// entries, `[host]:port`). An unknown or changed key is refused with a sentence saying which and why.
public struct HostKeyPolicy: Sendable {
    public var files: [String]

    public init(files: [String] = KnownHosts.defaultFiles) {
        self.files = files
    }

    /// nil when `key` (SSH wire format) is the trusted key of `host`:`port`, else the reason for refusing it.
    public func refusal(host: String, port: Int, key: [UInt8]) -> String? {
        let place = port == 22 ? host : "[\(host)]:\(port)"
        let known: KnownHosts
        do {
            known = try KnownHosts(files: files)
        } catch {
            return "cannot read known_hosts: \(error)"
        }
        switch known.check(host: host, port: port, key: key) {
        case .trusted: return nil
        case .mismatch:
            return
                "the host key of \(place) does not match \(known.files.joined(separator: ", ")): refusing to connect (the key changed, or someone is in the way)"
        case .unknown:
            let searched = known.files.isEmpty ? files : known.files
            return
                "\(place) is not in \(searched.joined(separator: ", ")): refusing an unknown host key (add the host's key after checking it)"
        }
    }
}

/// What a remote command did.
public struct RemoteResult: Sendable {
    public var status: Int32
    public var stdout: [UInt8]
    public var stderr: [UInt8]
    /// The signal that ended it, if one did (e.g. "KILL").
    public var signal: String?

    public var output: String { String(decoding: stdout, as: UTF8.self) }
    public var errorOutput: String { String(decoding: stderr, as: UTF8.self) }
}

/// An authenticated SSH connection (one TCP connection, one libssh2 session) on which any number of commands
/// and one SFTP session run, one after another. Not for use from two threads at once.
public final class SSHConnection {
    public let host: String
    public let port: Int
    public let user: String
    let session: SSHSession
    private var socketFD: Int32
    /// The jump host's tunnel this connection runs over, if any.
    private var tunnel: SSHTunnel?
    private var sftpHandle: OpaquePointer?
    /// Bytes handed to the transport for sending (commands, stdin, file contents): what a deploy costs the link.
    public private(set) var payloadBytesSent: Int64 = 0

    /// Connects within `timeout`, checks the host key against `hostKeys` before anything else is sent, and
    /// authenticates. RSA keys are refused: OpenSSH 9 rejects this libssh2's SHA-1 RSA signatures.
    /// With `jump`, the connection goes through that host, as `ssh -J`: an SSH connection to the jump host
    /// (same host-key checking and authentication), which opens the TCP connection to `host` on its side.
    public init(
        host: String, port: Int = 22, user: String, hostKeys: HostKeyPolicy, authentication: SSHAuthentication,
        timeout: Duration = .seconds(10), through jump: JumpHost? = nil
    ) throws(SSHError) {
        self.host = host
        self.port = port
        self.user = user
        session = try SSHSession()
        if let jump {
            let bastion = try SSHConnection(
                host: jump.host, port: jump.port, user: jump.user, hostKeys: hostKeys, authentication: authentication,
                timeout: timeout)
            let tunnel = try SSHTunnel(through: bastion, to: host, port: port)
            self.tunnel = tunnel
            socketFD = tunnel.sessionFD
        } else {
            socketFD = try SSHConnection.connectTCP(host: host, port: port, timeout: timeout)
        }
        let ms = Int(timeout.wholeMilliseconds)
        libssh2_session_set_timeout(session.handle, max(ms, 1))
        // ed25519 and ECDSA host keys first: what OpenSSH 9 offers and this libssh2 verifies.
        libssh2_session_method_pref(
            session.handle, LIBSSH2_METHOD_HOSTKEY,
            "ssh-ed25519,ecdsa-sha2-nistp256,ecdsa-sha2-nistp384,ecdsa-sha2-nistp521,rsa-sha2-512,rsa-sha2-256")
        do throws(SSHError) {
            let code = libssh2_session_handshake(session.handle, socketFD)
            guard code == 0 else { throw SSHError.last(session.handle, code, "SSH handshake with \(host):\(port)") }
            var length = 0
            var type: Int32 = 0
            guard let raw = libssh2_session_hostkey(session.handle, &length, &type) else {
                throw SSHError.last(session.handle, -1, "read the host key of \(host):\(port)")
            }
            let key = Array(UnsafeRawBufferPointer(start: raw, count: length))
            if let refusal = hostKeys.refusal(host: host, port: port, key: key) {
                throw SSHError(code: -1, message: refusal, operation: "check the host key of \(host):\(port)")
            }
            try authenticate(authentication)
        } catch {
            close(socketFD)
            socketFD = -1
            tunnel?.stop()
            throw error
        }
    }

    deinit {
        if let sftpHandle { libssh2_sftp_shutdown(sftpHandle) }
        if socketFD >= 0 {
            libssh2_session_disconnect_ex(session.handle, SSH_DISCONNECT_BY_APPLICATION, "redeye done", "")
            close(socketFD)
        }
        tunnel?.stop()  // after the socket closed: the tunnel's thread sees the end and lets the jump host go
    }

    // MARK: authentication

    private func authenticate(_ authentication: SSHAuthentication) throws(SSHError) {
        switch authentication {
        case .keyFile(let path):
            if let refusal = SSHConnection.rsaRefusal(keyFile: path) {
                throw SSHError(code: -1, message: refusal, operation: "authenticate as \(user)")
            }
            let publicKey = FileManager.default.fileExists(atPath: path + ".pub") ? path + ".pub" : nil
            let code = cssh2_userauth_publickey_fromfile(session.handle, user, publicKey, path)
            guard code == 0 else {
                throw SSHError.last(session.handle, code, "authenticate as \(user)@\(host) with the key \(path)")
            }
        case .agent(let socket):
            guard let agent = libssh2_agent_init(session.handle) else {
                throw SSHError.last(session.handle, -1, "start the ssh-agent client")
            }
            defer { libssh2_agent_free(agent) }
            if let socket { libssh2_agent_set_identity_path(agent, socket) }
            guard libssh2_agent_connect(agent) == 0 else {
                throw SSHError(
                    code: -1, message: "cannot reach ssh-agent (is SSH_AUTH_SOCK set?)",
                    operation: "authenticate as \(user)@\(host)")
            }
            defer { libssh2_agent_disconnect(agent) }
            guard libssh2_agent_list_identities(agent) == 0 else {
                throw SSHError.last(session.handle, -1, "list the keys of ssh-agent")
            }
            var identity: UnsafeMutablePointer<libssh2_agent_publickey>?
            var previous: UnsafeMutablePointer<libssh2_agent_publickey>?
            var sawRSA = false
            while libssh2_agent_get_identity(agent, &identity, previous) == 0, let current = identity {
                previous = current
                let blob = Array(UnsafeBufferPointer(start: current.pointee.blob, count: current.pointee.blob_len))
                if SSHConnection.keyType(ofBlob: blob) == "ssh-rsa" {
                    sawRSA = true
                    continue
                }
                if libssh2_agent_userauth(agent, user, current) == 0 { return }
            }
            throw SSHError(
                code: -1,
                message: sawRSA
                    ? "no ed25519 or ECDSA key in ssh-agent was accepted (RSA keys are skipped: OpenSSH 9 refuses this libssh2's SHA-1 RSA signatures; use ed25519)"
                    : "the server accepted none of ssh-agent's keys",
                operation: "authenticate as \(user)@\(host)")
        }
    }

    /// The key type named at the start of a public key blob (`ssh-ed25519`, `ssh-rsa`, …).
    static func keyType(ofBlob blob: [UInt8]) -> String? {
        guard blob.count >= 4 else { return nil }
        let length = Int(blob[0]) << 24 | Int(blob[1]) << 16 | Int(blob[2]) << 8 | Int(blob[3])
        guard length <= blob.count - 4 else { return nil }
        return String(decoding: blob[4..<(4 + length)], as: UTF8.self)
    }

    /// A reason to refuse an RSA private key file, read from its public key or its PEM header.
    static func rsaRefusal(keyFile path: String) -> String? {
        let advice =
            "\(path) is an RSA key: OpenSSH 9 refuses this libssh2's SHA-1 RSA signatures; use an ed25519 key (ssh-keygen -t ed25519)"
        if let text = try? String(contentsOfFile: path + ".pub", encoding: .utf8), text.hasPrefix("ssh-rsa ") {
            return advice
        }
        if let text = try? String(contentsOfFile: path, encoding: .utf8) {
            if text.contains("BEGIN RSA PRIVATE KEY") { return advice }
            // OpenSSH format: the public key blob follows the header; its type is readable without the key.
            let body = text.split(separator: "\n").filter { !$0.hasPrefix("-----") }.joined()
            if let data = Data(base64Encoded: body), data.count > 64 {
                let bytes = Array(data)
                if bytes.starts(with: Array("openssh-key-v1\0".utf8)),
                    bytes.firstRange(of: Array("ssh-rsa".utf8)) != nil,
                    bytes.firstRange(of: Array("ssh-ed25519".utf8)) == nil,
                    bytes.firstRange(of: Array("ecdsa-sha2".utf8)) == nil
                {
                    return advice
                }
            }
        }
        return nil
    }

    // MARK: commands

    /// Runs `command` through the remote user's shell, feeding it `input`, and collects its output and exit
    /// status. `timeout` bounds the whole command; when it passes the channel is closed and an error thrown.
    /// `outputLimit` bounds what is kept of each stream: a host that sends more is not read further, and the
    /// command fails (a hostile host cannot fill the deployer's memory).
    public func run(
        _ command: String, input: [UInt8] = [], timeout: Duration = .seconds(600), outputLimit: Int = 8 << 20
    ) throws(SSHError) -> RemoteResult {
        guard let channel = cssh2_channel_open_session(session.handle) else {
            throw SSHError.last(session.handle, -1, "open a channel to \(host)")
        }
        defer { libssh2_channel_free(channel) }
        payloadBytesSent += Int64(command.utf8.count)
        let code = cssh2_channel_exec(channel, command)
        guard code == 0 else { throw SSHError.last(session.handle, code, "start a command on \(host)") }
        var offset = 0
        while offset < input.count {
            let n = input.withUnsafeBytes { raw in
                cssh2_channel_write(
                    channel, raw.baseAddress!.assumingMemoryBound(to: CChar.self) + offset, input.count - offset)
            }
            guard n >= 0 else { throw SSHError.last(session.handle, Int32(n), "send input to \(host)") }
            offset += n
        }
        payloadBytesSent += Int64(input.count)
        libssh2_channel_send_eof(channel)

        // Both streams are drained together without blocking, so a chatty stderr cannot stall stdout.
        libssh2_session_set_blocking(session.handle, 0)
        defer { libssh2_session_set_blocking(session.handle, 1) }
        let deadline = ContinuousClock.now.advanced(by: timeout)
        var stdout: [UInt8] = []
        var stderr: [UInt8] = []
        var buffer = [CChar](repeating: 0, count: 32_768)
        while true {
            var progressed = false
            for stream: Int32 in [0, SSH_EXTENDED_DATA_STDERR] {
                while true {
                    let n = cssh2_channel_read(channel, stream, &buffer, buffer.count)
                    if n > 0 {
                        progressed = true
                        let bytes = buffer.prefix(n).map { UInt8(bitPattern: $0) }
                        if stream == 0 { stdout += bytes } else { stderr += bytes }
                        guard stdout.count <= outputLimit && stderr.count <= outputLimit else {
                            throw SSHError(
                                code: -1,
                                message:
                                    "the command sent more than \(outputLimit) bytes of \(stream == 0 ? "output" : "error output"); stopped reading",
                                operation: "run a command on \(host)")
                        }
                    } else if n == 0 || n == LIBSSH2_ERROR_EAGAIN {
                        break
                    } else {
                        throw SSHError.last(session.handle, Int32(n), "read the output of a command on \(host)")
                    }
                }
            }
            if libssh2_channel_eof(channel) == 1 { break }
            if !progressed {
                guard ContinuousClock.now < deadline else {
                    throw SSHError(
                        code: LIBSSH2_ERROR_TIMEOUT, message: "no result within \(timeout)",
                        operation: "run a command on \(host)")
                }
                waitForSocket(milliseconds: 100)
            }
        }
        closeChannel(channel, until: deadline)
        var signalName: UnsafeMutablePointer<CChar>?
        var signalLength = 0
        libssh2_channel_get_exit_signal(channel, &signalName, &signalLength, nil, nil, nil, nil)
        let signal = signalName.map { String(cString: $0) }
        if let signalName { libssh2_free(session.handle, signalName) }
        return RemoteResult(
            status: libssh2_channel_get_exit_status(channel), stdout: stdout, stderr: stderr, signal: signal)
    }

    /// Opens a TCP connection from the remote host to `host`:`port` (a `direct-tcpip` channel: the remote sshd
    /// connects), writes `request`, and reads the answer until the far end closes, `isComplete` says it is
    /// whole, `limit` bytes came or `timeout` passed. An empty request with `limit` 0 only checks that the
    /// connection can be made. This reaches what the remote host reaches, as `ssh -W` does.
    public func exchange(
        with host: String, port: Int, request: [UInt8], limit: Int, timeout: Duration,
        isComplete: ([UInt8]) -> Bool = { _ in false }
    ) throws(SSHError) -> [UInt8] {
        let operation = "connect to \(host):\(port) from \(self.host)"
        let deadline = ContinuousClock.now.advanced(by: timeout)
        libssh2_session_set_blocking(session.handle, 0)
        defer { libssh2_session_set_blocking(session.handle, 1) }
        var opened: OpaquePointer?
        while opened == nil {
            opened = cssh2_channel_direct_tcpip(session.handle, host, Int32(port))
            if opened != nil { break }
            let code = libssh2_session_last_errno(session.handle)
            guard code == LIBSSH2_ERROR_EAGAIN else { throw SSHError.last(session.handle, code, operation) }
            guard ContinuousClock.now < deadline else {
                throw SSHError(
                    code: LIBSSH2_ERROR_TIMEOUT, message: "no answer within \(timeout)", operation: operation)
            }
            waitForSocket(milliseconds: 100)
        }
        guard let channel = opened else { throw SSHError.last(session.handle, -1, operation) }
        defer {
            closeChannel(channel, until: deadline)
            libssh2_session_set_blocking(session.handle, 1)  // non-blocking, free could stop half-way (EAGAIN)
            libssh2_channel_free(channel)
        }
        var offset = 0
        while offset < request.count {
            let n = request.withUnsafeBytes { raw in
                cssh2_channel_write(
                    channel, raw.baseAddress!.assumingMemoryBound(to: CChar.self) + offset, request.count - offset)
            }
            if n >= 0 {
                offset += n
            } else if n == LIBSSH2_ERROR_EAGAIN, ContinuousClock.now < deadline {
                waitForSocket(milliseconds: 100)
            } else {
                throw SSHError.last(session.handle, Int32(n), "send to \(host):\(port) from \(self.host)")
            }
        }
        payloadBytesSent += Int64(request.count)
        var answer: [UInt8] = []
        var buffer = [CChar](repeating: 0, count: 16_384)
        while answer.count < limit, !isComplete(answer) {
            let n = cssh2_channel_read(channel, 0, &buffer, buffer.count)
            if n > 0 {
                answer += buffer.prefix(n).map { UInt8(bitPattern: $0) }
            } else if n == 0 && libssh2_channel_eof(channel) == 1 {
                break
            } else if n == 0 || n == LIBSSH2_ERROR_EAGAIN {
                guard ContinuousClock.now < deadline else {
                    if answer.isEmpty {
                        throw SSHError(
                            code: LIBSSH2_ERROR_TIMEOUT, message: "no answer within \(timeout)",
                            operation: "read from \(host):\(port) through \(self.host)")
                    }
                    break
                }
                waitForSocket(milliseconds: 100)
            } else {
                throw SSHError.last(session.handle, Int32(n), "read from \(host):\(port) through \(self.host)")
            }
        }
        return answer
    }

    /// Closes a channel of the (non-blocking) session, waiting for the far end's close until `deadline`.
    private func closeChannel(_ channel: OpaquePointer, until deadline: ContinuousClock.Instant) {
        while libssh2_channel_close(channel) == LIBSSH2_ERROR_EAGAIN, ContinuousClock.now < deadline {
            waitForSocket(milliseconds: 100)
        }
    }

    private func waitForSocket(milliseconds: Int32) {
        var fd = socketPollEntry
        _ = poll(&fd, 1, milliseconds)
    }

    /// The session's socket (a TCP socket, or a tunnel's end of a socket pair), to poll for the directions
    /// libssh2 is blocked on; for reading when it is blocked on none.
    var socketPollEntry: pollfd {
        let directions = libssh2_session_block_directions(session.handle)
        var events: Int16 = 0
        if directions & LIBSSH2_SESSION_BLOCK_INBOUND != 0 { events |= Int16(POLLIN) }
        if directions & LIBSSH2_SESSION_BLOCK_OUTBOUND != 0 { events |= Int16(POLLOUT) }
        return pollfd(fd: socketFD, events: events == 0 ? Int16(POLLIN) : events, revents: 0)
    }

    // MARK: SFTP

    /// The SFTP session of this connection, started on first use.
    public func sftp() throws(SSHError) -> SFTP {
        if sftpHandle == nil {
            guard let handle = libssh2_sftp_init(session.handle) else {
                throw SSHError.last(session.handle, -1, "start SFTP on \(host)")
            }
            sftpHandle = handle
        }
        return SFTP(connection: self, handle: sftpHandle!)
    }

    func countSent(_ bytes: Int) { payloadBytesSent += Int64(bytes) }

    // MARK: TCP

    /// A connected TCP socket to `host`:`port`, or an error naming the host, within `timeout`.
    public static func connectTCP(host: String, port: Int, timeout: Duration) throws(SSHError) -> Int32 {
        do {
            return try TCP.connect(host: host, port: port, timeout: timeout)
        } catch {
            throw SSHError(code: -1, message: error.message, operation: error.operation)
        }
    }
}

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

/// Quotes a word for a POSIX shell: the result is always one word with the exact bytes given.
public func shellQuote(_ word: String) -> String {
    if !word.isEmpty,
        word.utf8.allSatisfy({ c in
            (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A)
                || "-_./=:,+@%".utf8.contains(c)
        })
    {
        return word
    }
    return "'" + word.replacingOccurrences(of: "'", with: "'\\''") + "'"
}
