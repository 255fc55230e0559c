import YAML

/// A boot that could not go on: which step, why, and where in which file when a file was at fault.
public struct BootError: Error, Sendable, CustomStringConvertible {
    public var step: String
    public var message: String
    public var location: SourceLocation?

    public init(step: String, _ message: String, location: SourceLocation? = nil) {
        self.step = step
        self.message = message
        self.location = location
    }

    public var description: String { (location.map { "\($0): " } ?? "") + message }
}
