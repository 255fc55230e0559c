/// What kind of failure an error is, in the terms an operator (or a script) acts on. Capabilities classify their
/// errors; only the command line turns a kind into an exit status.
public enum FailureKind: Sendable, Hashable {
    /// Anything else: bad input, an engine's error.
    case failure
    /// Refused to change anything: a destructive migration, a delete that reaches other records.
    case refused
    /// What was asked for does not exist.
    case notFound
    /// No valid signature by a trusted key.
    case untrusted
    /// Someone else holds the lock.
    case locked
    /// Content a deploy must send first.
    case missingContent
}

/// An error that says what kind of failure it is.
public protocol ClassifiedError: Error, CustomStringConvertible {
    var failureKind: FailureKind { get }
}
