import FoundationEssentials
import Glibc

/// An SSH signature in OpenSSH's SSHSIG format (PROTOCOL.sshsig), as `ssh-keygen -Y sign` writes it and
/// git stores in a commit's `gpgsig` header.
public struct SSHSignature: Sendable, Equatable {
    public var publicKey: SSHPublicKey
    public var namespace: String
    public var hashAlgorithm: String
    /// The inner signature blob (`string type, string signature`).
    public var signature: [UInt8]

    static let magic = Array("SSHSIG".utf8)

    /// The bytes the key actually signs: the magic, namespace and hash of the message.
    static func signedData(message: [UInt8], namespace: String, hashAlgorithm: String) throws(SigningError) -> [UInt8] {
        let hash: [UInt8]
        switch hashAlgorithm {
        case "sha512": hash = digest(message, sha512: true)
        case "sha256": hash = digest(message, sha512: false)
        default: throw SigningError("unsupported signature hash '\(hashAlgorithm)'")
        }
        var w = SSHWriter()
        w.raw(magic)
        w.string(namespace)
        w.string("")
        w.string(hashAlgorithm)
        w.string(hash)
        return w.bytes
    }

    /// Signs `message` for `namespace` (git uses "git").
    public static func sign(_ message: [UInt8], namespace: String, with signer: any SSHSigner) throws(SigningError)
        -> SSHSignature
    {
        let data = try signedData(message: message, namespace: namespace, hashAlgorithm: "sha512")
        let signature = try signer.sign(data)
        let sig = SSHSignature(
            publicKey: signer.publicKey, namespace: namespace, hashAlgorithm: "sha512", signature: signature)
        guard sig.isValid(for: message) else {
            throw SigningError("the signer produced a signature that does not verify")
        }
        return sig
    }

    /// Whether the signature is the key's, over exactly this message, in its namespace.
    public func isValid(for message: [UInt8]) -> Bool {
        guard
            let data = try? SSHSignature.signedData(
                message: message, namespace: namespace, hashAlgorithm: hashAlgorithm)
        else { return false }
        return publicKey.verify(signature: signature, message: data)
    }

    public var blob: [UInt8] {
        var w = SSHWriter()
        w.raw(SSHSignature.magic)
        w.uint32(1)
        w.string(publicKey.blob)
        w.string(namespace)
        w.string("")
        w.string(hashAlgorithm)
        w.string(signature)
        return w.bytes
    }

    /// `-----BEGIN SSH SIGNATURE-----`, base64 wrapped at 70 columns as ssh-keygen does.
    public var armored: String {
        let base64 = Data(blob).base64EncodedString()
        var lines: [String] = []
        var rest = Substring(base64)
        while !rest.isEmpty {
            lines.append(String(rest.prefix(70)))
            rest = rest.dropFirst(70)
        }
        return "-----BEGIN SSH SIGNATURE-----\n" + lines.joined(separator: "\n") + "\n-----END SSH SIGNATURE-----"
    }

    public init(publicKey: SSHPublicKey, namespace: String, hashAlgorithm: String, signature: [UInt8]) {
        self.publicKey = publicKey
        self.namespace = namespace
        self.hashAlgorithm = hashAlgorithm
        self.signature = signature
    }

    /// Parses an armored signature; every malformation is an error saying what is wrong.
    public init(armored text: String) throws(SigningError) {
        guard let begin = text.firstRange(of: "-----BEGIN SSH SIGNATURE-----") else {
            throw SigningError("not an SSH signature (no BEGIN SSH SIGNATURE line)")
        }
        guard let end = text[begin.upperBound..<text.endIndex].firstRange(of: "-----END SSH SIGNATURE-----") else {
            throw SigningError("malformed SSH signature: the END SSH SIGNATURE line is missing (truncated?)")
        }
        let body = text[begin.upperBound..<end.lowerBound].filter { !$0.isWhitespace }
        guard let data = Data(base64Encoded: String(body)) else {
            throw SigningError("malformed SSH signature: bad base64")
        }
        var r = SSHReader(Array(data))
        do {
            guard try r.take(6) == SSHSignature.magic else { throw SigningError("missing SSHSIG magic") }
            guard try r.uint32() == 1 else { throw SigningError("unsupported SSHSIG version") }
            publicKey = try SSHPublicKey(blob: try r.string())
            namespace = try r.text()
            _ = try r.string()
            hashAlgorithm = try r.text()
            signature = try r.string()
            guard r.isAtEnd else { throw SigningError("trailing bytes") }
        } catch let error as SigningError {
            throw SigningError("malformed SSH signature: \(error.message)")
        } catch {
            throw SigningError("malformed SSH signature: \(error)")
        }
    }
}
