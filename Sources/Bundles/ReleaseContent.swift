import Digest
import FileSystem
import FoundationEssentials
import Git
import Glibc

/// Where the bytes of a release's files come from: a commit of a bundle repository, or files a deploy staged on
/// the host. The manifest is the authority either way; every byte is checked against its sha256 before use.
protocol ReleaseContent {
    /// Refuses a source that holds anything the manifest does not name or disagrees with it on a kind or target.
    func check(against manifest: Manifest) throws
    /// Calls `body` with the bytes of a file entry.
    func withBytes(of entry: ManifestEntry, _ body: (UnsafeRawBufferPointer) throws -> Void) throws
    /// The git blob each file comes from, when known (recorded in the stat index, and compared with it before a
    /// previous release's file is reused).
    var blobs: [String: ObjectID] { get }
}

extension ReleaseContent {
    func blobID(of path: String) -> String? { blobs[path]?.hex }
}

/// A bundle version as committed: the commit's tree must match its manifest exactly.
struct GitContent: ReleaseContent {
    let repository: Repository
    let ref: String
    let files: [String: (kind: GitFileKind, blob: ObjectID)]
    let blobs: [String: ObjectID]

    init(_ repository: Repository, commit: ObjectID, ref: String) throws {
        self.repository = repository
        self.ref = ref
        var files: [String: (kind: GitFileKind, blob: ObjectID)] = [:]
        try repository.forEachFile(at: commit) { path, kind, blob in files[path] = (kind, blob) }
        self.files = files
        blobs = files.mapValues(\.blob)
    }

    func check(against manifest: Manifest) throws {
        for (path, file) in files where path != Manifest.fileName {
            guard let entry = manifest.entry(path) else {
                throw BundleError("refused: \(path) is in the repository but not in the manifest (tampered bundle?)")
            }
            switch (entry.kind, file.kind) {
            case (.symlink, .symlink):
                let target = try repository.withBlob(file.blob) { String(decoding: $0, as: UTF8.self) }
                guard target == entry.target else {
                    throw BundleError(
                        "refused: \(path) points to \(target), the manifest says \(entry.target ?? "?") (tampered bundle?)"
                    )
                }
            case (.file, .regular), (.file, .executable): break
            default:
                throw BundleError(
                    "refused: \(path) is a \(file.kind) in the repository, the manifest says \(entry.kind.rawValue)")
            }
        }
        if let missing = manifest.entries.first(where: { $0.kind != .dir && files[$0.path] == nil }) {
            throw BundleError("refused: \(missing.path) is in the manifest but not in the repository")
        }
    }

    func withBytes(of entry: ManifestEntry, _ body: (UnsafeRawBufferPointer) throws -> Void) throws {
        // Every file's bytes are checked against the manifest's SHA-256 by the installer.
        try repository.withContentBlob(files[entry.path]!.blob, body)
    }
}

/// A release a deploy sent to the host: content it did not have, in pack files (`ObjectPack`) under `objects`;
/// the rest is read from the previous release (a file with the same content, wherever it was), but only from a
/// file found intact: its stat unchanged since it was verified (the stat index), or its bytes hashed again. A
/// file edited on the host since is no source: its content is reported missing, and the deploy sends it.
struct StagedContent: ReleaseContent {
    /// The previous release, opened without following symlinks (a service account may own its directories).
    let previous: Directory?
    /// sha256 → a path of the previous release holding that content, found intact.
    let previousByHash: [String: String]
    let packs: [Data]
    /// sha256 → (pack, range)
    let packed: [String: (Int, Range<Int>)]
    /// The content hashes of the manifest that are neither sent nor intact on the host.
    let missing: [String]

    init(
        objects: String, previous: Directory?, previousManifest: Manifest?,
        previousIndex: [String: BundleInstaller.StatRecord],
        for manifest: Manifest
    ) throws {
        self.previous = previous
        var packs: [Data] = []
        var packed: [String: (Int, Range<Int>)] = [:]
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: objects)) ?? []).filter {
            $0.hasSuffix(".pack")
        }.sorted()
        for name in names {
            let path = objects + "/" + name
            let data = try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped)
            for (sha, range) in try ObjectPack.index(data, file: path) { packed[sha] = (packs.count, range) }
            packs.append(data)
        }
        self.packs = packs
        self.packed = packed
        // Candidate files of the previous release by content; each is looked at only if its content is needed.
        var candidates: [String: [ManifestEntry]] = [:]
        for entry in previousManifest?.entries ?? [] where entry.kind == .file {
            if let sha = entry.sha256 { candidates[sha, default: []].append(entry) }
        }
        var byHash: [String: String] = [:]
        var missing = Set<String>()
        for entry in manifest.entries where entry.kind == .file {
            guard let sha = entry.sha256, packed[sha] == nil, byHash[sha] == nil, !missing.contains(sha) else {
                continue
            }
            let intact = previous.flatMap { directory in
                candidates[sha]?.first {
                    Self.isIntact($0, in: directory, record: previousIndex[$0.path])
                }?.path
            }
            if let intact { byHash[sha] = intact } else { missing.insert(sha) }
        }
        previousByHash = byHash
        self.missing = missing.sorted()
    }

    /// Whether the previous release's file `entry` still holds its content: a regular file whose stat is the
    /// one recorded when it was verified by this entry, or whose bytes hash to the entry's sha256 now.
    static func isIntact(_ entry: ManifestEntry, in directory: Directory, record: BundleInstaller.StatRecord?) -> Bool {
        guard let sha256 = entry.sha256, let fd = try? directory.openFile(entry.path) else { return false }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { return false }
        if let record, record.matches(st), record.entry == entry.fingerprint { return true }
        guard let bytes = try? readAll(fd, limit: Int(st.st_size), display: entry.path) else { return false }
        let hasher = SHA256Hasher()
        bytes.withUnsafeBytes { hasher.update($0) }
        return hexString(hasher.finalize()) == sha256
    }

    func check(against manifest: Manifest) throws {}

    func withBytes(of entry: ManifestEntry, _ body: (UnsafeRawBufferPointer) throws -> Void) throws {
        let sha = entry.sha256 ?? ""
        if let (pack, range) = packed[sha] {
            try packs[pack].withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[range])) }
            return
        }
        guard let path = previousByHash[sha], let previous else {
            throw BundleError("no content for \(entry.path) (sha256 \(sha)): it was neither sent nor on the host")
        }
        // Read through a descriptor of the file itself; the installer checks the bytes against the sha256.
        let bytes: [UInt8]
        do {
            bytes = try previous.read(path, limit: Int.max)
        } catch {
            throw BundleError("no content for \(entry.path) (sha256 \(sha)): \(error)")
        }
        try bytes.withUnsafeBytes { try body($0) }
    }

    var blobs: [String: ObjectID] { [:] }
}
