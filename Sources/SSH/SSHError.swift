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

/// Text a remote host sent, made safe to print and to store: control characters other than newline and tab
/// (terminal escapes among them: ESC, CSI, OSC) are shown as `\xNN`, so a hostile host cannot move the cursor,
/// retitle the operator's terminal or hide lines, in the output or later in `deploy history`.
public func printable(_ text: String) -> String {
    var out = ""
    out.reserveCapacity(text.utf8.count)
    for scalar in text.unicodeScalars {
        let v = scalar.value
        if (v < 0x20 && v != 0x0A && v != 0x09) || v == 0x7F || (0x80...0x9F).contains(v) {
            out += "\\x" + String(v, radix: 16, uppercase: true).leftPadded(to: 2)
        } else {
            out.unicodeScalars.append(scalar)
        }
    }
    return out
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        String(repeating: "0", count: max(0, width - count)) + self
    }
}
