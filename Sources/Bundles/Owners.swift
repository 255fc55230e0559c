import FoundationEssentials
import Glibc

extension BundleInstaller {
    /// uid and gid for every owner:group the manifest names; installing as another user needs root.
    func resolveOwners(_ manifest: Manifest) throws -> [String: (UInt32, UInt32)] {
        if let accounts, let finding = accounts.refusal(manifest) { throw BundleError("refused: \(finding)") }
        let accounts = Accounts()
        var out: [String: (UInt32, UInt32)] = [:]
        for entry in manifest.entries {
            let key = "\(entry.owner):\(entry.group)"
            if out[key] != nil { continue }
            guard let uid = accounts.uid(entry.owner) else {
                throw BundleError("\(entry.path): user '\(entry.owner)' does not exist on this host")
            }
            guard let gid = accounts.gid(entry.group) else {
                throw BundleError("\(entry.path): group '\(entry.group)' does not exist on this host")
            }
            if getuid() != 0 && (uid != getuid() || gid != getgid()) {
                throw BundleError(
                    "\(entry.path) must be owned by \(entry.owner):\(entry.group); installing files for another user needs root (running as uid \(getuid()))"
                )
            }
            out[key] = (uid, gid)
        }
        return out
    }
}

/// The accounts the plans give a role's files to: a bundle may give its files to these and to root, and set a
/// set-id bit only on what these own (so it installs a setuid-root program only where the plans say root).
public struct InstallAccounts: Sendable, Equatable {
    public var user: String
    public var group: String

    public init(user: String, group: String) {
        self.user = user
        self.group = group
    }

    /// The first entry that goes past these accounts, in words, or nil.
    public func refusal(_ manifest: Manifest) -> Finding? {
        for entry in manifest.entries {
            guard entry.owner == user || entry.owner == "root" || entry.owner == "0" else {
                return Finding(
                    path: entry.path,
                    problem:
                        "owned by \(entry.owner), but the plans install this role as \(user):\(group) (its files may be owned by \(user) or root)"
                )
            }
            guard entry.group == group || entry.group == "root" || entry.group == "0" else {
                return Finding(
                    path: entry.path,
                    problem:
                        "group \(entry.group), but the plans install this role as \(user):\(group) (its files may have group \(group) or root)"
                )
            }
            if entry.kind != .symlink && entry.mode.bits & 0o4000 != 0 && entry.owner != user {
                return Finding(
                    path: entry.path,
                    problem:
                        "setuid \(entry.owner), but the plans install this role as \(user): a setuid program may run only as \(user)"
                )
            }
            if entry.kind != .symlink && entry.mode.bits & 0o2000 != 0 && entry.group != group && entry.kind == .file {
                return Finding(
                    path: entry.path,
                    problem: "setgid \(entry.group), but the plans install this role as group \(group)")
            }
        }
        return nil
    }
}
