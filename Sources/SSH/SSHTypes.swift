import CSSH2
import FoundationEssentials
import Glibc
import Net

/// How a connection proves who it is: a private key file (its public key beside it as `PATH.pub`, or none), or
/// the keys of an ssh-agent.
public enum SSHAuthentication: Sendable, Equatable {
    case keyFile(String)
    /// The agent listening on `socket`, or on `$SSH_AUTH_SOCK` when nil.
    case agent(socket: String?)
}

/// Decides which host keys are trusted: strict checking against OpenSSH known_hosts files (plain and hashed
/// entries, `[host]:port`). An unknown or changed key is refused with a sentence saying which and why.
public struct HostKeyPolicy: Sendable {
    public var files: [String]

    public init(files: [String] = KnownHosts.defaultFiles) {
        self.files = files
    }

    /// nil when `key` (SSH wire format) is the trusted key of `host`:`port`, else the reason for refusing it.
    public func refusal(host: String, port: Int, key: [UInt8]) -> String? {
        let place = port == 22 ? host : "[\(host)]:\(port)"
        let known: KnownHosts
        do {
            known = try KnownHosts(files: files)
        } catch {
            return "cannot read known_hosts: \(error)"
        }
        switch known.check(host: host, port: port, key: key) {
        case .trusted: return nil
        case .mismatch:
            return
                "the host key of \(place) does not match \(known.files.joined(separator: ", ")): refusing to connect (the key changed, or someone is in the way)"
        case .unknown:
            let searched = known.files.isEmpty ? files : known.files
            return
                "\(place) is not in \(searched.joined(separator: ", ")): refusing an unknown host key (add the host's key after checking it)"
        }
    }
}

/// What a remote command did.
public struct RemoteResult: Sendable {
    public var status: Int32
    public var stdout: [UInt8]
    public var stderr: [UInt8]
    /// The signal that ended it, if one did (e.g. "KILL").
    public var signal: String?

    public var output: String { String(decoding: stdout, as: UTF8.self) }
    public var errorOutput: String { String(decoding: stderr, as: UTF8.self) }
}
