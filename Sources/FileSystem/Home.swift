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

/// Words for an error FileManager threw, from the errno beneath it where it carries one (FoundationEssentials
/// has no localized descriptions): "No such file or directory", not "CocoaError(code: 260, …)".
public func describeFileError(_ error: any Error) -> String {
    if let error = error as? CocoaError {
        if let underlying = error.userInfo["NSUnderlyingError"] as? POSIXError {
            return SystemError.describe(underlying.code.rawValue)
        }
        switch error.code {
        case .fileNoSuchFile, .fileReadNoSuchFile: return SystemError.describe(ENOENT)
        case .fileReadNoPermission, .fileWriteNoPermission: return SystemError.describe(EACCES)
        case .fileWriteFileExists: return SystemError.describe(EEXIST)
        default: return "error \(error.code.rawValue)"
        }
    }
    if let error = error as? POSIXError { return SystemError.describe(error.code.rawValue) }
    return "\(error)"
}
