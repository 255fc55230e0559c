import Digest
import Dispatch
import FileSystem
import FoundationEssentials
import Git
import Glibc
import InstallRoot
import SSH
import Spawn

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
    /// The CA certificates and token for https:// repositories.
    public var https = HTTPSTransport()
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

    /// Where everything lives under the root.
    public var layout: InstallLayout { InstallLayout(root: root, prefix: prefix) }
    /// The install root on this machine's file system.
    public var base: String { layout.base }
    var stateDirectory: String { layout.state }
    var releasesDirectory: String { layout.releases }

    public struct Outcome: Sendable, Encodable {
        public var release: String
        public var commit: String
        public var ref: String
        public var previous: String?
        public var alreadyCurrent: Bool
        public var filesWritten: Int
        public var filesLinked: Int
        public var bytesWritten: Int64
        /// With `repair`: what the audit found wrong in the current release, now rewritten (empty: intact).
        public var repaired: [String]?

        enum CodingKeys: String, CodingKey {
            case release, commit, ref, previous, repaired
            case alreadyCurrent = "already_current"
            case filesWritten = "files_written"
            case filesLinked = "files_linked"
            case bytesWritten = "bytes_written"
        }
    }

    // MARK: install

    /// Installs `ref` of the bundle at `url` (with `pin`, only the pinned commit). With `repair`, a current
    /// release that the audit finds changed (an edited file, a mode, an owner, a file the manifest does not
    /// name) is rewritten from the bundle and swapped in whole.
    public func install(repository url: String, ref: String, pin: BundlePin? = nil, repair: Bool = false) throws
        -> Outcome
    {
        try prepare()
        let lock = try Lock(path: layout.installLock)
        defer { lock.release() }
        cleanLeftovers()

        // The current release's stat index is read while the manifest is fetched and parsed: for a large bundle
        // both take a while, and they do not depend on each other.
        let indexed = currentRelease()
        let indexLoad = indexed.map { id in
            let path = layout.statIndex(id)
            return Background { Self.loadIndex(at: path) }
        }
        progress("fetching \(url)")
        let version = try BundleVersion.fetch(
            url, ref: ref, cache: stateDirectory + "/cache.git", hostKeys: HostKeyPolicy(files: knownHosts),
            sshKey: sshKey, https: https, pin: pin)
        let commit = version.commit
        let cache = version.repository
        // The fetch parsed and checked the manifest already: for a bundle of 10,000 files that is most of a
        // re-install's time, so it is not done twice.
        return try installRelease(
            commit: commit.hex, ref: ref, repository: url, manifestBytes: version.manifestBytes,
            manifest: version.manifest, repair: repair,
            previousIndex: { id in id == indexed ? indexLoad?.value ?? [:] : loadIndex(id) }
        ) { _ in try GitContent(cache, commit: commit, ref: ref) }
    }

    /// Thrown by `apply` when content is neither staged nor on the host: the deploy sends these and retries.
    public struct MissingContent: Error, CustomStringConvertible {
        public var sha256: [String]
        public var description: String { "\(sha256.count) files' content was neither sent nor found on the host" }
    }

    /// Installs a release that a deploy staged on this host: the manifest as committed, and under `objects` the
    /// files the host did not have, named by their sha256. Everything else is taken from the current release,
    /// from files found intact. The same rules as `install`: verified hashes, modes and owners, an atomic
    /// switch, hooks, keep N. With `repair`, a current release that the audit finds changed is rewritten.
    public func apply(
        manifestBytes: [UInt8], objects: String, commit: String, ref: String, repository: String,
        repair: Bool = false
    ) throws -> Outcome {
        // The staged content is this install's alone: removed whatever happens, unless more is to be sent.
        var contentComplete = true
        defer { if contentComplete { try? removeTree(objects) } }
        try prepare()
        let lock = try Lock(path: layout.installLock)
        defer { lock.release() }
        cleanLeftovers()
        guard commit.count == 40, commit.allSatisfy(\.isHexDigit) else {
            throw BundleError("'\(commit)' is not a commit id (40 hex digits)")
        }
        let manifest = try Manifest.parse(manifestBytes, file: "\(ref):\(Manifest.fileName)")
        if let finding = LeastBit.checkManifest(manifest).first { throw BundleError("\(ref): \(finding)") }
        let outcome = try installRelease(
            commit: commit, ref: ref, repository: repository, manifestBytes: manifestBytes, manifest: manifest,
            repair: repair
        ) { manifest in
            let previous = currentRelease()
            let content = try StagedContent(
                objects: objects, previous: previous.flatMap { try? Directory.open(releasesDirectory + "/" + $0) },
                previousManifest: previous.flatMap { try? self.manifest(ofRelease: $0) },
                previousIndex: previous.map(loadIndex) ?? [:], for: manifest)
            if !content.missing.isEmpty {
                contentComplete = false
                throw MissingContent(sha256: content.missing)
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
        repair: Bool = false, previousIndex: ((String) -> [String: StatRecord])? = nil,
        content: (Manifest) throws -> Content
    ) throws -> Outcome {
        let id = String(commit.prefix(12))
        let owners = try resolveOwners(manifest)

        let previous = currentRelease()
        var outcome = Outcome(
            release: id, commit: commit, ref: ref, previous: previous, alreadyCurrent: false, filesWritten: 0,
            filesLinked: 0, bytesWritten: 0)
        if previous == id, FileManager.default.fileExists(atPath: releasesDirectory + "/" + id) {
            outcome.alreadyCurrent = true
            if repair {
                outcome.repaired = try self.repair(
                    release: id, manifest: manifest, manifestBytes: manifestBytes, owners: owners,
                    previousIndex: previousIndex ?? loadIndex, content: content, outcome: &outcome)
            }
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
                    into: temporary, of: releases, previous: previous, previousIndex: previousIndex ?? loadIndex,
                    outcome: &outcome)
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

    /// Rewrites the current release `id` if the audit finds it changed: a fresh copy is written beside it (files
    /// whose stat still matches the index are linked, every other one written anew, so a fix never reaches
    /// another release through a shared hard link, and nothing the manifest does not name is carried over),
    /// then swapped with it in one step; `current` never names a half-written release. Returns the findings.
    func repair<Content: ReleaseContent>(
        release id: String, manifest: Manifest, manifestBytes: [UInt8], owners: [String: (UInt32, UInt32)],
        previousIndex: (String) -> [String: StatRecord], content: (Manifest) throws -> Content,
        outcome: inout Outcome
    ) throws -> [String] {
        let findings = audit(release: id, manifest: manifest).map(\.description)
        guard !findings.isEmpty else { return [] }
        progress("repairing release \(id): \(findings.count) finding\(findings.count == 1 ? "" : "s")")
        let source = try content(manifest)
        let releases = try Directory.open(releasesDirectory)
        let temporary = ".tmp-\(id)-\(getpid())"
        do {
            try write(
                source, manifest: manifest, manifestBytes: manifestBytes, release: id, owners: owners,
                into: temporary, of: releases, previous: id, previousIndex: previousIndex, outcome: &outcome)
            try releases.exchange(temporary, id)
        } catch {
            try? releases.removeTree(temporary)
            throw error
        }
        // What was there (now under the temporary name) goes. The repair is done either way: what cannot be
        // removed now (an interruption, a file made immutable) is left to the next run's cleanLeftovers.
        do {
            try releases.removeTree(temporary)
        } catch {
            progress("the replaced copy stays as \(temporary) until the next install: \(error)")
        }
        return findings
    }

    /// Writes a release into the directory `name` of `releases` (the releases directory): every file's bytes checked against
    /// the manifest before they are written, unchanged files hard-linked from the previous release, then owners
    /// and modes applied. Every entry is made relative to a descriptor of its own directory, opened without
    /// following symlinks (the manifest puts every entry in a listed directory, never beneath a symlink), so
    /// nothing the bundle holds, and nothing a service account changes in the previous release, redirects a
    /// write out of the release.
    func write(
        _ content: some ReleaseContent, manifest: Manifest, manifestBytes: [UInt8], release: String,
        owners: [String: (UInt32, UInt32)], into name: String, of releases: Directory, previous: String?,
        previousIndex: (String) -> [String: StatRecord], outcome: inout Outcome
    ) throws {
        try content.check(against: manifest)
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
        // Unsafe, knowingly: each chunk writes only its own slots of `linked` (disjoint ranges), which the
        // compiler cannot see; a lock per slot would cost what the links cost.
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
}
