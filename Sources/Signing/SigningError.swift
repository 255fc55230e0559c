/// Why a key, a signature or a trust file cannot be used.
public struct SigningError: Error, Sendable, CustomStringConvertible, Equatable {
    public var message: String

    public init(_ message: String) {
        self.message = message
    }

    public var description: String { message }
}
