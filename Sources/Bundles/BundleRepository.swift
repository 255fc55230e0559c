import Foundation
import Git

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

    /// Verifies the directory, commits it with its manifest on `branch`, and tags the commit.
    public func commit(directory: String, tag: String, message: String, author: GitPerson, branch: String = "main")
        throws
        -> ObjectID
    {
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
        try repository.createTag(tag, commit: id, tagger: author, message: message)
        return id
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
