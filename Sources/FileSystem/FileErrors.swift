import FoundationEssentials
import Glibc

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
