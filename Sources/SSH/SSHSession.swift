import CSSH2

/// libssh2's global state. `libssh2_init` is not thread-safe: it runs once, from a static initializer.
enum SSHRuntime {
    static let initialized: Int32 = libssh2_init(0)
}

/// An SSH session handle, owning its `LIBSSH2_SESSION` (transport, authentication and channels are added
/// by the deploy capability that uses them).
public final class SSHSession {
    let handle: OpaquePointer

    public init() throws(SSHError) {
        guard SSHRuntime.initialized == 0 else {
            throw SSHError(
                code: SSHRuntime.initialized, message: "libssh2_init failed", operation: "initialize libssh2")
        }
        guard let session = cssh2_session_init() else {
            throw SSHError(code: -1, message: "out of memory", operation: "create SSH session")
        }
        handle = session
    }

    deinit { libssh2_session_free(handle) }

    /// The linked libssh2's version, e.g. "1.10.0".
    public static var libraryVersion: String {
        libssh2_version(0).map { String(cString: $0) } ?? "unknown"
    }

    /// Key-exchange, host-key or cipher algorithms this libssh2 supports (`LIBSSH2_METHOD_*`).
    public func supportedAlgorithms(_ method: Int32) throws(SSHError) -> [String] {
        var list: UnsafeMutablePointer<UnsafePointer<CChar>?>?
        let count = libssh2_session_supported_algs(handle, method, &list)
        guard count >= 0, let list else { throw SSHError.last(handle, count, "list supported algorithms") }
        defer { libssh2_free(handle, list) }
        return (0..<Int(count)).compactMap { list[$0].map { String(cString: $0) } }
    }
}
