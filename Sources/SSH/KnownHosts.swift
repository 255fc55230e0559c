import CSSH2
import FileSystem
import FoundationEssentials
import Glibc

/// The host keys this machine trusts, from OpenSSH known_hosts files (plain and hashed entries,
/// `[host]:port` for other ports), read through libssh2.
public final class KnownHosts {
    private let session: SSHSession
    private let hosts: OpaquePointer
    public let files: [String]

    public enum Verdict: Sendable, Equatable {
        case trusted
        /// The host is known with another key: possibly an attack.
        case mismatch
        /// The host is in no known_hosts file.
        case unknown
    }

    /// Reads the given files; missing files are skipped, unreadable or malformed ones are errors.
    public init(files: [String]) throws(SSHError) {
        session = try SSHSession()
        guard let hosts = libssh2_knownhost_init(session.handle) else {
            throw SSHError.last(session.handle, -1, "create the known-hosts collection")
        }
        self.hosts = hosts
        var read: [String] = []
        for file in files where FileManager.default.fileExists(atPath: file) {
            let code = libssh2_knownhost_readfile(hosts, file, LIBSSH2_KNOWNHOST_FILE_OPENSSH)
            guard code >= 0 else {
                libssh2_knownhost_free(hosts)
                throw SSHError.last(session.handle, code, "read known hosts from \(file)")
            }
            read.append(file)
        }
        self.files = read
    }

    deinit { libssh2_knownhost_free(hosts) }

    /// The default files: `~/.ssh/known_hosts` and `/etc/ssh/ssh_known_hosts`.
    public static var defaultFiles: [String] {
        [userHomeDirectory() + "/.ssh/known_hosts", "/etc/ssh/ssh_known_hosts"]
    }

    /// Checks a host's raw key blob (SSH wire format) for `host` on `port`.
    public func check(host: String, port: Int, key: [UInt8]) -> Verdict {
        let result = key.withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) {
                cssh2_knownhost_check(hosts, host, Int32(port), $0.baseAddress, $0.count)
            }
        }
        switch result {
        case LIBSSH2_KNOWNHOST_CHECK_MATCH: return .trusted
        case LIBSSH2_KNOWNHOST_CHECK_MISMATCH: return .mismatch
        default: return .unknown
        }
    }
}
