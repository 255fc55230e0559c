import FoundationEssentials
import Glibc
import InstallRoot
import Plan
import SSH

/// What a host says about itself over SSH: the release it runs and what its audit finds changed in it.
public struct LiveState: Sendable, Encodable {
    public var release: String?
    /// The audit's findings in the current release (empty: it matches its manifest exactly).
    public var drift: [String]
    /// Why the host could not be asked (unreachable, no redeye, a refused host key).
    public var error: String?
}

public enum LiveProbe {
    /// A host's audit may name many findings; a status line needs the first few.
    static let maxFindings = 50

    /// Asks each host, at most `width` at once: reads its current release over SFTP and runs its redeye's
    /// `bundle audit`. Every answer is bounded and made printable; a host that cannot be asked says why.
    public static func probe(
        _ hosts: [Plans.Host], plans: Plans, settings: SSHSettings, width: Int = 16
    ) -> [String: LiveState] {
        let answers = parallelMap(hosts, width: max(1, width)) { host -> (String, LiveState) in
            do {
                let target = try DeployTarget(host: host, plans: plans, settings: settings)
                let connection = try target.connect(settings)
                let root = target.plan.install.root
                let remote = try HostDeploy.inspect(connection, root: root)
                if let stray = remote.strayCurrent {
                    let finding = "current: points to \(stray), not to a release"
                    return (host.name, LiveState(release: nil, drift: [finding]))
                }
                guard remote.release != nil else { return (host.name, LiveState(release: nil, drift: [])) }
                let command = [settings.remoteRedeye, "bundle", "audit", "--root", root].map(shellQuote).joined(
                    separator: " ")
                let result = try connection.run(command, timeout: .seconds(120), outputLimit: 1 << 20)
                switch result.status {
                case 0:
                    return (host.name, LiveState(release: remote.release, drift: []))
                case 3:  // drift (`bundle audit`'s own exit status)
                    let prefix = root + ": "
                    let findings = String(decoding: result.stderr, as: UTF8.self).split(separator: "\n").prefix(
                        maxFindings
                    ).map { line in
                        printable(line.hasPrefix(prefix) ? String(line.dropFirst(prefix.count)) : String(line))
                    }
                    return (host.name, LiveState(release: remote.release, drift: findings))
                default:
                    let why = printable(String(decoding: result.stderr.prefix(500), as: UTF8.self))
                    return (
                        host.name,
                        LiveState(release: remote.release, drift: [], error: "audit exited \(result.status): \(why)")
                    )
                }
            } catch {
                return (host.name, LiveState(release: nil, drift: [], error: printable("\(error)")))
            }
        }
        return Dictionary(answers, uniquingKeysWith: { a, _ in a })
    }
}
