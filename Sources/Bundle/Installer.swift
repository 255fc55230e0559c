import Digest
import FileSystem
import Foundation
import Git
import SSH
import Spawn

#if canImport(Glibc)
    import Glibc
#endif

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

/// Installs bundle versions under an install root, least-bit and atomically:
///
/// ```
/// ROOT/releases/<id>/…      one directory per release (id = the commit's first 12 hex digits)
/// ROOT/current -> releases/<id>
/// ROOT/.redeye/             cache repository, release records, stat index, lock
/// ```
///
/// `current` only ever moves by renaming a symlink over it, and only to a release that was completely written,
/// checked against its manifest and renamed into place; an interrupted install leaves a `.tmp-*` directory
/// that the next run removes.
public struct BundleInstaller {
    /// The install root as the host sees it, e.g. `/opt/web`.
    public var root: String
    /// Where the host's file system starts (`/`; a temporary directory in tests).
    public var prefix: String
    public var keep: Int
    public var clock: () -> Date
    public var progress: (String) -> Void
    /// known_hosts files that decide which SSH servers are trusted (ssh:// repositories).
    public var knownHosts: [String] = KnownHosts.defaultFiles
    /// A private key for SSH; nil uses ssh-agent.
    public var sshKey: String?
    /// The accounts the plans give this root's files to (`install.user`, `install.group`); nil where no plans
    /// speak (a hand-run `bundle install` without --user): then the manifest's owners stand as they are.
    public var accounts: InstallAccounts?

    public init(
        root: String, prefix: String = "/", keep: Int = 5, clock: @escaping () -> Date = { Date() },
        progress: @escaping (String) -> Void = { _ in }
    ) {
        self.root = root
        self.prefix = prefix
        self.keep = keep
        self.clock = clock
        self.progress = progress
    }

    /// The install root on this machine's file system.
    public var base: String {
        let p = prefix.hasSuffix("/") ? String(prefix.dropLast()) : prefix
        return p + (root.hasPrefix("/") ? root : "/" + root)
    }

    var stateDirectory: String { base + "/.redeye" }
    var releasesDirectory: String { base + "/releases" }

    public struct Outcome: Sendable, Encodable {
        public var release: String
        public var commit: String
        public var ref: String
        public var previous: String?
        public var alreadyCurrent: Bool
        public var filesWritten: Int
        public var filesLinked: Int
        public var bytesWritten: Int64

        enum CodingKeys: String, CodingKey {
            case release, commit, ref, previous
            case alreadyCurrent = "already_current"
            case filesWritten = "files_written"
            case filesLinked = "files_linked"
            case bytesWritten = "bytes_written"
        }
    }

    // MARK: install

    public func install(repository url: String, ref: String) throws -> Outcome {
        try prepare()
        let lock = try Lock(path: stateDirectory + "/lock")
        defer { lock.release() }
        cleanLeftovers()

        // The current release's stat index is read while the manifest is fetched and parsed: for a large bundle
        // both take a while, and they do not depend on each other.
        let indexed = currentRelease()
        let indexLoad = indexed.map { id in
            let path = stateDirectory + "/index-\(id).tsv"
            return Background { Self.loadIndex(at: path) }
        }
        progress("fetching \(url)")
        let version = try BundleVersion.fetch(
            url, ref: ref, cache: stateDirectory + "/cache.git", hostKeys: HostKeyPolicy(files: knownHosts),
            sshKey: sshKey)
        let commit = version.commit
        let cache = version.repository
        // The fetch parsed and checked the manifest already: for a bundle of 10,000 files that is most of a
        // re-install's time, so it is not done twice.
        return try installRelease(
            commit: commit.hex, ref: ref, repository: url, manifestBytes: version.manifestBytes,
            manifest: version.manifest,
            previousIndex: { id in id == indexed ? indexLoad?.value ?? [:] : loadIndex(id) }
        ) { _ in try GitContent(cache, commit: commit, ref: ref) }
    }

    /// Thrown by `apply` when content is neither staged nor on the host: the deploy sends these and retries.
    public struct MissingContent: Error, CustomStringConvertible {
        public var sha256: [String]
        public var description: String { "\(sha256.count) files' content was neither sent nor found on the host" }
    }

    /// Installs a release that a deploy staged on this host: the manifest as committed, and under `objects` the
    /// files the host did not have, named by their sha256. Everything else is taken from the current release.
    /// The same rules as `install`: verified hashes, modes and owners, an atomic switch, hooks, keep N.
    public func apply(
        manifestBytes: [UInt8], objects: String, commit: String, ref: String, repository: String
    ) throws -> Outcome {
        // The staged content is this install's alone: removed whatever happens, unless more is to be sent.
        var contentComplete = true
        defer { if contentComplete { try? removeTree(objects) } }
        try prepare()
        let lock = try Lock(path: stateDirectory + "/lock")
        defer { lock.release() }
        cleanLeftovers()
        guard commit.count == 40, commit.allSatisfy(\.isHexDigit) else {
            throw BundleError("'\(commit)' is not a commit id (40 hex digits)")
        }
        let manifest = try Manifest.parse(manifestBytes, file: "\(ref):\(Manifest.fileName)")
        if let finding = LeastBit.checkManifest(manifest).first { throw BundleError("\(ref): \(finding)") }
        let outcome = try installRelease(
            commit: commit, ref: ref, repository: repository, manifestBytes: manifestBytes, manifest: manifest
        ) { manifest in
            let previous = currentRelease()
            let previousDirectory = previous.map { releasesDirectory + "/" + $0 }
            let content = try StagedContent(
                objects: objects, previousDirectory: previousDirectory,
                previousManifest: previousDirectory.flatMap { try? manifestOfRelease(at: $0) })
            let missing = content.missing(for: manifest)
            if !missing.isEmpty {
                contentComplete = false
                throw MissingContent(sha256: missing)
            }
            return content
        }
        return outcome
    }

    /// The common tail of `install` and `apply`: write the release from `content` unless it is current or
    /// already intact on disk, record it, run the hooks around an atomic switch, prune. `manifest` is
    /// `manifestBytes` parsed, and has passed `LeastBit.checkManifest`.
    func installRelease<Content: ReleaseContent>(
        commit: String, ref: String, repository: String, manifestBytes: [UInt8], manifest: Manifest,
        previousIndex: ((String) -> [String: StatRecord])? = nil, content: (Manifest) throws -> Content
    ) throws -> Outcome {
        let id = String(commit.prefix(12))
        let owners = try resolveOwners(manifest)

        let previous = currentRelease()
        var outcome = Outcome(
            release: id, commit: commit, ref: ref, previous: previous, alreadyCurrent: false, filesWritten: 0,
            filesLinked: 0, bytesWritten: 0)
        if previous == id, FileManager.default.fileExists(atPath: releasesDirectory + "/" + id) {
            outcome.alreadyCurrent = true
            return outcome
        }
        let final = releasesDirectory + "/" + id
        if FileManager.default.fileExists(atPath: final), audit(release: id, manifest: manifest).isEmpty {
            progress("release \(id) is already installed and intact; switching to it")
        } else {
            let source = try content(manifest)
            let releases = try Directory.open(releasesDirectory)
            try releases.removeTree(id)
            let temporary = ".tmp-\(id)-\(getpid())"
            do {
                try write(
                    source, manifest: manifest, manifestBytes: manifestBytes, release: id, owners: owners,
                    into: temporary, previous: previous, previousIndex: previousIndex ?? loadIndex, outcome: &outcome)
                try releases.rename(temporary, to: id)
            } catch {
                try? releases.removeTree(temporary)
                throw error
            }
        }
        try record(ReleaseRecord(id: id, commit: commit, ref: ref, repository: repository, installedAt: clock()))
        if let hook = manifest.beforeSwitch {
            do {
                try run(hook, name: "before_switch", release: id)
            } catch {
                if previous != id { try? removeTree(final) }
                throw error
            }
        }
        try switchCurrent(to: id)
        progress("current → releases/\(id) (\(ref))")
        if let hook = manifest.afterSwitch {
            do {
                try run(hook, name: "after_switch", release: id)
            } catch {
                if let previous { try? switchCurrent(to: previous) }
                throw BundleError("\(error); switched back to \(previous ?? "nothing")")
            }
        }
        try prune()
        return outcome
    }

    /// Writes a release into the directory `name` of the releases directory: every file's bytes checked against
    /// the manifest before they are written, unchanged files hard-linked from the previous release, then owners
    /// and modes applied. Every entry is made relative to a descriptor of its own directory, opened without
    /// following symlinks (the manifest puts every entry in a listed directory, never beneath a symlink), so
    /// nothing the bundle holds, and nothing a service account changes in the previous release, redirects a
    /// write out of the release.
    func write(
        _ content: some ReleaseContent, manifest: Manifest, manifestBytes: [UInt8], release: String,
        owners: [String: (UInt32, UInt32)], into name: String, previous: String?,
        previousIndex: (String) -> [String: StatRecord], outcome: inout Outcome
    ) throws {
        try content.check(against: manifest)
        let releases = try Directory.open(releasesDirectory)
        try releases.makeDirectory(name, mode: 0o700)
        let root = try releases.directory(name)
        // Descriptors of the new release's directories, by path ("" is the release itself).
        var directories: [String: Directory] = ["": root]
        for entry in manifest.entries where entry.kind == .dir {
            try root.makeDirectory(entry.path, mode: 0o700)
            directories[entry.path] = try root.directory(entry.path)
        }
        func place(_ path: String) throws -> (Directory, String) {
            let (parent, leaf) = splitPath(path)
            guard let directory = directories[parent] else {
                throw BundleError("\(path): its directory \(parent) is not a directory of the bundle")
            }
            return (directory, leaf)
        }
        let manifestFD = try root.createFile(Manifest.fileName, mode: 0o644)
        defer { close(manifestFD) }
        try manifestBytes.withUnsafeBytes { try writeAll(manifestFD, $0, display: Manifest.fileName) }
        // The previous release's directories, where a service account may own some: opened without following
        // symlinks, and a file is linked only through a descriptor of the very file whose stat was checked.
        var previousDirectories: [String: Directory] = [:]
        if let previous, let previousRoot = try? releases.directory(previous) {
            previousDirectories[""] = previousRoot
            for entry in manifest.entries where entry.kind == .dir {
                previousDirectories[entry.path] = try? previousRoot.directory(entry.path)
            }
        }
        let previousIndex = previous.map(previousIndex) ?? [:]
        var index =
            previousDirectories.isEmpty
            ? [:]
            : linkUnchanged(
                manifest, blobs: content.blobs, previousIndex: previousIndex, from: previousDirectories,
                to: directories)
        outcome.filesLinked = index.count
        // A written file gets its owner and mode through its descriptor, and what fstat then says is both
        // checked below and recorded in the index: no lookup by path after it is written.
        var written: [String: stat] = [:]
        for entry in manifest.entries {
            let path = entry.path
            switch entry.kind {
            case .dir: continue
            case .symlink:
                let (directory, leaf) = try place(path)
                try directory.makeSymlink(leaf, target: entry.target ?? "")
            case .file:
                if index[path] != nil { continue }
                let owner = owners["\(entry.owner):\(entry.group)"]!
                let (directory, leaf) = try place(path)
                try content.withBytes(of: entry) { bytes in
                    let hasher = SHA256Hasher()
                    hasher.update(bytes)
                    guard hexString(hasher.finalize()) == entry.sha256 else {
                        throw BundleError(
                            "refused: \(path) does not match the manifest's sha256 (tampered bundle?); nothing was switched"
                        )
                    }
                    written[path] = try writeFile(
                        in: directory, leaf, bytes, owner: owner, mode: mode_t(entry.mode.bits), display: path)
                    outcome.bytesWritten += Int64(bytes.count)
                }
                outcome.filesWritten += 1
            }
        }
        // Directories and symlinks: owners first (chown clears set-id bits), then modes; deepest first.
        for entry in manifest.entries.reversed() where entry.kind != .file {
            let (uid, gid) = owners["\(entry.owner):\(entry.group)"]!
            if entry.kind == .dir, let directory = directories[entry.path] {
                guard fchown(directory.descriptor, uid, gid) == 0 else {
                    throw posixError("set the owner of \(entry.path)")
                }
                guard fchmod(directory.descriptor, mode_t(entry.mode.bits)) == 0 else {
                    throw posixError("set the mode of \(entry.path)")
                }
            } else {
                let (directory, leaf) = try place(entry.path)
                guard fchownat(directory.descriptor, leaf, uid, gid, AT_SYMLINK_NOFOLLOW) == 0 else {
                    throw posixError("set the owner of \(entry.path)")
                }
            }
        }
        guard fchmod(root.descriptor, 0o755) == 0 else { throw posixError("set the mode of the release") }
        // The release must be on disk before `current` can name it: after a power cut, a switched link to files
        // still in the page cache would be a release of empty files. One syncfs costs what the writes cost.
        try root.syncFileSystem()
        // Check what was written (linked files were matched against the index: same content, mode and owner).
        let made = Manifest(entries: manifest.entries.filter { $0.kind != .file || index[$0.path] == nil })
        var found: [String: FoundEntry] = [:]
        for entry in manifest.entries where entry.kind != .file {
            let (directory, leaf) = try place(entry.path)
            if let found1 = TreeScanner.entry(leaf, in: directory, path: entry.path) { found[entry.path] = found1 }
        }
        for (path, st) in written { found[path] = FoundEntry(path: path, stat: st) }
        if let finding = LeastBit.check(made, against: found, owners: Accounts()).first {
            throw BundleError("the written release does not match its manifest: \(finding)")
        }
        for entry in manifest.entries where entry.kind == .file && index[entry.path] == nil {
            index[entry.path] = StatRecord(
                stat: written[entry.path]!, blob: content.blobID(of: entry.path), entry: entry.fingerprint)
        }
        try saveIndex(index, release: release)
    }

    /// Hard-links into the new release every file of the previous one that can be reused, and returns their stat
    /// records by path. A file is reused when the previous release's file was verified against this same manifest
    /// entry (content hash, mode, owner) and is unchanged since (size, mtime, ctime, inode, mode, owner); from
    /// git, its blob must also be the one verified then, so that a tampered repository is caught even where the
    /// file would be linked. The link is made through a descriptor of the file that was checked, so renaming
    /// another file into its place meanwhile links nothing unchecked. A file that cannot be linked is left to
    /// be written.
    ///
    /// For a re-install of a large bundle these links and stats are most of the work, all of it in the kernel:
    /// they run on every core, each thread on its own runs of paths (sorted, so mostly their own directories).
    func linkUnchanged(
        _ manifest: Manifest, blobs: [String: ObjectID], previousIndex: [String: StatRecord],
        from previous: [String: Directory], to new: [String: Directory]
    ) -> [String: StatRecord] {
        let entries = manifest.entries
        let linked = UnsafeMutableBufferPointer<StatRecord?>.allocate(capacity: entries.count)
        linked.initialize(repeating: nil)
        defer {
            _ = linked.deinitialize()
            linked.deallocate()
        }
        let chunkSize = 512
        let chunks = (entries.count + chunkSize - 1) / chunkSize
        // Each chunk writes only its own slots of `linked`.
        nonisolated(unsafe) let slots = linked
        let linkChunk = { @Sendable (chunk: Int) in
            for i in chunk * chunkSize..<min(entries.count, (chunk + 1) * chunkSize) {
                let entry = entries[i]
                guard entry.kind == .file, let stat = previousIndex[entry.path], stat.entry == entry.fingerprint
                else { continue }
                let blob = blobs[entry.path]?.hex
                guard blob == nil || stat.blob == blob else { continue }
                let (parent, leaf) = splitPath(entry.path)
                guard let from = previous[parent], let to = new[parent] else { continue }
                let fd = from.pathDescriptor(leaf)
                guard fd >= 0 else { continue }
                defer { close(fd) }
                var now = Glibc.stat()
                guard fstat(fd, &now) == 0, now.st_mode & S_IFMT == S_IFREG, stat.matches(now),
                    to.link(descriptor: fd, as: leaf)
                else { continue }
                // The link moved the file's ctime: the index records the file as it is now.
                var after = Glibc.stat()
                guard fstat(fd, &after) == 0 else { continue }
                slots[i] = StatRecord(stat: after, blob: stat.blob, entry: stat.entry)
            }
        }
        if ProcessInfo.processInfo.activeProcessorCount > 1 && chunks > 1 {
            DispatchQueue.concurrentPerform(iterations: chunks, execute: linkChunk)
        } else {
            (0..<chunks).forEach(linkChunk)
        }
        var index: [String: StatRecord] = [:]
        index.reserveCapacity(entries.count)
        for (i, stat) in linked.enumerated() { if let stat { index[entries[i].path] = stat } }
        return index
    }

    // MARK: rollback, status, audit

    /// Switches `current` back to the release installed before it, or to `id`.
    public func rollback(to id: String? = nil) throws -> (from: String?, to: String) {
        try prepare()
        let lock = try Lock(path: stateDirectory + "/lock")
        defer { lock.release() }
        let current = currentRelease()
        let installed = releases().filter { FileManager.default.fileExists(atPath: releasesDirectory + "/" + $0.id) }
        let target: String
        if let id {
            guard Self.isReleaseID(id), installed.contains(where: { $0.id == id }) else {
                throw BundleError(
                    "no installed release \(id) (installed: \(installed.map(\.id).joined(separator: ", ")))")
            }
            target = id
        } else {
            let older = installed.filter { $0.id != current }.sorted { $0.installedAt > $1.installedAt }
            guard let last = older.first else { throw BundleError("no earlier release to roll back to") }
            target = last.id
        }
        let manifest = try manifestOfRelease(at: releasesDirectory + "/" + target)
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
        let manifest = try manifestOfRelease(at: releasesDirectory + "/" + current)
        return Status(
            current: current, record: releases().last { $0.id == current }, releases: releases(),
            drift: audit(release: current, manifest: manifest))
    }

    /// The least-bit audit of the current release: the verify rules plus owners and groups as installed.
    public func audit() throws -> [Finding] {
        guard let current = currentRelease() else { throw BundleError("\(base) has no current release") }
        return audit(release: current, manifest: try manifestOfRelease(at: releasesDirectory + "/" + current))
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

    public func currentRelease() -> String? {
        var buffer = [CChar](repeating: 0, count: 4096)
        let n = readlink(base + "/current", &buffer, buffer.count - 1)
        guard n > 0 else { return nil }
        let target = String(decoding: buffer.prefix(n).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        guard target.hasPrefix("releases/") else { return nil }
        let id = String(target.dropFirst("releases/".count))
        return Self.isReleaseID(id) ? id : nil
    }

    func switchCurrent(to id: String) throws {
        let temporary = base + "/.current-\(getpid())"
        unlink(temporary)
        guard symlink("releases/\(id)", temporary) == 0 else { throw posixError("create the new current link") }
        guard Glibc.rename(temporary, base + "/current") == 0 else {
            unlink(temporary)
            throw posixError("switch current")
        }
        let fd = open(base, O_RDONLY | O_DIRECTORY)
        if fd >= 0 {
            fsync(fd)
            close(fd)
        }
    }

    func manifestOfRelease(at directory: String) throws -> Manifest {
        guard let data = FileManager.default.contents(atPath: directory + "/" + Manifest.fileName) else {
            throw BundleError("\(directory) has no manifest")
        }
        return try Manifest.parse(Array(data), file: directory + "/" + Manifest.fileName)
    }

    /// uid and gid for every owner:group the manifest names; installing as another user needs root.
    func resolveOwners(_ manifest: Manifest) throws -> [String: (UInt32, UInt32)] {
        if let accounts, let finding = accounts.refusal(manifest) { throw BundleError("refused: \(finding)") }
        let accounts = Accounts()
        var out: [String: (UInt32, UInt32)] = [:]
        for entry in manifest.entries {
            let key = "\(entry.owner):\(entry.group)"
            if out[key] != nil { continue }
            guard let uid = accounts.uid(entry.owner) else {
                throw BundleError("\(entry.path): user '\(entry.owner)' does not exist on this host")
            }
            guard let gid = accounts.gid(entry.group) else {
                throw BundleError("\(entry.path): group '\(entry.group)' does not exist on this host")
            }
            if getuid() != 0 && (uid != getuid() || gid != getgid()) {
                throw BundleError(
                    "\(entry.path) must be owned by \(entry.owner):\(entry.group); installing files for another user needs root (running as uid \(getuid()))"
                )
            }
            out[key] = (uid, gid)
        }
        return out
    }

    /// Top-level directories of the system that are never an install root.
    static let systemDirectories: Set<String> = [
        "bin", "boot", "dev", "etc", "home", "lib", "lib32", "lib64", "opt", "proc", "root", "run", "sbin", "srv",
        "sys",
        "tmp", "usr", "var",
    ]

    /// A release id as the installer makes them: a commit's first 12 hex digits. Anything else in the records is
    /// never used as a path.
    public static func isReleaseID(_ id: String) -> Bool {
        id.utf8.count == 12 && id.utf8.allSatisfy { ($0 >= 48 && $0 <= 57) || ($0 >= 97 && $0 <= 102) }
    }

    public func releases() -> [ReleaseRecord] {
        guard let data = FileManager.default.contents(atPath: stateDirectory + "/releases.json") else { return [] }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return ((try? decoder.decode([ReleaseRecord].self, from: data)) ?? []).filter { Self.isReleaseID($0.id) }
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
        try atomicWrite(stateDirectory + "/releases.json", Array(try encoder.encode(records)))
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
                unlink(stateDirectory + "/index-\(record.id).tsv")
            }
        }
        try writeState(kept.sorted { $0.installedAt < $1.installedAt })
    }

    /// Runs a hook with `/bin/sh -c` in the release directory, with the minimal child environment (nothing of
    /// the caller's own: no database password, no agent socket), bounded by its timeout; whatever it started
    /// is killed when it ends, also what left its process group. Its output goes to a file (no pipe for
    /// children to hold open).
    func run(_ hook: Hook, name: String, release: String) throws {
        progress("running the \(name) hook: \(hook.run)")
        let directory = releasesDirectory + "/" + release
        let state = try Directory.open(stateDirectory)
        let log = "hook-\(getpid()).log"
        try state.removeFile(log)
        defer { try? state.removeFile(log) }
        // The directory and the command travel as arguments, never spliced into shell text.
        let spec = ProcessSpec(
            "/bin/sh", ["/bin/sh", "-c", "cd -- \"$0\" || exit 125; exec /bin/sh -c \"$1\"", directory, hook.run],
            environment: childEnvironment([
                "REDEYE_RELEASE": release, "REDEYE_RELEASE_DIR": directory, "REDEYE_ROOT": root,
            ]),
            output: stateDirectory + "/" + log)
        let termination: Termination
        do {
            termination = try runBounded(spec, timeout: .seconds(hook.timeoutSeconds))
        } catch {
            throw BundleError("cannot start the \(name) hook: \(error)")
        }
        if termination == .timedOut {
            throw BundleError("the \(name) hook did not finish within \(hook.timeoutSeconds)s and was killed")
        }
        guard termination.succeeded else {
            let output = (try? state.read(log, limit: 1 << 20)).map { String(decoding: $0, as: UTF8.self) } ?? ""
            throw BundleError("the \(name) hook failed (\(termination)): \(output.suffix(500))")
        }
    }

    // MARK: stat index

    struct StatRecord {
        var size: Int64
        var mtime: Int64
        /// Change time: an owner who rewrites the file and resets its mtime still moves it.
        var ctime: Int64 = 0
        var inode: UInt64
        /// Permission bits, owner and group: a chmod or chown since installation also prevents reuse.
        var mode: UInt32 = 0
        var uid: UInt32 = 0
        var gid: UInt32 = 0
        /// The git blob the file was written from (and verified against the manifest's sha256).
        var blob: String?
        /// The manifest entry it was installed by (mode, owner, group, sha256).
        var entry: String?

        init(size: Int64, mtime: Int64, inode: UInt64, blob: String?, entry: String?) {
            self.size = size
            self.mtime = mtime
            self.inode = inode
            self.blob = blob
            self.entry = entry
        }

        init(stat st: stat, blob: String?, entry: String?) {
            self.blob = blob
            self.entry = entry
            size = Int64(st.st_size)
            mtime = Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec)
            ctime = Int64(st.st_ctim.tv_sec) * 1_000_000_000 + Int64(st.st_ctim.tv_nsec)
            inode = UInt64(st.st_ino)
            mode = UInt32(st.st_mode) & 0o7777
            uid = st.st_uid
            gid = st.st_gid
        }

        /// Unchanged since it was verified: a file whose size, times, inode, mode and owner are the same is not
        /// re-read.
        func matches(_ st: stat) -> Bool {
            let now = StatRecord(stat: st, blob: nil, entry: nil)
            return now.size == size && now.mtime == mtime && now.ctime == ctime && now.inode == inode
                && now.mode == mode && now.uid == uid && now.gid == gid
        }
    }

    /// The stat index of a release: one line per file, `size mtime ctime inode mode uid gid blob entry path`, tab-separated
    /// (bundle paths hold no control characters).
    func loadIndex(_ release: String) -> [String: StatRecord] {
        Self.loadIndex(at: stateDirectory + "/index-\(release).tsv")
    }

    static func loadIndex(at path: String) -> [String: StatRecord] {
        guard let data = FileManager.default.contents(atPath: path) else { return [:] }
        var out: [String: StatRecord] = [:]
        // Parsed as bytes: this file has a line per file of the release and is read on every install.
        data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
            let bytes = raw.bindMemory(to: UInt8.self)
            var lineStart = 0
            while lineStart < bytes.count {
                var lineEnd = lineStart
                while lineEnd < bytes.count && bytes[lineEnd] != 10 { lineEnd += 1 }
                var fields: [Range<Int>] = []
                var fieldStart = lineStart
                for i in lineStart..<lineEnd where bytes[i] == 9 && fields.count < 9 {
                    fields.append(fieldStart..<i)
                    fieldStart = i + 1
                }
                fields.append(fieldStart..<lineEnd)
                func number(_ r: Range<Int>) -> UInt64? {
                    guard !r.isEmpty else { return nil }
                    var v: UInt64 = 0
                    for i in r {
                        guard bytes[i] >= 48 && bytes[i] <= 57 else { return nil }
                        v = v &* 10 &+ UInt64(bytes[i] - 48)
                    }
                    return v
                }
                func text(_ r: Range<Int>) -> String {
                    String(decoding: UnsafeBufferPointer(rebasing: bytes[r]), as: UTF8.self)
                }
                if fields.count == 10, let size = number(fields[0]), let mtime = number(fields[1]),
                    let ctime = number(fields[2]), let inode = number(fields[3]),
                    let mode = number(fields[4]), let uid = number(fields[5]), let gid = number(fields[6])
                {
                    var record = StatRecord(
                        size: Int64(size), mtime: Int64(mtime), inode: inode,
                        blob: fields[7].isEmpty ? nil : text(fields[7]),
                        entry: text(fields[8]))
                    record.ctime = Int64(ctime)
                    record.mode = UInt32(mode)
                    record.uid = UInt32(uid)
                    record.gid = UInt32(gid)
                    out[text(fields[9])] = record
                }
                lineStart = lineEnd + 1
            }
        }
        return out
    }

    func saveIndex(_ index: [String: StatRecord], release: String) throws {
        // Written as bytes: string interpolation of 10,000 lines was a tenth of a re-install.
        var out: [UInt8] = []
        out.reserveCapacity(index.count * 200)
        func number(_ value: UInt64) {
            out.append(contentsOf: String(value).utf8)  // a small string: no allocation
            out.append(9)
        }
        for (path, r) in index {
            number(UInt64(bitPattern: r.size))
            number(UInt64(bitPattern: r.mtime))
            number(UInt64(bitPattern: r.ctime))
            number(r.inode)
            number(UInt64(r.mode))
            number(UInt64(r.uid))
            number(UInt64(r.gid))
            out.append(contentsOf: (r.blob ?? "").utf8)
            out.append(9)
            out.append(contentsOf: (r.entry ?? "").utf8)
            out.append(9)
            out.append(contentsOf: path.utf8)
            out.append(10)
        }
        try atomicWrite(stateDirectory + "/index-\(release).tsv", out)
    }
}

/// The accounts the plans give a role's files to: a bundle may give its files to these and to root, and set a
/// set-id bit only on what these own (so it installs a setuid-root program only where the plans say root).
public struct InstallAccounts: Sendable, Equatable {
    public var user: String
    public var group: String

    public init(user: String, group: String) {
        self.user = user
        self.group = group
    }

    /// The first entry that goes past these accounts, in words, or nil.
    public func refusal(_ manifest: Manifest) -> Finding? {
        for entry in manifest.entries {
            guard entry.owner == user || entry.owner == "root" || entry.owner == "0" else {
                return Finding(
                    path: entry.path,
                    problem:
                        "owned by \(entry.owner), but the plans install this role as \(user):\(group) (its files may be owned by \(user) or root)"
                )
            }
            guard entry.group == group || entry.group == "root" || entry.group == "0" else {
                return Finding(
                    path: entry.path,
                    problem:
                        "group \(entry.group), but the plans install this role as \(user):\(group) (its files may have group \(group) or root)"
                )
            }
            if entry.kind != .symlink && entry.mode.bits & 0o4000 != 0 && entry.owner != user {
                return Finding(
                    path: entry.path,
                    problem:
                        "setuid \(entry.owner), but the plans install this role as \(user): a setuid program may run only as \(user)"
                )
            }
            if entry.kind != .symlink && entry.mode.bits & 0o2000 != 0 && entry.group != group && entry.kind == .file {
                return Finding(
                    path: entry.path,
                    problem: "setgid \(entry.group), but the plans install this role as group \(group)")
            }
        }
        return nil
    }
}

/// A value computed on another thread; `value` waits for it.
final class Background<Value: Sendable>: @unchecked Sendable {
    // `result` is written once before `done` is signalled, and read only after waiting for it.
    private let done = DispatchSemaphore(value: 0)
    private var result: Value?

    init(_ work: @escaping @Sendable () -> Value) {
        Thread.detachNewThread {
            self.result = work()
            self.done.signal()
        }
    }

    var value: Value {
        done.wait()
        defer { done.signal() }
        return result!
    }
}

/// An exclusive lock on a file (flock), released by the kernel even if the process is killed.
final class Lock {
    private let fd: Int32

    init(path: String) throws {
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw posixError("open the lock \(path)") }
        guard flock(fd, LOCK_EX) == 0 else {
            close(fd)
            throw posixError("lock \(path)")
        }
    }

    func release() { close(fd) }
}

func posixError(_ what: String) -> BundleError {
    BundleError(SystemError(what).description)
}

/// `path` split into its directory ("" at the top) and its last component.
func splitPath(_ path: String) -> (String, String) {
    guard let slash = path.lastIndex(of: "/") else { return ("", path) }
    return (String(path[..<slash]), String(path[path.index(after: slash)...]))
}

func makeDirectory(_ path: String, mode: mode_t, parents: Bool = false) throws {
    if parents {
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        } catch {
            throw BundleError("cannot create \(path): \(error.localizedDescription)")
        }
        return
    }
    guard mkdir(path, mode) == 0 || errno == EEXIST else { throw posixError("create \(path)") }
}

/// Creates `name` in `directory` with `bytes` (exclusively, never through a symlink), gives it `owner` (first:
/// chown clears set-id bits) and `mode` through its descriptor, and returns what fstat then says of it.
func writeFile(
    in directory: Directory, _ name: String, _ bytes: UnsafeRawBufferPointer, owner: (UInt32, UInt32), mode: mode_t,
    display: String
) throws -> stat {
    let fd = retryingInterrupts {
        openat(directory.descriptor, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
    }
    guard fd >= 0 else { throw posixError("write \(display)") }
    var st = stat()
    do {
        try writeAll(fd, bytes, display: display)
        guard fchown(fd, owner.0, owner.1) == 0 else { throw posixError("set the owner of \(display)") }
        guard fchmod(fd, mode) == 0 else { throw posixError("set the mode of \(display)") }
        guard fstat(fd, &st) == 0 else { throw posixError("stat \(display)") }
    } catch {
        close(fd)
        throw error
    }
    guard close(fd) == 0 else { throw posixError("write \(display)") }
    return st
}

/// Replaces the file at `path` atomically (the one writer: `Directory.writeAtomically`).
func atomicWrite(_ path: String, _ bytes: [UInt8], mode: mode_t = 0o600) throws {
    let (directory, name) = splitPath(path)
    try Directory.open(directory).writeAtomically(name, bytes, mode: mode)
}

/// Removes a tree through directory descriptors (`Directory.removeTree`): a directory swapped for a symlink
/// while it is removed has the symlink removed, never what it points to.
func removeTree(_ path: String) throws {
    let (directory, name) = splitPath(path)
    let parent: Directory
    do {
        parent = try Directory.open(directory.isEmpty ? "/" : directory)
    } catch  where error.code == ENOENT {
        return
    }
    try parent.removeTree(name)
}
