import Foundation
import Git
import Signing

/// Plans stored in git: committed (optionally SSH-signed) and read back, and their signatures verified.
public struct PlanRepository {
    public let repository: Repository
    public let path: String

    public init(path: String, create: Bool) throws(GitError) {
        self.path = path
        repository = create ? try Repository.openOrCreate(path) : try Repository.open(path)
    }

    /// Validates the plans directory and commits it as the whole tree of `branch`.
    /// - Returns: the new commit, or nil when the plans are unchanged since the branch tip.
    public func commit(
        directory: String, message: String, author: GitPerson, signer: (any SSHSigner)?, branch: String = "main"
    ) throws -> ObjectID? {
        let source = try PlanSource.directory(directory)
        _ = try PlanLoader().load(source)  // refuse to commit an invalid plan
        let files = source.files.mapValues { GitFile(contents: $0) }
        let sign: (([UInt8]) throws -> String)? = signer.map { signer in
            { content in try SSHSignature.sign(content, namespace: "git", with: signer).armored }
        }
        return try repository.commit(files: files, message: message, author: author, branch: branch, sign: sign)
    }

    /// Loads the plans of a commit.
    public func plans(at revision: String) throws -> (ObjectID, Plans) {
        let id = try repository.resolveCommit(revision)
        let files = try repository.files(at: id).mapValues(\.contents)
        return (id, try PlanLoader().load(PlanSource(files: files, label: "\(revision):")))
    }

    /// The outcome of checking a commit's signature.
    public struct Verification: Sendable {
        public var commit: ObjectID
        public var principals: [String]
        public var key: SSHPublicKey
    }

    /// Verifies that `revision`'s commit carries a valid SSH signature, in namespace "git", by a key the
    /// allowed-signers file trusts at the commit's time. Throws with the reason otherwise.
    public func verify(_ revision: String, allowedSigners: AllowedSigners) throws -> Verification {
        let id = try repository.resolveCommit(revision)
        guard let (armored, signed) = try repository.signature(of: id) else {
            throw SigningError("commit \(id.short) is not signed")
        }
        let signature = try SSHSignature(armored: armored)
        guard signature.namespace == "git" else {
            throw SigningError("commit \(id.short) is signed for namespace '\(signature.namespace)', not 'git'")
        }
        let info = try repository.commitInfo(id)
        let entry = try allowedSigners.trust(
            signature.publicKey, namespace: "git", at: Date(timeIntervalSince1970: TimeInterval(info.committer.time))
        ).get()
        guard signature.isValid(for: signed) else {
            throw SigningError(
                "commit \(id.short): the signature by \(signature.publicKey) does not match the commit's content")
        }
        return Verification(commit: id, principals: entry.principals, key: signature.publicKey)
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
