import FoundationEssentials
import Git
import Glibc
import Signing

/// Bundles versioned in git: each version is a commit of the tree and its manifest, with an annotated tag.
public struct BundleRepository {
    public let repository: Repository

    public init(path: String, create: Bool) throws(GitError) {
        repository = create ? try Repository.openOrCreate(path) : try Repository.open(path)
    }

    /// Reads and verifies a bundle directory: its manifest and the tree must agree exactly.
    public static func load(directory: String) throws(BundleError) -> (Manifest, [String: FoundEntry]) {
        let manifestPath = directory + "/" + Manifest.fileName
        guard let data = FileManager.default.contents(atPath: manifestPath) else {
            throw BundleError("\(manifestPath): no manifest (write one with `redeye bundle init \(directory)`)")
        }
        let manifest = try Manifest.parse(Array(data), file: manifestPath)
        let found = try TreeScanner.scan(directory)
        let findings = LeastBit.checkManifest(manifest) + LeastBit.check(manifest, against: found)
        if !findings.isEmpty {
            throw BundleError(findings.map { "\(directory)/\($0)" }.joined(separator: "\n"))
        }
        return (manifest, found)
    }

    /// Verifies the directory, commits it with its manifest on `branch`, and tags the commit; with `signer`, the
    /// tag is SSH-signed (namespace "git") as `git tag -s` with `gpg.format=ssh` signs, so `git verify-tag` and
    /// ``verifyTag(_:allowedSigners:now:)`` accept it.
    public func commit(
        directory: String, tag: String, message: String, author: GitPerson, branch: String = "main",
        signer: (any SSHSigner)? = nil
    ) throws -> ObjectID {
        if (try? repository.resolveCommit("refs/tags/" + tag)) != nil {
            throw BundleError("tag '\(tag)' already exists: a bundle version is never replaced")
        }
        let (_, found) = try BundleRepository.load(directory: directory)
        var files: [String: GitFile] = [:]
        for entry in found.values {
            let full = directory + "/" + entry.path
            switch entry.kind {
            case .file:
                guard let data = FileManager.default.contents(atPath: full) else {
                    throw BundleError("\(entry.path): cannot read")
                }
                files[entry.path] = GitFile(contents: Array(data), executable: entry.mode.bits & 0o100 != 0)
            case .symlink:
                files[entry.path] = GitFile(contents: Array((entry.target ?? "").utf8), symlink: true)
            case .dir:
                continue  // git keeps no directories; the manifest lists them and the installer creates them
            }
        }
        guard let manifestData = FileManager.default.contents(atPath: directory + "/" + Manifest.fileName) else {
            throw BundleError("cannot read the manifest")
        }
        files[Manifest.fileName] = GitFile(contents: Array(manifestData))
        let tip = try repository.branchTip(branch)
        let id = try repository.commit(files: files, message: message, author: author, branch: branch) ?? tip!
        try repository.createTag(
            tag, commit: id, tagger: author, message: message,
            sign: signer.map { signer in
                { content in try SSHSignature.sign(content, namespace: "git", with: signer).armored }
            })
        return id
    }

    /// Who signed a bundle tag, and the commit it names.
    public struct TagVerification: Sendable {
        public var tag: String
        public var commit: ObjectID
        public var principals: [String]
        public var key: SSHPublicKey
    }

    /// Verifies that annotated tag `tag` carries a valid SSH signature in namespace "git" by a key the
    /// allowed-signers file trusts both at the tag's time and now. Throws with the reason otherwise.
    public func verifyTag(_ tag: String, allowedSigners: AllowedSigners, now: Date = Date()) throws
        -> TagVerification
    {
        let found: TagObject?
        do {
            found = try repository.tag(tag)
        } catch {
            throw BundleError(error.message)
        }
        guard let object = found else { throw BundleError("there is no tag '\(tag)'") }
        guard let signature = object.signature else { throw BundleError("tag '\(tag)' is not signed") }
        guard signature.format == .ssh else {
            throw BundleError(
                "tag '\(tag)' is signed with PGP, not an SSH key: it cannot be checked against allowed signers")
        }
        let parsed: SSHSignature
        do {
            parsed = try SSHSignature(armored: signature.armored)
        } catch {
            throw BundleError("tag '\(tag)': \(error)")
        }
        guard parsed.namespace == "git" else {
            throw BundleError("tag '\(tag)' is signed for namespace '\(parsed.namespace)', not 'git'")
        }
        let signedAt = Date(timeIntervalSince1970: TimeInterval(object.tagger?.time ?? 0))
        let entry: AllowedSigners.Entry
        do {
            entry = try allowedSigners.trust(parsed.publicKey, namespace: "git", at: signedAt).get()
            _ = try allowedSigners.trust(parsed.publicKey, namespace: "git", at: now).get()
        } catch {
            throw BundleError("tag '\(tag)': \(error)")
        }
        guard parsed.isValid(for: signature.signed) else {
            throw BundleError("tag '\(tag)': the signature by \(parsed.publicKey) does not match the tag's content")
        }
        return TagVerification(tag: tag, commit: object.commit, principals: entry.principals, key: parsed.publicKey)
    }

    /// The manifest of a version.
    public func manifest(at revision: String) throws -> (ObjectID, Manifest) {
        let id = try repository.resolveCommit(revision)
        guard let bytes = try repository.file(Manifest.fileName, at: id) else {
            throw BundleError("\(revision) (\(id.short)) has no \(Manifest.fileName): it is not a bundle version")
        }
        return (id, try Manifest.parse(bytes, file: "\(revision):\(Manifest.fileName)"))
    }

    /// What changed between two versions, by path.
    public func diff(_ from: String, _ to: String) throws -> [BundleChange] {
        let (_, a) = try manifest(at: from)
        let (_, b) = try manifest(at: to)
        return BundleChange.between(a, b)
    }

    /// The content of every file whose bytes differ between two versions (added, removed or changed): a
    /// unified diff for text, size and SHA-256 for binary files and for files too large to show.
    public func contentDiff(_ from: String, _ to: String) throws -> [ContentDiff] {
        let (a, old) = try manifest(at: from)
        let (b, new) = try manifest(at: to)
        return try ContentDiff.between(old, new) { path, side in
            try repository.file(path, at: side == .old ? a : b)
        } diff: { path, x, y in
            try repository.unifiedDiff(old: x, new: y, path: path)
        }
    }
}

/// One file's change of content, as a person reviews it.
public struct ContentDiff: Sendable, Encodable, CustomStringConvertible {
    public enum Side: Sendable { case old, new }

    public var path: String
    /// The unified diff, for text files.
    public var patch: String?
    /// For binary (or very large) files: sizes and digests on each side (nil: absent there).
    public var oldSize: Int?
    public var newSize: Int?
    public var oldSHA256: String?
    public var newSHA256: String?

    enum CodingKeys: String, CodingKey {
        case path, patch
        case oldSize = "old_size"
        case newSize = "new_size"
        case oldSHA256 = "old_sha256"
        case newSHA256 = "new_sha256"
    }

    /// Larger files are shown by size and digest: a review reads diffs, not megabytes.
    public static let maxTextBytes = 1 << 20

    public var description: String {
        if let patch { return patch }
        func side(_ size: Int?, _ digest: String?) -> String {
            size.map { "\($0) bytes, sha256 \(digest?.prefix(16) ?? "?")…" } ?? "absent"
        }
        return "binary \(path): \(side(oldSize, oldSHA256)) → \(side(newSize, newSHA256))\n"
    }

    /// Whether bytes read as text: valid UTF-8 with no control character but tab, newline and form feed.
    /// A bundle's author controls these bytes and the operator's terminal shows them: escape sequences are
    /// never printed, such a file is shown as binary.
    static func isText(_ bytes: [UInt8]) -> Bool {
        // CR alone could overwrite a line on screen and hide a change under review; C1 controls (CSI among
        // them) and bidirectional overrides reorder or drive what is shown.
        guard !bytes.contains(where: { ($0 < 0x20 && ![0x09, 0x0A, 0x0C].contains($0)) || $0 == 0x7F }),
            let text = String(validating: bytes, as: UTF8.self)
        else { return false }
        return !text.unicodeScalars.contains {
            (0x80...0x9F).contains($0.value) || (0x202A...0x202E).contains($0.value)
                || (0x2066...0x2069).contains($0.value)
        }
    }

    /// The content changes between two manifests; `read` gives a file's bytes on one side, `diff` a unified
    /// diff of two contents.
    static func between(
        _ old: Manifest, _ new: Manifest, read: (String, Side) throws -> [UInt8]?,
        diff: (String, [UInt8]?, [UInt8]?) throws -> String
    ) throws -> [ContentDiff] {
        let a = Dictionary(
            old.entries.filter { $0.kind == .file }.map { ($0.path, $0) }, uniquingKeysWith: { x, _ in x })
        let b = Dictionary(
            new.entries.filter { $0.kind == .file }.map { ($0.path, $0) }, uniquingKeysWith: { x, _ in x })
        var out: [ContentDiff] = []
        for path in Set(a.keys).union(b.keys).sorted() where a[path]?.sha256 != b[path]?.sha256 {
            let x = a[path] == nil ? nil : try read(path, .old)
            let y = b[path] == nil ? nil : try read(path, .new)
            let small = (x?.count ?? 0) <= maxTextBytes && (y?.count ?? 0) <= maxTextBytes
            if small, x.map(isText) ?? true, y.map(isText) ?? true {
                out.append(ContentDiff(path: path, patch: try diff(path, x, y)))
            } else {
                out.append(
                    ContentDiff(
                        path: path, oldSize: x?.count, newSize: y?.count, oldSHA256: a[path]?.sha256,
                        newSHA256: b[path]?.sha256))
            }
        }
        return out
    }
}

/// One path that differs between two bundle versions.
public struct BundleChange: Sendable, Encodable, CustomStringConvertible {
    public var path: String
    public var change: String

    public var description: String {
        "\(change.first == "a" ? "+" : change.first == "r" ? "-" : "~") \(path): \(change)"
    }

    public static func between(_ a: Manifest, _ b: Manifest) -> [BundleChange] {
        var out: [BundleChange] = []
        let old = Dictionary(a.entries.map { ($0.path, $0) }, uniquingKeysWith: { x, _ in x })
        let new = Dictionary(b.entries.map { ($0.path, $0) }, uniquingKeysWith: { x, _ in x })
        for path in Set(old.keys).union(new.keys).sorted() {
            switch (old[path], new[path]) {
            case (nil, let e?): out.append(.init(path: path, change: "added \(e.kind.rawValue)"))
            case (let e?, nil): out.append(.init(path: path, change: "removed \(e.kind.rawValue)"))
            case (let x?, let y?) where x != y:
                var what: [String] = []
                if x.kind != y.kind { what.append("kind \(x.kind.rawValue) → \(y.kind.rawValue)") }
                if x.sha256 != y.sha256 { what.append("content") }
                if x.target != y.target { what.append("target \(x.target ?? "") → \(y.target ?? "")") }
                if x.mode != y.mode { what.append("mode \(x.mode) → \(y.mode)") }
                if x.owner != y.owner || x.group != y.group {
                    what.append("owner \(x.owner):\(x.group) → \(y.owner):\(y.group)")
                }
                out.append(.init(path: path, change: "changed " + what.joined(separator: ", ")))
            default: break
            }
        }
        return out
    }
}
