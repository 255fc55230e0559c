import Glibc

/// Where everything lives under an install root, for the installer, the services it starts and the deploy
/// that drives it from another machine (which reads the same names over SFTP):
///
/// ```
/// ROOT/current -> releases/<id>     the running release (id: the commit's first 12 hex digits)
/// ROOT/releases/<id>/…              one directory per release
/// ROOT/.redeye/                     release records, stat indexes, locks, staged content, the run command's pid
/// ```
public struct InstallLayout: Sendable, Equatable {
    /// The install root as the host sees it, e.g. `/opt/web`.
    public var root: String
    /// The install root on this machine's file system: `prefix` + `root` (`prefix` is `/` on a real host, a
    /// test or image directory otherwise).
    public var base: String

    /// Where the host's file system starts on this machine, without a trailing slash ("" for `/`).
    public var prefix: String

    public init(root: String, prefix: String = "/") {
        self.root = root
        let p = prefix.hasSuffix("/") ? String(prefix.dropLast()) : prefix
        self.prefix = p
        base = p + (root.hasPrefix("/") ? root : "/" + root)
    }

    /// `path` (absolute, as the host sees it) on this machine's file system.
    public func host(_ path: String) -> String { prefix + path }

    public var current: String { base + "/current" }
    public var releases: String { base + "/releases" }
    public func release(_ id: String) -> String { releases + "/" + id }
    public var state: String { base + "/.redeye" }
    public var releaseRecords: String { state + "/releases.json" }
    public func statIndex(_ id: String) -> String { state + "/index-\(id).tsv" }
    /// The installer's lock (flock), one install at a time per root.
    public var installLock: String { state + "/lock" }
    /// The deploy's lock (a file created exclusively over SFTP, naming the deployment).
    public var deployLock: String { state + "/deploy.lock" }
    /// Where deploys stage content the host lacks, one directory per deployment.
    public var incoming: String { state + "/incoming" }
    public func staging(deployment: Int64) -> String { incoming + "/deploy-\(deployment)" }
    public var runPID: String { state + "/run.pid" }
    public var runLog: String { state + "/run.log" }

    /// What `current` points to for release `id`.
    public static func currentLink(to id: String) -> String { "releases/" + id }

    /// The release a `current` link's text names, or nil when it names none Redeye makes: the one reader of
    /// "which release is current", for a local readlink and an SFTP one alike.
    public static func releaseID(currentLink link: String) -> String? {
        guard link.hasPrefix("releases/") else { return nil }
        let id = String(link.dropFirst("releases/".count))
        return isReleaseID(id) ? id : nil
    }

    /// A release id as the installer makes them: a commit's first 12 hex digits. Anything else (in records, in
    /// a link) is never used as a path.
    public static func isReleaseID(_ id: String) -> Bool {
        id.utf8.count == 12 && id.utf8.allSatisfy { ($0 >= 48 && $0 <= 57) || ($0 >= 97 && $0 <= 102) }
    }

    /// The current release on this machine.
    public func currentRelease() -> String? {
        var buffer = [CChar](repeating: 0, count: 4096)
        let n = readlink(current, &buffer, buffer.count - 1)
        guard n > 0 else { return nil }
        return Self.releaseID(
            currentLink: String(decoding: buffer.prefix(n).map { UInt8(bitPattern: $0) }, as: UTF8.self))
    }
}
