import CCrypto
import FoundationEssentials
import Glibc

/// Something that signs data with an SSH key: a private key file or a key held by ssh-agent.
public protocol SSHSigner {
    var publicKey: SSHPublicKey { get }
    /// An SSH signature blob (`string type, string signature`) over `data`.
    func sign(_ data: [UInt8]) throws(SigningError) -> [UInt8]
}

/// An unencrypted Ed25519 or ECDSA private key in OpenSSH's format (`-----BEGIN OPENSSH PRIVATE KEY-----`).
public struct SSHPrivateKey: SSHSigner, Sendable {
    enum Secret: Sendable {
        case ed25519(seed: [UInt8])
        case ecdsa(bits: Int, scalar: [UInt8])
    }

    public let publicKey: SSHPublicKey
    let secret: Secret
    public let comment: String

    /// What a key file holds: a usable key, or an encrypted one (whose public half is readable, so
    /// ssh-agent can sign with it).
    public enum Contents: Sendable {
        case key(SSHPrivateKey)
        case encrypted(SSHPublicKey)
    }

    /// Reads a private key file.
    public static func load(path: String) throws(SigningError) -> Contents {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw SigningError("cannot read the key file '\(path)'")
        }
        do {
            return try parse(String(decoding: data, as: UTF8.self))
        } catch {
            throw SigningError("\(path): \(error.message)")
        }
    }

    public static func parse(_ text: String) throws(SigningError) -> Contents {
        if text.contains("BEGIN RSA PRIVATE KEY") { throw SigningError(SSHPublicKey.rsaAdvice) }
        guard let begin = text.firstRange(of: "-----BEGIN OPENSSH PRIVATE KEY-----"),
            // The end after the beginning: an END marker before BEGIN is no key (and no range to read).
            let end = text[begin.upperBound..<text.endIndex].firstRange(of: "-----END OPENSSH PRIVATE KEY-----")
        else {
            throw SigningError(
                "not an OpenSSH private key (convert a PEM key with `ssh-keygen -p -f KEY`, which rewrites it in OpenSSH format)"
            )
        }
        let body = text[begin.upperBound..<end.lowerBound].filter { !$0.isWhitespace }
        guard let decoded = Data(base64Encoded: String(body)) else { throw SigningError("the key's base64 is damaged") }
        var r = SSHReader(Array(decoded))
        guard try r.take(15) == Array("openssh-key-v1\0".utf8) else { throw SigningError("unknown private key format") }
        let cipher = try r.text()
        _ = try r.text()  // kdf name
        _ = try r.string()  // kdf options
        guard try r.uint32() == 1 else { throw SigningError("key files with several keys are not supported") }
        let publicKey = try SSHPublicKey(blob: try r.string())
        if cipher != "none" { return .encrypted(publicKey) }
        var p = SSHReader(try r.string())
        guard try p.uint32() == (try p.uint32()) else {
            throw SigningError("the private key's check bytes differ (damaged key)")
        }
        let type = try p.text()
        let secret: Secret
        switch type {
        case "ssh-ed25519":
            _ = try p.string()
            let both = try p.string()
            guard both.count == 64 else { throw SigningError("malformed ed25519 private key") }
            secret = .ed25519(seed: Array(both.prefix(32)))
        case _ where type.hasPrefix("ecdsa-sha2-nistp"):
            guard case .ecdsa(let bits, _) = publicKey else {
                throw SigningError("key types differ inside the key file")
            }
            _ = try p.text()
            _ = try p.string()
            secret = .ecdsa(bits: bits, scalar: try p.mpint())
        default:
            throw SigningError("unsupported private key type '\(type)'")
        }
        let comment = try p.text()
        let key = SSHPrivateKey(publicKey: publicKey, secret: secret, comment: comment)
        guard key.derivedPublicKey() == publicKey else {
            throw SigningError("the private key does not match its public key")
        }
        return .key(key)
    }

    func derivedPublicKey() -> SSHPublicKey? {
        switch secret {
        case .ed25519(let seed):
            var pub = [UInt8](repeating: 0, count: 32)
            return ccrypto_ed25519_public(seed, &pub) == 1 ? .ed25519(pub) : nil
        case .ecdsa(let bits, let scalar):
            var q = [UInt8](repeating: 0, count: 133)
            var length = 0
            guard ccrypto_ecdsa_public(Int32(bits), scalar, scalar.count, &q, &length) == 1 else { return nil }
            return .ecdsa(bits: bits, point: Array(q.prefix(length)))
        }
    }

    public func sign(_ data: [UInt8]) throws(SigningError) -> [UInt8] {
        var w = SSHWriter()
        w.string(publicKey.typeName)
        switch secret {
        case .ed25519(let seed):
            var sig = [UInt8](repeating: 0, count: 64)
            let ok = data.withUnsafeBufferPointer { ccrypto_ed25519_sign(seed, $0.baseAddress, $0.count, &sig) }
            guard ok == 1 else { throw SigningError("Ed25519 signing failed") }
            w.string(sig)
        case .ecdsa(let bits, let scalar):
            var r = [UInt8](repeating: 0, count: 66)
            var s = [UInt8](repeating: 0, count: 66)
            var rLength = 0
            var sLength = 0
            let ok = data.withUnsafeBufferPointer {
                ccrypto_ecdsa_sign(
                    Int32(bits), scalar, scalar.count, $0.baseAddress, $0.count, &r, &rLength, &s, &sLength, 66)
            }
            guard ok == 1 else { throw SigningError("ECDSA signing failed") }
            var inner = SSHWriter()
            inner.mpint(Array(r.prefix(rLength)))
            inner.mpint(Array(s.prefix(sLength)))
            w.string(inner.bytes)
        }
        return w.bytes
    }
}
