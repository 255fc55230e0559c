import Foundation

/// Where the agent reads and writes on the host: every path is under `root` (`/` on a real host, a temporary
/// directory in tests), except the kernel's views, which have their own paths.
public struct BootLayout: Sendable {
    /// The host's file system root, without a trailing slash ("" for `/`).
    public var root: String
    /// Where sysfs is mounted (`/sys`).
    public var sysfs: String
    /// The kernel command line (`/proc/cmdline`).
    public var cmdline: String

    public init(root: String, sysfs: String = "/sys", cmdline: String = "/proc/cmdline") {
        var root = root
        while root.hasSuffix("/") { root.removeLast() }
        self.root = root
        self.sysfs = sysfs
        self.cmdline = cmdline
    }

    /// `path` (absolute, as on the host) under the root.
    public func path(_ path: String) -> String { root + path }

    /// The image's trust root: keys allowed to sign plans commits.
    public var allowedSigners: String { path("/etc/redeye/allowed_signers") }
    /// Host keys of the servers the agent fetches from over SSH.
    public var knownHosts: String { path("/etc/redeye/known_hosts") }
    /// The key the agent authenticates with to SSH remotes (its `.pub` beside it).
    public var sshKey: String { path("/etc/redeye/id_ed25519") }
    /// The image's default plans URL, the last fallback.
    public var imageDefaultURL: String { path("/etc/redeye/plans.url") }
    public var resolvConf: String { path("/etc/resolv.conf") }
    public var stateDirectory: String { path("/var/lib/redeye") }
    /// The fetched plans repository (bare).
    public var plansCache: String { stateDirectory + "/plans.git" }
    /// The newest plans commit this host trusted: older signed commits are refused as replays.
    public var trustedPlans: String { stateDirectory + "/trusted-plans" }
    public var statusFile: String { path("/run/redeye/status.json") }
}

/// Writes `data` to `path` by writing a temporary file beside it and renaming it over (readers never see a
/// half-written file), creating the directory when needed.
func writeAtomically(_ data: Data, to path: String, mode: mode_t = 0o644) throws(BootError) {
    let directory = (path as NSString).deletingLastPathComponent
    do {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    } catch {
        throw BootError(step: "write", "cannot create \(directory): \(error.localizedDescription)")
    }
    let temporary = directory + "/." + (path as NSString).lastPathComponent + ".\(getpid()).tmp"
    let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
    guard fd >= 0 else {
        throw BootError(step: "write", "cannot write \(temporary): \(String(cString: strerror(errno)))")
    }
    var written = 0
    let ok = data.withUnsafeBytes { buffer -> Bool in
        while written < buffer.count {
            let n = write(fd, buffer.baseAddress! + written, buffer.count - written)
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return false }
            written += n
        }
        return fsync(fd) == 0
    }
    let error = errno
    fchmod(fd, mode)
    close(fd)
    guard ok else {
        unlink(temporary)
        throw BootError(step: "write", "cannot write \(path): \(String(cString: strerror(error)))")
    }
    guard rename(temporary, path) == 0 else {
        let message = String(cString: strerror(errno))
        unlink(temporary)
        throw BootError(step: "write", "cannot rename \(temporary) over \(path): \(message)")
    }
}
