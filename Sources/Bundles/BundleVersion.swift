import Digest
import FoundationEssentials
import Git
import Glibc
import SSH
import Synchronization

/// One version of a bundle, fetched into a local cache repository: its commit, its manifest (as committed and
/// parsed) and where each file's bytes are. Safe to share between threads: reads of the repository are
/// serialized, and the content read is kept (up to 512 MiB) because a deploy sends the same files to many hosts.
// Unchecked: `repository` is a libgit2 handle (not Sendable) that threads read only with `lock` held, as they do
// the caches below; the compiler cannot see that rule.
public final class BundleVersion: @unchecked Sendable {
    public let repository: Repository
    public let url: String
    public let ref: String
    public let commit: ObjectID
    public let manifestBytes: [UInt8]
    public let manifest: Manifest
    /// Every file was checked against the manifest when fetched (`verifyContent`).
    let verified: Bool
    private let lock = Mutex(())
    /// sha256 → the blob holding that content; read from the commit's tree when content is first asked for
    /// (an install reads the tree itself, and does not need it).
    private var blobs: [String: ObjectID]?
    private var cached: [String: [UInt8]] = [:]
    private var cachedBytes = 0

    /// What a host running `release` (a release id: its commit's first 12 hex digits) would see change in
    /// content on moving to this version; nil when that commit is not in the cache (then only paths are known).
    public func contentDiff(fromRelease release: String) throws -> [ContentDiff]? {
        guard release.count == 12, release.allSatisfy(\.isHexDigit) else { return nil }
        return try lock.withLock { _ in
            guard let old = try? repository.resolveCommit(release), old.hex.hasPrefix(release.lowercased()),
                let bytes = try repository.file(Manifest.fileName, at: old)
            else { return nil }
            let manifest = try Manifest.parse(bytes, file: "\(release):\(Manifest.fileName)")
            return try ContentDiff.between(manifest, self.manifest) { path, side in
                try repository.file(path, at: side == .old ? old : commit)
            } diff: { path, x, y in
                try repository.unifiedDiff(old: x, new: y, path: path)
            }
        }
    }

    init(
        repository: Repository, url: String, ref: String, commit: ObjectID, manifestBytes: [UInt8],
        manifest: Manifest, blobs: [String: ObjectID]?, verified: Bool
    ) {
        self.repository = repository
        self.url = url
        self.ref = ref
        self.commit = commit
        self.manifestBytes = manifestBytes
        self.manifest = manifest
        self.blobs = blobs
        self.verified = verified
    }

    /// The most a bundle fetch reads from a remote (bytes): a repository that sends more is cut off.
    public static let defaultFetchLimit = 4 << 30

    /// sha256 → blob for the files of `manifest`, as the commit's tree holds them.
    static func blobsByHash(of manifest: Manifest, byPath: [String: ObjectID]) -> [String: ObjectID] {
        var blobs: [String: ObjectID] = [:]
        for entry in manifest.entries where entry.kind == .file {
            if let sha = entry.sha256, let blob = byPath[entry.path] { blobs[sha] = blob }
        }
        return blobs
    }

    /// Fetches `url` through libgit2 into the cache repository at `cache` and reads `ref` from it.
    /// Over https the server's certificate is verified against `https.trust` (Redeye's TLS stream); plain
    /// http:// is refused.
    /// With `verifyContent`, every file of the commit is checked against the manifest here (kinds, link targets,
    /// nothing extra, every sha256), for callers that send content elsewhere instead of installing it.
    /// With `pin`, the ref must resolve to the pinned commit, whose manifest has the pinned digest; anything else
    /// is refused before a file of it is read. A cache that holds the pinned commit already is not fetched again.
    public static func fetch(
        _ url: String, ref: String, cache: String, hostKeys: HostKeyPolicy, sshKey: String?,
        https: HTTPSTransport = HTTPSTransport(), verifyContent: Bool = false, fetchLimit: Int = defaultFetchLimit,
        pin: BundlePin? = nil
    ) throws -> BundleVersion {
        let repository: Repository
        // The pinned commit, when the cache holds it already: nothing to fetch. Trust comes from the pin in the
        // signed plans, not from the server, so a reboot (or a re-deploy) of the same version asks no server.
        var cachedPin: ObjectID?
        do {
            if let path = localRepositoryPath(url) {
                // A repository on this machine is read where it is, as `git clone` of a local path links its
                // objects: fetching it would pack every object and index that pack again, only to read it back.
                // Nothing read from it is trusted more than fetched content: every file is checked against the
                // manifest's sha256 before it is installed or sent.
                repository = try Repository.open(path)
            } else {
                repository = try Repository.openOrCreate(cache)
                if let pin, let id = try? repository.resolveCommit(pin.commit), id.hex == pin.commit {
                    cachedPin = id
                } else {
                    try repository.fetchAll(
                        from: url, ssh: SSHTransport(policy: hostKeys, privateKey: sshKey), https: https,
                        limit: fetchLimit)
                }
            }
        } catch {
            if error.message.contains("safe.directory") || error.message.contains("not owned by current user") {
                throw BundleError(
                    "cannot fetch the bundle repository \(url): it belongs to another user, and git's safe.directory rule refuses such repositories (run as its owner, or list it under safe.directory in git config)"
                )
            }
            throw BundleError("cannot fetch the bundle repository \(url): \(error.message)")
        }
        let commit: ObjectID
        if let cachedPin {
            commit = cachedPin
        } else {
            do {
                commit = try repository.resolveCommit(ref)
            } catch {
                throw BundleError("\(url) has no ref '\(ref)'")
            }
        }
        if let pin, commit.hex != pin.commit {
            throw BundleError(
                "refused: \(url) has \(ref) at commit \(commit.short), but the signed plans pin it to \(pin.commit.prefix(12)) (a moved tag, a force-pushed branch or another mirror); nothing of it was read"
            )
        }
        guard let manifestBytes = try repository.file(Manifest.fileName, at: commit) else {
            throw BundleError("\(ref) (\(commit.short)) has no \(Manifest.fileName): it is not a bundle version")
        }
        if let pin {
            let hasher = SHA256Hasher()
            hasher.update(manifestBytes)
            guard hexString(hasher.finalize()) == pin.manifestSHA256 else {
                throw BundleError(
                    "refused: \(ref) (\(commit.short))'s manifest does not have the SHA-256 the signed plans pin; nothing of it was installed"
                )
            }
        }
        let manifest = try Manifest.parse(manifestBytes, file: "\(ref):\(Manifest.fileName)")
        if let finding = LeastBit.checkManifest(manifest).first { throw BundleError("\(ref): \(finding)") }
        var blobs: [String: ObjectID]?
        if verifyContent {
            let tree = try GitContent(repository, commit: commit, ref: ref)
            try tree.check(against: manifest)
            for entry in manifest.entries where entry.kind == .file {
                guard let blob = tree.blobs[entry.path] else { continue }
                let matches = try repository.withContentBlob(blob) { bytes in
                    let hasher = SHA256Hasher()
                    hasher.update(bytes)
                    return hexString(hasher.finalize()) == entry.sha256
                }
                guard matches else {
                    throw BundleError(
                        "refused: \(entry.path) in \(ref) does not match the manifest's sha256 (tampered bundle?); nothing was sent"
                    )
                }
            }
            blobs = blobsByHash(of: manifest, byPath: tree.blobs)
        }
        return BundleVersion(
            repository: repository, url: url, ref: ref, commit: commit, manifestBytes: manifestBytes,
            manifest: manifest, blobs: blobs, verified: verifyContent)
    }

    /// This version as signed plans pin it: its commit and its manifest's SHA-256.
    public var pin: BundlePin {
        let hasher = SHA256Hasher()
        hasher.update(manifestBytes)
        return BundlePin(commit: commit.hex, manifestSHA256: hexString(hasher.finalize()))
    }

    /// The bytes of the file with this content hash, checked against it unless the whole version was checked at
    /// fetch (a tampered repository is refused before anything is sent).
    public func content(sha256: String) throws -> [UInt8] {
        try lock.withLock { _ in
            if let bytes = cached[sha256] { return bytes }
            if blobs == nil {
                blobs = Self.blobsByHash(
                    of: manifest, byPath: try GitContent(repository, commit: commit, ref: ref).blobs)
            }
            guard let blob = blobs?[sha256] else {
                throw BundleError("\(ref): no file of the commit has the sha256 \(sha256) its manifest names")
            }
            return try repository.withContentBlob(blob) { bytes in
                guard verified || SHA256Hasher.hex(Array(bytes)) == sha256 else {
                    let path = manifest.entries.first { $0.sha256 == sha256 }?.path ?? sha256
                    throw BundleError(
                        "refused: \(path) in \(ref) does not match the manifest's sha256 (tampered bundle?); nothing was sent"
                    )
                }
                let copy = Array(bytes)
                if cachedBytes + copy.count <= 512 << 20 {
                    cached[sha256] = copy
                    cachedBytes += copy.count
                }
                return copy
            }
        }
    }
}

/// The path of a repository on this machine (a path or a file:// URL), or nil for a remote one
/// (ssh://, git://, user@host:path).
func localRepositoryPath(_ url: String) -> String? {
    if url.hasPrefix("file://") {
        let path = String(url.dropFirst("file://".count))
        return path.hasPrefix("/") ? path : nil
    }
    if url.contains("://") { return nil }
    // scp-like `host:path` is SSH to git, unless a slash comes before the colon (a local path holding one).
    if let colon = url.firstIndex(of: ":"), !url[..<colon].contains("/") { return nil }
    return url
}

extension SSHTransport {
    /// The transport for a fetch whose server's key `policy` decides (the one way plans and bundles fetch over
    /// SSH).
    public init(policy: HostKeyPolicy, privateKey: String?) {
        self.init(
            checkHostKey: { host, port, key in policy.refusal(host: host, port: port, key: key) },
            privateKey: privateKey)
    }
}
