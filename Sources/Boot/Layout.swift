import FileSystem
import FoundationEssentials
import Git
import Glibc
import TLS
import Text

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
    /// CA certificates (PEM) that https:// plans and bundle servers are checked against, instead of the system
    /// store (which a netboot image does not have).
    public var caFile: String { path("/etc/redeye/ca.pem") }
    /// A token for https:// git servers that ask for one (sent as basic authentication).
    public var gitToken: String { path("/etc/redeye/git.token") }
    /// The oldest plans commit time (seconds since 1970) a host of this image trusts, when set: a fresh host
    /// has no record of a newer trusted commit, and would otherwise take any old signed one.
    public var plansNotBefore: String { path("/etc/redeye/plans.not-before") }
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

/// Writes `data` to `path` atomically (`Directory.writeAtomically`: a temporary file with a random name, created
/// exclusively and never through a symlink, flushed and renamed over), creating the directory when needed.
/// Whoever owns the directory (a Consul or Prometheus account) cannot make it write anywhere else.
func writeAtomically(_ data: Data, to path: String, mode: mode_t = 0o644) throws(BootError) {
    let directory = deletingLastPathComponent(path)
    do {
        try Directory.open(directory, create: 0o755).writeAtomically(
            lastPathComponent(path), Array(data), mode: mode)
    } catch {
        throw BootError(step: .write, "\(error)")
    }
}

extension BootLayout {
    /// The trust root's CA file when it has one, else the system store.
    var tlsTrust: TLSTrust {
        TLSTrust(caFile: FileManager.default.fileExists(atPath: caFile) ? caFile : nil)
    }

    /// How the agent reaches `url` when it is https://: `tlsTrust`, and the trust root's git token when it has
    /// one. A token file that is there but cannot be read, or is empty, is an error for `step`: the image's
    /// author meant a token, and a fetch without it would fail later with a less clear "401".
    func https(for url: String, step: BootStep) throws(BootError) -> HTTPSTransport {
        guard url.hasPrefix("https://"), FileManager.default.fileExists(atPath: gitToken) else {
            return HTTPSTransport(trust: tlsTrust)
        }
        do {
            return try HTTPSTransport(trust: tlsTrust, tokenFile: gitToken)
        } catch {
            throw BootError(step: step, "the trust root's git token: \(error.message)")
        }
    }
}
