import CSSH2

/// A libssh2 failure: its error code and message, and what we were doing.
public struct SSHError: Error, Sendable, CustomStringConvertible {
    public var code: Int32
    public var message: String
    public var operation: String

    public var description: String { "\(operation): \(message) (libssh2 error \(code))" }

    /// Reads the session's last error (libssh2 keeps the message buffer; it is copied here).
    static func last(_ session: OpaquePointer?, _ code: Int32, _ operation: String) -> SSHError {
        var buffer: UnsafeMutablePointer<CChar>?
        var length: Int32 = 0
        let lastCode = session.map { libssh2_session_last_error($0, &buffer, &length, 0) } ?? code
        let message = buffer.map { String(cString: $0) } ?? "unknown error"
        return SSHError(code: lastCode != 0 ? lastCode : code, message: message, operation: operation)
    }
}
