import FoundationEssentials
import Glibc

/// User and group names ↔ ids, through the system's databases (cached).
public final class Accounts {
    private var users: [UInt32: String] = [:]
    private var groups: [UInt32: String] = [:]

    public init() {}

    public func userName(_ uid: UInt32) -> String {
        if let name = users[uid] { return name }
        let name = getpwuid(uid).map { String(cString: $0.pointee.pw_name) } ?? String(uid)
        users[uid] = name
        return name
    }

    public func groupName(_ gid: UInt32) -> String {
        if let name = groups[gid] { return name }
        let name = getgrgid(gid).map { String(cString: $0.pointee.gr_name) } ?? String(gid)
        groups[gid] = name
        return name
    }

    public func uid(_ name: String) -> UInt32? {
        if let n = UInt32(name) { return n }
        return getpwnam(name).map { $0.pointee.pw_uid }
    }

    public func gid(_ name: String) -> UInt32? {
        if let n = UInt32(name) { return n }
        return getgrnam(name).map { $0.pointee.gr_gid }
    }
}
