import YAML

/// The steps of a boot pass, in order (`write` and `report` are the agent's own files).
public enum BootStep: String, Sendable, Codable {
    case learn, fetch, verify, identify, install, monitors, run, write, report
    /// Anything that failed outside a named step.
    case boot
}

/// How a boot pass ended.
public enum BootState: String, Sendable, Codable {
    case running
    /// A new release was installed and its services started.
    case installed
    /// The host already ran what its plan says.
    case unchanged
    /// No plan names this machine yet: it is in the inventory, waiting for an operator.
    case enlisted
    case failed
}

/// A boot that could not go on: which step, why, and where in which file when a file was at fault.
public struct BootError: Error, Sendable, CustomStringConvertible {
    public var step: BootStep
    public var message: String
    public var location: SourceLocation?

    public init(step: BootStep, _ message: String, location: SourceLocation? = nil) {
        self.step = step
        self.message = message
        self.location = location
    }

    public var description: String { (location.map { "\($0): " } ?? "") + message }
}
