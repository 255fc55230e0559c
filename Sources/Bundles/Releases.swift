import FileSystem
import FoundationEssentials
import Glibc
import InstallRoot

/// One installed release, as recorded in `ROOT/.redeye/releases.json`.
public struct ReleaseRecord: Codable, Sendable, Equatable {
    public var id: String
    public var commit: String
    public var ref: String
    public var repository: String
    public var installedAt: Date

    enum CodingKeys: String, CodingKey {
        case id, commit, ref, repository
        case installedAt = "installed_at"
    }
}

extension BundleInstaller {
    // MARK: rollback, status, audit

    /// Switches `current` back to the release installed before it, or to `id`.
    public func rollback(to id: String? = nil) throws -> (from: String?, to: String) {
        try prepare()
        let lock = try Lock(path: layout.installLock)
        defer { lock.release() }
        let current = currentRelease()
        let installed = releases().filter { FileManager.default.fileExists(atPath: releasesDirectory + "/" + $0.id) }
        let target: String
        if let id {
            guard InstallLayout.isReleaseID(id), installed.contains(where: { $0.id == id }) else {
                throw BundleError(
                    "no installed release \(id) (installed: \(installed.map(\.id).joined(separator: ", ")))")
            }
            target = id
        } else {
            let older = installed.filter { $0.id != current }.sorted { $0.installedAt > $1.installedAt }
            guard let last = older.first else { throw BundleError("no earlier release to roll back to") }
            target = last.id
        }
        let manifest = try manifest(ofRelease: target)
        if let finding = audit(release: target, manifest: manifest).first {
            throw BundleError("release \(target) is damaged (\(finding)); not switching to it")
        }
        try switchCurrent(to: target)
        return (current, target)
    }

    public struct Status: Sendable, Encodable {
        public var current: String?
        public var record: ReleaseRecord?
        public var releases: [ReleaseRecord]
        public var drift: [Finding]
    }

    /// The current release, its record, and anything that no longer matches its manifest.
    public func status() throws -> Status {
        guard let current = currentRelease() else {
            return Status(current: nil, record: nil, releases: releases(), drift: [])
        }
        let manifest = try manifest(ofRelease: current)
        return Status(
            current: current, record: releases().last { $0.id == current }, releases: releases(),
            drift: audit(release: current, manifest: manifest))
    }

    /// The least-bit audit of the current release: the verify rules plus owners and groups as installed.
    public func audit() throws -> [Finding] {
        guard let current = currentRelease() else { throw BundleError("\(base) has no current release") }
        return audit(release: current, manifest: try manifest(ofRelease: current))
    }

    func audit(release: String, manifest: Manifest) -> [Finding] {
        do {
            let found = try TreeScanner.scan(releasesDirectory + "/" + release)
            return LeastBit.check(manifest, against: found, owners: Accounts())
        } catch {
            return [Finding(path: release, problem: "\(error)")]
        }
    }

    // MARK: pieces

    func prepare() throws {
        guard root.hasPrefix("/"), !root.split(separator: "/").contains("..") else {
            throw BundleError("the install root must be an absolute path without '..' (got \(root))")
        }
        let parts = root.split(separator: "/")
        if parts.isEmpty || (parts.count == 1 && BundleInstaller.systemDirectories.contains(String(parts[0]))) {
            throw BundleError(
                "refusing the install root \(root): a bundle is installed in a directory of its own (e.g. /opt/web), never over the system's"
            )
        }
        try makeDirectory(base, mode: 0o755, parents: true)
        try makeDirectory(releasesDirectory, mode: 0o755, parents: true)
        try makeDirectory(stateDirectory, mode: 0o700, parents: true)
    }

    /// Removes what an interrupted run left: temporary release directories and symlinks.
    func cleanLeftovers() {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: releasesDirectory)) ?? []
        for name in names where name.hasPrefix(".tmp-") {
            progress("removing \(name), left by an interrupted install")
            try? removeTree(releasesDirectory + "/" + name)
        }
        for name in (try? FileManager.default.contentsOfDirectory(atPath: base)) ?? [] where name.hasPrefix(".current-")
        {
            unlink(base + "/" + name)
        }
    }

    public func currentRelease() -> String? { layout.currentRelease() }

    func switchCurrent(to id: String) throws {
        let temporary = base + "/.current-\(getpid())"
        unlink(temporary)
        guard symlink(InstallLayout.currentLink(to: id), temporary) == 0 else {
            throw posixError("create the new current link")
        }
        guard Glibc.rename(temporary, layout.current) == 0 else {
            unlink(temporary)
            throw posixError("switch current")
        }
        let fd = open(base, O_RDONLY | O_DIRECTORY)
        if fd >= 0 {
            fsync(fd)
            close(fd)
        }
    }

    /// A release's manifest as committed, read through the releases directory's descriptor (no symlink
    /// followed beneath it: a service account that owns a release cannot point this read elsewhere).
    func manifestBytes(ofRelease id: String) throws -> [UInt8] {
        do {
            return try Directory.open(releasesDirectory).read(id + "/" + Manifest.fileName, limit: 256 << 20)
        } catch {
            throw BundleError("release \(id) has no readable manifest: \(error)")
        }
    }

    /// A release's manifest, parsed (the one reader of it).
    func manifest(ofRelease id: String) throws -> Manifest {
        try Manifest.parse(
            try manifestBytes(ofRelease: id), file: releasesDirectory + "/" + id + "/" + Manifest.fileName)
    }

    /// Top-level directories of the system that are never an install root.
    static let systemDirectories: Set<String> = [
        "bin", "boot", "dev", "etc", "home", "lib", "lib32", "lib64", "opt", "proc", "root", "run", "sbin", "srv",
        "sys",
        "tmp", "usr", "var",
    ]

    public func releases() -> [ReleaseRecord] {
        guard let data = FileManager.default.contents(atPath: layout.releaseRecords) else { return [] }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return ((try? decoder.decode([ReleaseRecord].self, from: data)) ?? []).filter {
            InstallLayout.isReleaseID($0.id)
        }
    }

    func record(_ release: ReleaseRecord) throws {
        var all = releases().filter { $0.id != release.id }
        all.append(release)
        try writeState(all)
    }

    func writeState(_ records: [ReleaseRecord]) throws {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try atomicWrite(layout.releaseRecords, Array(try encoder.encode(records)))
    }

    /// Keeps the newest `keep` releases (the current one always).
    func prune() throws {
        let current = currentRelease()
        let installed = releases().sorted { $0.installedAt > $1.installedAt }
        var kept: [ReleaseRecord] = []
        for record in installed {
            if record.id == current
                || kept.count < keep - (kept.contains { $0.id == current } || current == nil ? 0 : 1)
            {
                kept.append(record)
            } else {
                progress("removing old release \(record.id)")
                try removeTree(releasesDirectory + "/" + record.id)
                unlink(layout.statIndex(record.id))
            }
        }
        try writeState(kept.sorted { $0.installedAt < $1.installedAt })
    }
}
