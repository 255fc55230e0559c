import CSSH2
import FoundationEssentials
import Glibc
import Net

/// An authenticated SSH connection (one TCP connection, one libssh2 session) on which any number of commands
/// and one SFTP session run, one after another. Not for use from two threads at once.
public final class SSHConnection {
    public let host: String
    public let port: Int
    public let user: String
    let session: SSHSession
    var socketFD: Int32
    /// The jump host's tunnel this connection runs over, if any.
    private var tunnel: SSHTunnel?
    private var sftpHandle: OpaquePointer?
    /// Bytes handed to the transport for sending (commands, stdin, file contents): what a deploy costs the link.
    public internal(set) var payloadBytesSent: Int64 = 0

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
