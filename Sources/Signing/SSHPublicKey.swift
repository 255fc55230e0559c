import CCrypto
import Digest
import FoundationEssentials
import Glibc

/// An SSH public key of a type Redeye accepts for signatures: Ed25519 or ECDSA (NIST P-256/384/521).
public enum SSHPublicKey: Sendable, Hashable, CustomStringConvertible {
    case ed25519([UInt8])
    case ecdsa(bits: Int, point: [UInt8])

    static let rsaAdvice =
        "RSA keys are not supported: use an ed25519 (or ECDSA) key, e.g. `ssh-keygen -t ed25519` (OpenSSH 9 refuses the SHA-1 RSA signatures of this platform's libssh2)"

    /// The key type name, e.g. `ssh-ed25519`, `ecdsa-sha2-nistp256`.
    public var typeName: String {
        switch self {
        case .ed25519: return "ssh-ed25519"
        case .ecdsa(let bits, _): return "ecdsa-sha2-nistp\(bits)"
        }
    }

    /// The key in SSH wire format (what authorized_keys base64-encodes).
    public var blob: [UInt8] {
        var w = SSHWriter()
        w.string(typeName)
        switch self {
        case .ed25519(let key): w.string(key)
        case .ecdsa(let bits, let point):
            w.string("nistp\(bits)")
            w.string(point)
        }
        return w.bytes
    }

    /// `ssh-ed25519 AAAA…`, as in authorized_keys.
    public var openSSH: String { typeName + " " + Data(blob).base64EncodedString() }

    /// `SHA256:…`, as ssh-keygen -l prints it.
    public var fingerprint: String {
        var digest = [UInt8](repeating: 0, count: 32)
        let blob = self.blob
        _ = blob.withUnsafeBufferPointer { ccryptoDigest(sha512: false, $0, &digest) }
        return "SHA256:" + Data(digest).base64EncodedString().replacing("=", with: "")
    }

    public var description: String { "\(typeName) \(fingerprint)" }

    public init(blob: [UInt8]) throws(SigningError) {
        var r = SSHReader(blob)
        let type = try r.text()
        switch type {
        case "ssh-ed25519":
            let key = try r.string()
            guard key.count == 32 else { throw SigningError("malformed ssh-ed25519 key") }
            self = .ed25519(key)
        case "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521":
            let bits = Int(type.dropFirst("ecdsa-sha2-nistp".count))!
            guard try r.text() == "nistp\(bits)" else { throw SigningError("malformed \(type) key") }
            self = .ecdsa(bits: bits, point: try r.string())
        case "ssh-rsa", "rsa-sha2-256", "rsa-sha2-512":
            throw SigningError(SSHPublicKey.rsaAdvice)
        default:
            throw SigningError("unsupported key type '\(type)' (expected ssh-ed25519 or ecdsa-sha2-nistp256/384/521)")
        }
    }

    /// Parses `TYPE BASE64 [comment]`.
    public init(openSSH text: String) throws(SigningError) {
        let fields = text.split(whereSeparator: { $0 == " " || $0 == "\t" })
        guard fields.count >= 2, let data = Data(base64Encoded: String(fields[1])) else {
            throw SigningError("not an OpenSSH public key (expected 'TYPE BASE64 [comment]')")
        }
        try self.init(blob: Array(data))
        guard typeName == fields[0] else {
            throw SigningError("the key type '\(fields[0])' does not match the key data")
        }
    }

    /// Checks an SSH signature blob (`string type, string signature`) over `message`.
    public func verify(signature: [UInt8], message: [UInt8]) -> Bool {
        var r = SSHReader(signature)
        guard let type = try? r.text(), type == typeName, let raw = try? r.string(), r.isAtEnd else { return false }
        switch self {
        case .ed25519(let key):
            return raw.count == 64
                && message.withUnsafeBufferPointer { m in
                    ccrypto_ed25519_verify(key, m.baseAddress, m.count, raw, raw.count) == 1
                }
        case .ecdsa(let bits, let point):
            var inner = SSHReader(raw)
            guard let rr = try? inner.mpint(), let ss = try? inner.mpint(), inner.isAtEnd else { return false }
            return message.withUnsafeBufferPointer { m in
                ccrypto_ecdsa_verify(
                    Int32(bits), point, point.count, m.baseAddress, m.count, rr, rr.count, ss, ss.count) == 1
            }
        }
    }
}

func ccryptoDigest(sha512: Bool, _ input: UnsafeBufferPointer<UInt8>, _ out: inout [UInt8]) -> Int32 {
    out = [UInt8](repeating: 0, count: sha512 ? 64 : 32)
    return out.withUnsafeMutableBufferPointer {
        ccrypto_digest(sha512 ? 1 : 0, input.baseAddress, input.count, $0.baseAddress)
    }
}

/// SHA-256 or SHA-512 of bytes.
func digest(_ bytes: [UInt8], sha512: Bool) -> [UInt8] {
    var out: [UInt8] = []
    _ = bytes.withUnsafeBufferPointer { ccryptoDigest(sha512: sha512, $0, &out) }
    return out
}
