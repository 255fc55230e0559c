import Foundation
import Glibc

/// Runs `ip` (iproute2) with `arguments`; its output, or an error carrying its stderr.
@discardableResult
public func ipCommand(_ arguments: [String]) throws -> String {
    let r = try runProcess("/usr/sbin/ip", arguments)
    guard r.status == 0 else {
        throw TestSetupError(description: "ip \(arguments.joined(separator: " ")): \(r.stderr)")
    }
    return r.stdout
}

/// Kills every process still in a test's network namespace, then deletes it (its veths and bridges with it).
public func deleteNetworkNamespace(_ name: String) {
    if let pids = try? runProcess("/usr/sbin/ip", ["netns", "pids", name]) {
        for pid in pids.stdout.split(separator: "\n").compactMap({ pid_t($0) }) { kill(pid, SIGKILL) }
    }
    _ = try? runProcess("/usr/sbin/ip", ["netns", "del", name])
}
