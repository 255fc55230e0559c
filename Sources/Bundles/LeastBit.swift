import FoundationEssentials
import Glibc

/// One way a tree and its manifest disagree, naming the path.
public struct Finding: Sendable, Hashable, CustomStringConvertible, Encodable {
    public var path: String
    public var problem: String
    public var description: String { "\(path): \(problem)" }
}

/// The least-bit rules: the tree and the manifest agree exactly, and nothing is world-writable, set-id
/// without saying so, or pointing out of the bundle.
public enum LeastBit {
    public static func check(
        _ manifest: Manifest, against found: [String: FoundEntry], owners: Accounts? = nil
    ) -> [Finding] {
        var findings: [Finding] = []
        for path in found.keys.sorted() where manifest.entry(path) == nil {
            findings.append(Finding(path: path, problem: "on disk but not in the manifest"))
        }
        for entry in manifest.entries {
            guard let f = found[entry.path] else {
                findings.append(Finding(path: entry.path, problem: "in the manifest but missing"))
                continue
            }
            if f.special {
                findings.append(
                    Finding(path: entry.path, problem: "a device, fifo or socket, which a bundle may not hold"))
                continue
            }
            guard f.kind == entry.kind else {
                findings.append(
                    Finding(
                        path: entry.path, problem: "is a \(f.kind.rawValue), the manifest says \(entry.kind.rawValue)"))
                continue
            }
            switch entry.kind {
            case .file:
                if let sha = f.sha256, sha != entry.sha256 {
                    findings.append(Finding(path: entry.path, problem: "content does not match the manifest's sha256"))
                }
            case .symlink:
                if f.target != entry.target {
                    findings.append(
                        Finding(
                            path: entry.path,
                            problem: "points to \(f.target ?? "?"), the manifest says \(entry.target ?? "?")"))
                }
                if let target = f.target, let problem = symlinkProblem(path: entry.path, target: target) {
                    findings.append(Finding(path: entry.path, problem: problem))
                }
            case .dir:
                break
            }
            if entry.kind != .symlink {
                if f.mode != entry.mode {
                    findings.append(
                        Finding(path: entry.path, problem: "mode \(f.mode), the manifest says \(entry.mode)"))
                }
                if f.mode.isSetID && !entry.mode.isSetID {
                    findings.append(
                        Finding(path: entry.path, problem: "has a setuid/setgid bit the manifest does not declare"))
                }
                if f.mode.isWorldWritable && !(entry.kind == .dir && f.mode.bits & 0o1000 != 0) {
                    findings.append(Finding(path: entry.path, problem: "is world-writable"))
                }
            }
            if let owners {
                let user = owners.userName(f.uid)
                let group = owners.groupName(f.gid)
                if user != entry.owner && String(f.uid) != entry.owner {
                    findings.append(
                        Finding(path: entry.path, problem: "owned by \(user), the manifest says \(entry.owner)"))
                }
                if group != entry.group && String(f.gid) != entry.group {
                    findings.append(
                        Finding(path: entry.path, problem: "group \(group), the manifest says \(entry.group)"))
                }
            }
        }
        return findings
    }

    /// Rules the manifest itself must follow, whatever is on disk.
    public static func checkManifest(_ manifest: Manifest) -> [Finding] {
        var findings: [Finding] = []
        for entry in manifest.entries where entry.kind != .symlink {
            if entry.mode.isWorldWritable && !(entry.kind == .dir && entry.mode.bits & 0o1000 != 0) {
                findings.append(
                    Finding(path: entry.path, problem: "the manifest declares it world-writable (\(entry.mode))"))
            }
        }
        return findings
    }
}

extension Manifest {
    /// A manifest describing a tree as it is: modes as found, owner and group as given (kept from `previous`
    /// for paths it already listed), hooks kept from `previous`.
    public static func describe(
        _ found: [String: FoundEntry], owner: String, group: String, previous: Manifest? = nil
    ) throws(BundleError) -> Manifest {
        var entries: [ManifestEntry] = []
        var problems: [String] = []
        for f in found.values.sorted(by: { $0.path < $1.path }) {
            if f.special { problems.append("\(f.path): a device, fifo or socket, which a bundle may not hold") }
            if let target = f.target, let problem = symlinkProblem(path: f.path, target: target) {
                problems.append("\(f.path): \(problem)")
            }
            if f.kind != .symlink && f.mode.isWorldWritable && !(f.kind == .dir && f.mode.bits & 0o1000 != 0) {
                problems.append("\(f.path): is world-writable (mode \(f.mode)); fix it with chmod o-w")
            }
            let kept = previous?.entry(f.path)
            entries.append(
                ManifestEntry(
                    path: f.path, kind: f.kind, mode: f.kind == .symlink ? FileMode(0o777) : f.mode,
                    owner: kept?.owner ?? owner,
                    group: kept?.group ?? group, sha256: f.sha256, target: f.target))
        }
        if !problems.isEmpty { throw BundleError(problems.joined(separator: "\n")) }
        return Manifest(
            name: previous?.name, beforeSwitch: previous?.beforeSwitch, afterSwitch: previous?.afterSwitch,
            entries: entries)
    }
}
