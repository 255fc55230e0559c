import CGit2
import Glibc

/// How to reach a remote over SSH: which host keys to trust and how to authenticate.
public struct SSHTransport: Sendable {
    /// Decides whether `key` (SSH wire format) is the right key for `host` on `port`; a reason when not.
    public var checkHostKey: @Sendable (_ host: String, _ port: Int, _ key: [UInt8]) -> String?
    /// A private key file (its public key at `PATH.pub`), or nil to use ssh-agent.
    public var privateKey: String?

    public init(checkHostKey: @escaping @Sendable (String, Int, [UInt8]) -> String?, privateKey: String?) {
        self.checkHostKey = checkHostKey
        self.privateKey = privateKey
    }
}

/// State the C callbacks of one fetch share, passed through libgit2's payload pointer.
final class FetchContext {
    let transport: SSHTransport?
    let port: Int
    let limit: Int
    var credentialAttempts = 0
    var refusal: String?
    var refusalKind: GitError.Refusal = .hostKey

    init(transport: SSHTransport?, port: Int, limit: Int) {
        self.transport = transport
        self.port = port
        self.limit = limit
    }
}

extension Repository {
    /// Fetches every branch and tag of `url` (a path, file://, ssh:// or https:// URL) into this repository.
    /// Over SSH the server's key must pass `ssh.checkHostKey`; without `ssh`, SSH remotes are refused. A remote
    /// that sends more than `limit` bytes is cut off: nothing unverified is read without a bound.
    public func fetchAll(from url: String, ssh: SSHTransport?, limit: Int) throws(GitError) {
        var remote: OpaquePointer?
        try check(git_remote_create_anonymous(&remote, handle, url), "open remote \(url)")
        defer { git_remote_free(remote) }
        let context = FetchContext(transport: ssh, port: Repository.sshPort(url), limit: limit)
        var options = git_fetch_options()
        git_fetch_options_init(&options, UInt32(GIT_FETCH_OPTIONS_VERSION))
        options.download_tags = GIT_REMOTE_DOWNLOAD_TAGS_ALL
        options.callbacks.payload = Unmanaged.passUnretained(context).toOpaque()
        options.callbacks.certificate_check = { cert, _, host, payload in
            let context = Unmanaged<FetchContext>.fromOpaque(payload!).takeUnretainedValue()
            guard let cert, cert.pointee.cert_type == GIT_CERT_HOSTKEY_LIBSSH2 else {
                return 1  // not SSH: let libgit2 apply its own TLS verification
            }
            let hostkey = UnsafeMutableRawPointer(cert).assumingMemoryBound(to: git_cert_hostkey.self).pointee
            guard hostkey.type.rawValue & GIT_CERT_SSH_RAW.rawValue != 0, let raw = hostkey.hostkey else {
                context.refusal = "the server's host key could not be read"
                return GIT_ECERTIFICATE.rawValue
            }
            let key = Array(UnsafeRawBufferPointer(start: raw, count: hostkey.hostkey_len))
            let name = host.map { String(cString: $0) } ?? ""
            guard let transport = context.transport else {
                context.refusal = "no known_hosts to check \(name)'s host key against"
                return GIT_ECERTIFICATE.rawValue
            }
            if let reason = transport.checkHostKey(name, context.port, key) {
                context.refusal = reason
                return GIT_ECERTIFICATE.rawValue
            }
            return 0
        }
        options.callbacks.transfer_progress = { stats, payload in
            let context = Unmanaged<FetchContext>.fromOpaque(payload!).takeUnretainedValue()
            guard let stats, stats.pointee.received_bytes <= context.limit else {
                context.refusal = "the remote sent more than \(context.limit) bytes; stopped"
                context.refusalKind = .tooLarge
                return GIT_EUSER.rawValue
            }
            return 0
        }
        options.callbacks.credentials = { out, _, userFromURL, _, payload in
            let context = Unmanaged<FetchContext>.fromOpaque(payload!).takeUnretainedValue()
            context.credentialAttempts += 1
            guard context.credentialAttempts <= 3 else {
                context.refusal = "the server refused every key offered"
                context.refusalKind = .credentials
                return GIT_EUSER.rawValue
            }
            let user = userFromURL.map { String(cString: $0) } ?? String(cString: getpwuid(getuid()).pointee.pw_name)
            if let key = context.transport?.privateKey {
                return git_credential_ssh_key_new(out, user, key + ".pub", key, nil)
            }
            return git_credential_ssh_key_from_agent(out, user)
        }
        let specs = ["+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"]
        var cStrings = specs.map { strdup($0) }
        defer { cStrings.forEach { free($0) } }
        let code = withExtendedLifetime(context) {
            cStrings.withUnsafeMutableBufferPointer { buffer -> Int32 in
                var array = git_strarray(strings: buffer.baseAddress, count: buffer.count)
                return git_remote_fetch(remote, &array, &options, "redeye fetch")
            }
        }
        if code < 0, let refusal = context.refusal {
            throw GitError(
                code: code, errorClass: 0, message: refusal, operation: "fetch \(url)", refusal: context.refusalKind)
        }
        try check(code, "fetch \(url)")
    }

    /// The port of an ssh:// URL (22 unless given).
    static func sshPort(_ url: String) -> Int {
        guard url.hasPrefix("ssh://") else { return 22 }
        let authority = url.dropFirst("ssh://".count).prefix { $0 != "/" }
        let hostPart = authority.split(separator: "@").last ?? authority
        if let colon = hostPart.lastIndex(of: ":"), let port = Int(hostPart[hostPart.index(after: colon)...]) {
            return port
        }
        return 22
    }
}
