import CTLS
import FileSystem
import Glibc
import Net

/// Which certificates a TLS client trusts.
public struct TLSTrust: Sendable, Hashable {
    /// A PEM file of CA certificates to trust instead of the system store (a private CA), or nil for the system
    /// store (/etc/ssl/certs).
    public var caFile: String?
    /// False only where the plans say `tls_skip_verify` (a health check of a host with a self-made
    /// certificate): the connection is encrypted, but the server is not authenticated.
    public var verify: Bool

    public init(caFile: String? = nil, verify: Bool = true) {
        self.caFile = caFile
        self.verify = verify
    }
}

/// Why a TLS connection failed; `.certificate` when the server could not prove who it is.
public struct TLSError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// The connection itself (resolve, connect, a read or write).
        case connection
        /// The server's certificate did not verify: unknown CA, wrong host, expired, self-signed.
        case certificate
        /// The TLS handshake or protocol failed otherwise (no common version, a malformed message).
        case handshake
        /// The trust configuration cannot be used (an unreadable CA file).
        case configuration
    }

    public var kind: Kind
    public var message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }

    /// OpenSSL's queued errors as one line (and the queue cleared), or `fallback` when there are none.
    static func drainOpenSSL(_ fallback: String) -> String {
        var parts: [String] = []
        while case let code = ERR_get_error(), code != 0 {
            var buffer = [UInt8](repeating: 0, count: 256)
            buffer.withUnsafeMutableBufferPointer { raw in
                raw.baseAddress!.withMemoryRebound(to: CChar.self, capacity: raw.count) {
                    ERR_error_string_n(code, $0, raw.count)
                }
            }
            parts.append(String(decoding: buffer.prefix { $0 != 0 }, as: UTF8.self))
        }
        return parts.isEmpty ? fallback : parts.joined(separator: "; ")
    }
}

/// One TLS client connection over a TCP socket, built on the system OpenSSL: TLS 1.2 or later, the server's
/// certificate verified against `trust` and its name or address checked against the host asked for, before any
/// byte is exchanged. Owns its SSL_CTX, its SSL and the socket.
public final class TLSClient {
    public let host: String
    public let port: Int
    private let context: OpaquePointer
    private let ssl: OpaquePointer
    private let socket: Int32
    private var closed = false

    /// Connects, handshakes and verifies; throws `.certificate` with the reason when the server is not who
    /// `host` names. `timeout` bounds the connect and every later read and write.
    public init(host: String, port: Int, trust: TLSTrust, timeout: Duration) throws(TLSError) {
        self.host = host
        self.port = port
        guard let context = SSL_CTX_new(TLS_client_method()) else {
            throw TLSError(.configuration, TLSError.drainOpenSSL("cannot create a TLS context"))
        }
        guard ctls_set_min_tls12(context) == 1 else {
            SSL_CTX_free(context)
            throw TLSError(.configuration, TLSError.drainOpenSSL("cannot require TLS 1.2"))
        }
        let loaded: Int32
        if !trust.verify {
            loaded = 1
        } else if let caFile = trust.caFile {
            loaded = SSL_CTX_load_verify_locations(context, caFile, nil)
        } else {
            loaded = SSL_CTX_set_default_verify_paths(context)
        }
        guard loaded == 1 else {
            let reason = TLSError.drainOpenSSL("no certificates")
            SSL_CTX_free(context)
            throw TLSError(
                .configuration,
                trust.caFile.map { "cannot read the CA file \($0): \(reason)" }
                    ?? "cannot read the system CA store: \(reason)")
        }
        SSL_CTX_set_verify(context, trust.verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, nil)
        let fd: Int32
        do {
            fd = try TCP.connect(host: host, port: port, timeout: timeout)
        } catch {
            SSL_CTX_free(context)
            throw TLSError(.connection, error.description)
        }
        let ms = max(1, timeout.wholeMilliseconds)
        var limit = timeval(tv_sec: Int(ms / 1000), tv_usec: Int(ms % 1000) * 1000)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
        guard let ssl = SSL_new(context) else {
            Glibc.close(fd)
            SSL_CTX_free(context)
            throw TLSError(.configuration, TLSError.drainOpenSSL("cannot create a TLS connection"))
        }
        self.context = context
        self.ssl = ssl
        self.socket = fd
        // The name to verify: an address is matched against the certificate's IP entries, a name against its
        // DNS entries (and sent as SNI, which is for names only).
        let bare = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        let isAddress = Self.isIPAddress(bare)
        let parameters = SSL_get0_param(ssl)
        let named =
            !trust.verify
            ? 1
            : isAddress
                ? X509_VERIFY_PARAM_set1_ip_asc(parameters, bare) : X509_VERIFY_PARAM_set1_host(parameters, bare, 0)
        guard named == 1, SSL_set_fd(ssl, fd) == 1, isAddress || ctls_set_server_name(ssl, bare) == 1 else {
            let reason = TLSError.drainOpenSSL("cannot set up the connection")
            release()
            throw TLSError(.configuration, "\(host): \(reason)")
        }
        ERR_clear_error()
        guard SSL_connect(ssl) == 1 else {
            let verify = SSL_get_verify_result(ssl)
            let queued = TLSError.drainOpenSSL("the handshake failed")
            let error: TLSError
            if verify != X509_V_OK {
                let subject = Self.peerIssuer(ssl)
                error = TLSError(
                    .certificate,
                    "the certificate of \(host):\(port) is not trusted: \(String(cString: X509_verify_cert_error_string(verify)))"
                        + Self.hint(Int32(verify), caFile: trust.caFile) + (subject.map { " (issued by \($0))" } ?? ""))
            } else if errno == EAGAIN || errno == ETIMEDOUT {
                error = TLSError(.connection, "\(host):\(port): no TLS answer within \(timeout)")
            } else {
                error = TLSError(.handshake, "TLS handshake with \(host):\(port) failed: \(queued)")
            }
            release()
            throw error
        }
    }

    deinit { release() }

    /// The server's certificate, DER-encoded (empty if it sent none, which verification forbids).
    public var peerCertificate: [UInt8] {
        guard let certificate = SSL_get1_peer_certificate(ssl) else { return [] }
        defer { X509_free(certificate) }
        var buffer: UnsafeMutablePointer<UInt8>?
        let length = i2d_X509(certificate, &buffer)
        guard length > 0, let buffer else { return [] }
        defer { CRYPTO_free(buffer, #fileID, #line) }
        return Array(UnsafeBufferPointer(start: buffer, count: Int(length)))
    }

    /// Reads at most `buffer.count` bytes; 0 at the end of the stream.
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws(TLSError) -> Int {
        guard !closed, buffer.count > 0 else { return 0 }
        var read = 0
        ERR_clear_error()
        if SSL_read_ex(ssl, buffer.baseAddress, buffer.count, &read) == 1 { return read }
        let code = SSL_get_error(ssl, 0)
        if code == SSL_ERROR_ZERO_RETURN { return 0 }
        throw TLSError(.connection, ioFailure("read from", code))
    }

    /// Writes all of `bytes`.
    public func write(_ bytes: UnsafeRawBufferPointer) throws(TLSError) {
        var offset = 0
        while offset < bytes.count {
            var written = 0
            ERR_clear_error()
            guard SSL_write_ex(ssl, bytes.baseAddress! + offset, bytes.count - offset, &written) == 1 else {
                throw TLSError(.connection, ioFailure("write to", SSL_get_error(ssl, 0)))
            }
            offset += written
        }
    }

    /// Sends close_notify and closes the socket; later reads return 0.
    public func close() {
        guard !closed else { return }
        closed = true
        _ = SSL_shutdown(ssl)
        Glibc.shutdown(socket, Int32(SHUT_RDWR))
    }

    private func ioFailure(_ what: String, _ code: Int32) -> String {
        if code == SSL_ERROR_SYSCALL || code == SSL_ERROR_WANT_READ || code == SSL_ERROR_WANT_WRITE {
            let reason = errno == EAGAIN || errno == EWOULDBLOCK ? "timed out" : SystemError.describe(errno)
            return "\(what) \(host):\(port): \(reason)"
        }
        return "\(what) \(host):\(port): \(TLSError.drainOpenSSL("TLS error \(code)"))"
    }

    private var released = false
    private func release() {
        guard !released else { return }
        released = true
        SSL_free(ssl)
        SSL_CTX_free(context)
        Glibc.close(socket)
    }

    /// Whether `text` is an IPv4 or IPv6 literal (checked against an IP SAN, never sent as SNI).
    public static func isIPAddress(_ text: String) -> Bool {
        var v4 = in_addr()
        var v6 = in6_addr()
        return inet_pton(AF_INET, text, &v4) == 1 || inet_pton(AF_INET6, text, &v6) == 1
    }

    /// The peer certificate's issuer, one line, when the server sent one.
    static func peerIssuer(_ ssl: OpaquePointer) -> String? {
        guard let certificate = SSL_get1_peer_certificate(ssl) else { return nil }
        defer { X509_free(certificate) }
        guard let name = X509_get_issuer_name(certificate), let line = X509_NAME_oneline(name, nil, 0) else {
            return nil
        }
        defer { CRYPTO_free(line, #fileID, #line) }
        return String(cString: line)
    }

    /// What to do about a verification failure, in a few words.
    static func hint(_ code: Int32, caFile: String?) -> String {
        switch code {
        case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY, X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
            return caFile == nil
                ? "; its CA is not in the system store (a private CA goes in --ca-file)"
                : "; its CA is not in \(caFile!)"
        case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT, X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
            return "; a self-signed certificate is trusted only through --ca-file"
        case X509_V_ERR_HOSTNAME_MISMATCH, X509_V_ERR_IP_ADDRESS_MISMATCH:
            return "; the certificate is for another host"
        case X509_V_ERR_CERT_HAS_EXPIRED, X509_V_ERR_CERT_NOT_YET_VALID:
            return "; check the server's certificate dates and this machine's clock"
        default:
            return ""
        }
    }
}
