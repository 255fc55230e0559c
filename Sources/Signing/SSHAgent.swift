import FileSystem
import FoundationEssentials
import Glibc

/// A client for ssh-agent (draft-miller-ssh-agent): lists keys and signs with one, so the private key
/// never enters this process.
public final class SSHAgent {
    private let fd: Int32

    /// Connects to the agent at `socketPath` (default: `$SSH_AUTH_SOCK`).
    public init(socketPath: String? = nil) throws(SigningError) {
        guard let path = socketPath ?? ProcessInfo.processInfo.environment["SSH_AUTH_SOCK"], !path.isEmpty else {
            throw SigningError("no ssh-agent: SSH_AUTH_SOCK is not set")
        }
        let s = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard s >= 0 else { throw SigningError("cannot create a socket for ssh-agent") }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            close(s)
            throw SigningError("ssh-agent socket path too long")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            for (i, b) in bytes.enumerated() { buffer[i] = b }
        }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(s, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard connected == 0 else {
            close(s)
            throw SigningError("cannot connect to ssh-agent at \(path): \(SystemError.describe(errno))")
        }
        var timeout = timeval(tv_sec: 30, tv_usec: 0)
        setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        fd = s
    }

    deinit { close(fd) }

    private func request(_ type: UInt8, _ payload: [UInt8]) throws(SigningError) -> (UInt8, [UInt8]) {
        var w = SSHWriter()
        w.uint32(UInt32(payload.count + 1))
        w.raw([type])
        w.raw(payload)
        let message = w.bytes
        var sent = 0
        while sent < message.count {
            let n = message[sent...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            guard n > 0 else { throw SigningError("ssh-agent connection failed while writing") }
            sent += n
        }
        let header = try readExactly(4)
        let length = Int(UInt32(header[0]) << 24 | UInt32(header[1]) << 16 | UInt32(header[2]) << 8 | UInt32(header[3]))
        guard length > 0, length < 256 * 1024 else { throw SigningError("ssh-agent sent a malformed reply") }
        let body = try readExactly(length)
        return (body[0], Array(body.dropFirst()))
    }

    private func readExactly(_ count: Int) throws(SigningError) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        var got = 0
        while got < count {
            let n = out[got...].withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            guard n > 0 else { throw SigningError("ssh-agent closed the connection or timed out") }
            got += n
        }
        return out
    }

    /// The keys the agent holds (of the types Redeye accepts).
    public func identities() throws(SigningError) -> [SSHPublicKey] {
        let (type, body) = try request(11, [])
        guard type == 12 else { throw SigningError("ssh-agent refused to list keys") }
        var r = SSHReader(body)
        var keys: [SSHPublicKey] = []
        for _ in 0..<(try r.uint32()) {
            let blob = try r.string()
            _ = try r.string()
            if let key = try? SSHPublicKey(blob: blob) { keys.append(key) }
        }
        return keys
    }

    /// A signer that asks the agent to sign with `key`.
    public func signer(for key: SSHPublicKey) throws(SigningError) -> AgentSigner {
        guard try identities().contains(key) else {
            throw SigningError("ssh-agent does not hold the key \(key) (add it with ssh-add)")
        }
        return AgentSigner(agent: self, publicKey: key)
    }

    func sign(_ data: [UInt8], with key: SSHPublicKey) throws(SigningError) -> [UInt8] {
        var w = SSHWriter()
        w.string(key.blob)
        w.string(data)
        w.uint32(0)
        let (type, body) = try request(13, w.bytes)
        guard type == 14 else { throw SigningError("ssh-agent refused to sign with \(key)") }
        var r = SSHReader(body)
        return try r.string()
    }
}

/// Signs through ssh-agent.
public struct AgentSigner: SSHSigner {
    let agent: SSHAgent
    public let publicKey: SSHPublicKey

    public func sign(_ data: [UInt8]) throws(SigningError) -> [UInt8] {
        try agent.sign(data, with: publicKey)
    }
}

/// Finds the signer a `--sign-key` names: a private key file (used directly when unencrypted) or a
/// public key / encrypted key whose private half ssh-agent holds.
public func loadSigner(keyPath: String, agentSocket: String? = nil) throws -> any SSHSigner {
    if keyPath.hasSuffix(".pub") {
        let text = try String(contentsOfFile: keyPath, encoding: .utf8)
        return try SSHAgent(socketPath: agentSocket).signer(for: try SSHPublicKey(openSSH: text))
    }
    switch try SSHPrivateKey.load(path: keyPath) {
    case .key(let key): return key
    case .encrypted(let publicKey):
        do {
            return try SSHAgent(socketPath: agentSocket).signer(for: publicKey)
        } catch {
            throw SigningError(
                "\(keyPath) is encrypted and ssh-agent cannot sign with it: \(error) (add it with ssh-add)")
        }
    }
}
