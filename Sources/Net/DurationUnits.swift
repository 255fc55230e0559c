import FoundationEssentials
import Glibc

/// Conversions every timeout and report needs, in one place for the targets above (Net is the lowest target
/// SSH, Deploy and Boot share).
extension Duration {
    /// Whole milliseconds, rounded down (poll and socket timeouts).
    public var wholeMilliseconds: Int64 {
        components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000
    }

    /// Seconds as a floating-point number (step timings in reports).
    public var inSeconds: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}

/// Blocks the calling thread (deploy workers and the boot agent are threads, not tasks); nothing for a
/// duration of zero or less. Resumes after a signal for the time left.
public func blockingSleep(_ duration: Duration) {
    guard duration > .zero else { return }
    let (seconds, attoseconds) = duration.components
    var request = timespec(tv_sec: Int(seconds), tv_nsec: Int(attoseconds / 1_000_000_000))
    var remaining = timespec()
    while nanosleep(&request, &remaining) == -1 && errno == EINTR { request = remaining }
}
