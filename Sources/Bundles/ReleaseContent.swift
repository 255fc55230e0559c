import Foundation
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
/// the rest is read from the previous release (a file with the same content, wherever it was).
struct StagedContent: ReleaseContent {
    let previousDirectory: String?
    /// sha256 → a path of the previous release with that content.
    let previousByHash: [String: String]
    let packs: [Data]
    /// sha256 → (pack, range)
    let packed: [String: (Int, Range<Int>)]

    init(objects: String, previousDirectory: String?, previousManifest: Manifest?) throws {
        self.previousDirectory = previousDirectory
        var byHash: [String: String] = [:]
        for entry in previousManifest?.entries ?? [] where entry.kind == .file {
            if let sha = entry.sha256 { byHash[sha] = byHash[sha] ?? entry.path }
        }
        previousByHash = byHash
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
    }

    func check(against manifest: Manifest) throws {}

    /// The content hashes the host cannot supply: neither sent nor in the previous release.
    func missing(for manifest: Manifest) -> [String] {
        var out = Set<String>()
        for entry in manifest.entries where entry.kind == .file {
            guard let sha = entry.sha256, packed[sha] == nil else { continue }
            if let path = previousByHash[sha], let previousDirectory, access(previousDirectory + "/" + path, R_OK) == 0
            {
                continue
            }
            out.insert(sha)
        }
        return out.sorted()
    }

    func withBytes(of entry: ManifestEntry, _ body: (UnsafeRawBufferPointer) throws -> Void) throws {
        let sha = entry.sha256 ?? ""
        if let (pack, range) = packed[sha] {
            try packs[pack].withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[range])) }
            return
        }
        guard let path = previousByHash[sha], let previousDirectory else {
            throw BundleError("no content for \(entry.path) (sha256 \(sha)): it was neither sent nor on the host")
        }
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: previousDirectory + "/" + path), options: .alwaysMapped)
        } catch {
            throw BundleError("no content for \(entry.path) (sha256 \(sha)): it was neither sent nor on the host")
        }
        try data.withUnsafeBytes { try body($0) }
    }

    var blobs: [String: ObjectID] { [:] }
}
