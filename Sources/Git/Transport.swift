import CGit2
import Glibc
import TLS
import Text

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

/// How to reach a remote over https://: which certificates to trust and the token to authenticate with.
public struct HTTPSTransport: Sendable {
    public var trust: TLSTrust
    /// A token (a personal access token, a deploy token) sent as the password of HTTP basic authentication when
    /// the server asks; never put in a URL.
    public var token: String?
    /// The user name sent with the token when the URL names none (GitHub, GitLab and Gitea accept any).
    public var tokenUser: String

    public init(trust: TLSTrust = TLSTrust(), token: String? = nil, tokenUser: String = "x-access-token") {
        self.trust = trust
        self.token = token
        self.tokenUser = tokenUser
    }

    /// With the token read from `tokenFile` (its first line, at most 4 KiB; a missing file is an error).
    public init(trust: TLSTrust, tokenFile: String) throws(GitError) {
        let fd = open(tokenFile, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK)
        guard fd >= 0 else {
            throw GitError(
                code: -1, errorClass: 0,
                message: "cannot read the token file \(tokenFile): \(String(cString: strerror(errno)))",
                operation: "read \(tokenFile)")
        }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = read(fd, &buffer, buffer.count)
        let text = String(decoding: buffer.prefix(max(0, count)), as: UTF8.self)
        let token = text.split(whereSeparator: \.isNewline).first.map {
            $0.trimmedSpaces()
        }
        guard let token, !token.isEmpty else {
            throw GitError(
                code: -1, errorClass: 0, message: "the token file \(tokenFile) is empty", operation: "read \(tokenFile)"
            )
        }
        self.init(trust: trust, token: token)
    }
}

/// State the C callbacks of one fetch share, passed through libgit2's payload pointer.
final class FetchContext {
    let transport: SSHTransport?
    let https: HTTPSTransport
    let port: Int
    let limit: Int
    var credentialAttempts = 0
    var refusal: String?
    var refusalKind: GitError.Refusal = .hostKey

    init(transport: SSHTransport?, https: HTTPSTransport, port: Int, limit: Int) {
        self.transport = transport
        self.https = https
        self.port = port
        self.limit = limit
    }
}

extension Repository {
    /// Fetches every branch and tag of `url` (a path, file://, ssh:// or https:// URL) into this repository.
    /// Over SSH the server's key must pass `ssh.checkHostKey`; without `ssh`, SSH remotes are refused. Over
    /// https the server's certificate must verify against `https.trust` for the URL's host (Redeye's TLS stream,
    /// never libgit2's own); plain http:// is refused. A remote that sends more than `limit` bytes is cut off:
    /// nothing unverified is read without a bound.
    public func fetchAll(
        from url: String, ssh: SSHTransport?, https: HTTPSTransport = HTTPSTransport(), limit: Int
    ) throws(GitError) {
        if url.lowercased().hasPrefix("http://") {
            throw GitError(
                code: -1, errorClass: 0,
                message: "plain http:// is refused: use https:// (the server's certificate is checked) or ssh://",
                operation: "fetch \(url)", refusal: .certificate)
        }
        var remote: OpaquePointer?
        try check(git_remote_create_anonymous(&remote, handle, url), "open remote \(url)")
        defer { git_remote_free(remote) }
        let context = FetchContext(transport: ssh, https: https, port: Repository.sshPort(url), limit: limit)
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
        options.callbacks.credentials = { out, _, userFromURL, allowed, payload in
            let context = Unmanaged<FetchContext>.fromOpaque(payload!).takeUnretainedValue()
            context.credentialAttempts += 1
            if allowed & GIT_CREDENTIAL_USERPASS_PLAINTEXT.rawValue != 0 {
                guard let token = context.https.token else {
                    context.refusal =
                        "the server asks for credentials: give a token (--token-file, or REDEYE_GIT_TOKEN)"
                    context.refusalKind = .credentials
                    return GIT_EUSER.rawValue
                }
                guard context.credentialAttempts == 1 else {
                    context.refusal = "the server refused the token"
                    context.refusalKind = .credentials
                    return GIT_EUSER.rawValue
                }
                let user = userFromURL.map { String(cString: $0) } ?? context.https.tokenUser
                return git_credential_userpass_plaintext_new(out, user, token)
            }
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
        let (code, certificateRefusal) = TLSStreams.with(https.trust) { session in
            let code = withExtendedLifetime(context) {
                cStrings.withUnsafeMutableBufferPointer { buffer -> Int32 in
                    var array = git_strarray(strings: buffer.baseAddress, count: buffer.count)
                    return git_remote_fetch(remote, &array, &options, "redeye fetch")
                }
            }
            return (code, session.certificateRefusal)
        }
        if code < 0, let certificateRefusal {
            throw GitError(
                code: code, errorClass: 0, message: certificateRefusal, operation: "fetch \(url)",
                refusal: .certificate)
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
