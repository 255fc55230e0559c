import FoundationEssentials
import Git
import Glibc
import Signing
import Text

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
    /// With `pins` (role → its bundle's resolved version), pins.yaml is written into the commit (and replaces
    /// whatever pins.yaml the directory holds).
    public func commit(
        directory: String, message: String, author: GitPerson, signer: (any SSHSigner)?, branch: String = "main",
        pins: [String: Plans.Pin]? = nil
    ) throws -> ObjectID? {
        var source = try PlanSource.directory(directory)
        if let pins { source.files[Plans.pinsFileName] = Plans.pinsFile(pins) }
        _ = try PlanLoader().load(source)  // refuse to commit an invalid plan
        let files = source.files.mapValues { GitFile(contents: $0) }
        // The branch is part of what is signed: a commit made for one branch is refused on any other.
        let message = PlanRepository.withBranchTrailer(message, branch: branch)
        let sign: (([UInt8]) throws -> String)? = signer.map { signer in
            { content in try SSHSignature.sign(content, namespace: "git", with: signer).armored }
        }
        // Signing plans whose tip is an unsigned commit of the same tree commits that tree again, signed: the
        // way out of an unsigned commit that every boot refuses, without a dummy edit.
        let tipIsUnsigned = isSigned(branch: branch) == false
        return try repository.commit(
            files: files, message: message, author: author, branch: branch, sign: sign,
            ifUnchanged: signer != nil && tipIsUnsigned ? .commit : .skip)
    }

    /// Whether the tip of `branch` carries a signature (nil: no such branch).
    public func isSigned(branch: String) -> Bool? {
        guard let tip = try? repository.resolveCommit("refs/heads/\(branch)") else { return nil }
        guard case .some(.some) = try? repository.signature(of: tip) else { return false }
        return true
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

    /// The trailer of a plans commit's message that names the branch it was made for (signed with the rest).
    public static let branchTrailer = "Redeye-Plans-Branch"

    static func withBranchTrailer(_ message: String, branch: String) -> String {
        var text = message
        while text.hasSuffix("\n") { text.removeLast() }
        return text + "\n\n\(branchTrailer): \(branch)\n"
    }

    /// The branch a commit message's trailer names, or nil.
    public static func branch(ofMessage message: String) -> String? {
        let prefix = branchTrailer + ": "
        return message.split(separator: "\n").last { $0.hasPrefix(prefix) }.map {
            String($0.dropFirst(prefix.count)).trimmedSpaces()
        }
    }

    /// Verifies that `revision`'s commit carries a valid SSH signature, in namespace "git", by a key the
    /// allowed-signers file trusts both at the commit's time and now (`now`: a key past its valid-before signs
    /// nothing, whatever time the commit claims), and, given `branch`, that its signed message names that
    /// branch. Throws with the reason otherwise.
    public func verify(
        _ revision: String, allowedSigners: AllowedSigners, branch: String? = nil, now: Date = Date()
    ) throws -> Verification {
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
        _ = try allowedSigners.trust(signature.publicKey, namespace: "git", at: now).get()
        guard signature.isValid(for: signed) else {
            throw SigningError(
                "commit \(id.short): the signature by \(signature.publicKey) does not match the commit's content")
        }
        if let branch {
            guard let named = PlanRepository.branch(ofMessage: info.message) else {
                throw SigningError(
                    "commit \(id.short) names no branch (no \(PlanRepository.branchTrailer) trailer): it may have been made for any; commit the plans again with `redeye plan commit`"
                )
            }
            guard named == branch else {
                throw SigningError("commit \(id.short) was signed for branch '\(named)', not '\(branch)'")
            }
        }
        return Verification(commit: id, principals: entry.principals, key: signature.publicKey)
    }
}
