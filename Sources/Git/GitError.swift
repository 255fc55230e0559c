import CGit2

/// A libgit2 failure: the return code, libgit2's error class and its message.
public struct GitError: Error, Sendable, CustomStringConvertible {
    public var code: Int32
    public var errorClass: Int32
    public var message: String
    /// What we were doing, e.g. "open repository /srv/plans.git".
    public var operation: String
    /// Why Redeye's own callback stopped the operation (a host key refused, a size bound passed), when it did:
    /// the remote is not to be trusted, and trying again does not help.
    public var refusal: Refusal?

    public enum Refusal: Sendable {
        case hostKey, tooLarge, credentials
        /// An https server whose certificate did not verify (or plain http, which has none).
        case certificate
    }

    public var description: String { "\(operation): \(message) (libgit2 error \(code))" }

    /// What kind of failure it is, for callers that decide by it (retry, refuse, report).
    public enum Cause: Sendable, Equatable {
        /// Redeye's own callback stopped it (a host key refused, a size bound passed, every key refused).
        case refused(Refusal)
        /// There is no repository (or no such object) where it was looked for.
        case notFound
        /// Anything else: the network, the server, the disk.
        case other
    }

    public var cause: Cause {
        if let refusal { return .refused(refusal) }
        if code == GIT_ENOTFOUND.rawValue { return .notFound }
        // Servers say so in words only (git-upload-pack's message, relayed by libgit2 with a generic code).
        let missing = ["not appear to be a git repository", "not found", "does not exist", "No such file"]
        return missing.contains(where: { message.contains($0) }) ? .notFound : .other
    }

    /// Reads libgit2's thread-local last error; call right after the failing call, on the same thread.
    static func last(_ code: Int32, _ operation: String) -> GitError {
        let message: String
        var errorClass: Int32 = 0
        if let error = git_error_last() {
            message = String(cString: error.pointee.message)
            errorClass = error.pointee.klass
        } else {
            message = "unknown error"
        }
        return GitError(code: code, errorClass: errorClass, message: message, operation: operation, refusal: nil)
    }
}

/// Throws a ``GitError`` for a negative libgit2 return code.
@discardableResult
func check(_ code: Int32, _ operation: @autoclosure () -> String) throws(GitError) -> Int32 {
    if code < 0 { throw GitError.last(code, operation()) }
    return code
}
