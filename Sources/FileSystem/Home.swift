import FoundationEssentials
import Glibc

/// The home directory of the user this process runs as, from the password database, not $HOME: under `sudo`
/// (without -H) $HOME is still the invoking user's, and root would take that user's known_hosts and settings as
/// its own. $HOME only when the account has no entry.
public func userHomeDirectory() -> String {
    if let entry = getpwuid(geteuid()), let directory = entry.pointee.pw_dir {
        let path = String(cString: directory)
        if !path.isEmpty { return path }
    }
    return ProcessInfo.processInfo.environment["HOME"] ?? "/"
}
