import CGit2
import Glibc
import Synchronization
import TLS

/// https:// for libgit2 through Redeye's own TLS client (the system OpenSSL): this platform's libgit2 (1.5 on
/// mbedTLS) accepted a test server's certificate even when told to trust only an unrelated CA, so its built-in
/// TLS is never used. libgit2's stream registration is process-wide and its callbacks carry no payload, so the
/// fetch that opens a stream names, for its own thread, what it trusts; a stream opened on a thread that named
/// nothing is refused.
enum TLSStreams {
    /// What one fetch trusts, and the certificate refusal its streams met, if any (used on the fetch's thread only).
    final class Session: @unchecked Sendable {
        let trust: TLSTrust
        var certificateRefusal: String?
        init(trust: TLSTrust) { self.trust = trust }
    }

    private static let sessionByThread = Mutex<[pthread_t: Session]>([:])
    /// How long a connect, and each read or write, may take.
    static let timeout: Duration = .seconds(60)

    /// Runs `body` (a libgit2 call on this thread) with https trusting `trust`.
    static func with<R>(_ trust: TLSTrust, _ body: (Session) throws -> R) rethrows -> R {
        register()
        let thread = pthread_self()
        let session = Session(trust: trust)
        sessionByThread.withLock { $0[thread] = session }
        defer { _ = sessionByThread.withLock { $0.removeValue(forKey: thread) } }
        return try body(session)
    }

    /// Registers the stream with libgit2 (again: a libgit2 shutdown, when the last repository closes, may reset
    /// its registry).
    static func register() {
        var registration = git_stream_registration()
        registration.version = 1
        registration.`init` = { out, host, port in
            guard let out, let host else { return -1 }
            let name = String(cString: host)
            let number = port.flatMap { Int(String(cString: $0)) } ?? 443
            guard let session = TLSStreams.sessionByThread.withLock({ $0[pthread_self()] }) else {
                git_error_set_str(
                    Int32(GIT_ERROR_SSL.rawValue), "https to \(name) outside a redeye fetch: no trust configured")
                return -1
            }
            out.pointee = TLSStreamOwner.makeStream(host: name, port: number, session: session)
            return 0
        }
        registration.wrap = nil
        _ = git_stream_register(GIT_STREAM_TLS, &registration)
    }
}

/// The Swift side of one libgit2 TLS stream: the connection, and the certificate handed to libgit2.
final class TLSStreamOwner {
    let host: String
    let port: Int
    let session: TLSStreams.Session
    var client: TLSClient?
    var certificate: UnsafeMutablePointer<git_cert_x509>?
    var certificateBytes: UnsafeMutableBufferPointer<UInt8>?

    init(host: String, port: Int, session: TLSStreams.Session) {
        self.host = host
        self.port = port
        self.session = session
    }

    deinit {
        certificate?.deallocate()
        certificateBytes?.deallocate()
    }

    static func owner(_ stream: UnsafeMutablePointer<git_stream>?) -> TLSStreamOwner {
        let owned = UnsafeMutableRawPointer(stream!).assumingMemoryBound(to: cgit2_owned_stream.self)
        return Unmanaged<TLSStreamOwner>.fromOpaque(owned.pointee.owner).takeUnretainedValue()
    }

    static func fail(_ message: String) -> Int32 {
        git_error_set_str(Int32(GIT_ERROR_SSL.rawValue), message)
        return -1
    }

    static func makeStream(host: String, port: Int, session: TLSStreams.Session) -> UnsafeMutablePointer<git_stream> {
        let owned = UnsafeMutablePointer<cgit2_owned_stream>.allocate(capacity: 1)
        owned.initialize(to: cgit2_owned_stream())
        owned.pointee.owner = Unmanaged.passRetained(TLSStreamOwner(host: host, port: port, session: session))
            .toOpaque()
        owned.pointee.parent.version = 1
        owned.pointee.parent.encrypted = 1
        owned.pointee.parent.proxy_support = 0
        owned.pointee.parent.connect = { stream in
            let owner = TLSStreamOwner.owner(stream)
            do {
                owner.client = try TLSClient(
                    host: owner.host, port: owner.port, trust: owner.session.trust, timeout: TLSStreams.timeout)
                return 0
            } catch let error as TLSError {
                if error.kind == .certificate { owner.session.certificateRefusal = error.message }
                return TLSStreamOwner.fail(error.message)
            } catch {
                return TLSStreamOwner.fail("\(error)")
            }
        }
        owned.pointee.parent.certificate = { out, stream in
            let owner = TLSStreamOwner.owner(stream)
            guard let out, let client = owner.client else { return TLSStreamOwner.fail("not connected") }
            if owner.certificate == nil {
                let der = client.peerCertificate
                let bytes = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: max(1, der.count))
                _ = bytes.initialize(from: der)
                let certificate = UnsafeMutablePointer<git_cert_x509>.allocate(capacity: 1)
                certificate.initialize(
                    to: git_cert_x509(
                        parent: git_cert(cert_type: GIT_CERT_X509), data: UnsafeMutableRawPointer(bytes.baseAddress),
                        len: der.count))
                owner.certificateBytes = bytes
                owner.certificate = certificate
            }
            out.pointee = UnsafeMutableRawPointer(owner.certificate!).assumingMemoryBound(to: git_cert.self)
            return 0
        }
        owned.pointee.parent.read = { stream, buffer, length in
            let owner = TLSStreamOwner.owner(stream)
            guard let client = owner.client, let buffer else { return Int(TLSStreamOwner.fail("not connected")) }
            do {
                return try client.read(into: UnsafeMutableRawBufferPointer(start: buffer, count: length))
            } catch {
                return Int(TLSStreamOwner.fail("\(error)"))
            }
        }
        owned.pointee.parent.write = { stream, data, length, _ in
            let owner = TLSStreamOwner.owner(stream)
            guard let client = owner.client, let data else { return Int(TLSStreamOwner.fail("not connected")) }
            do {
                try client.write(UnsafeRawBufferPointer(start: data, count: length))
                return length
            } catch {
                return Int(TLSStreamOwner.fail("\(error)"))
            }
        }
        owned.pointee.parent.close = { stream in
            TLSStreamOwner.owner(stream).client?.close()
            return 0
        }
        owned.pointee.parent.free = { stream in
            guard let stream else { return }
            let owned = UnsafeMutableRawPointer(stream).assumingMemoryBound(to: cgit2_owned_stream.self)
            Unmanaged<TLSStreamOwner>.fromOpaque(owned.pointee.owner).release()
            owned.deinitialize(count: 1)
            owned.deallocate()
        }
        return UnsafeMutableRawPointer(owned).assumingMemoryBound(to: git_stream.self)
    }
}
