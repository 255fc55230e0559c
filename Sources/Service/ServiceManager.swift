import FileSystem
import FoundationEssentials
import Glibc
import InstallRoot
import Spawn
import Text
import Threads

public struct ServiceError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Starts a role's services after an install: its systemd units when systemd runs the host, otherwise the role's
/// `run` command, supervised through a pid file under the install root (containers, test hosts, images without
/// systemd).
public struct ServiceManager: Sendable {
    /// The install root (`current` is the running release).
    public var layout: InstallLayout
    /// Whether systemd manages the host (`/run/systemd/system` exists under the layout's prefix: a test or
    /// image root never makes the agent drive this machine's systemd).
    public var systemdRunning: Bool

    public init(layout: InstallLayout, systemdRunning: Bool? = nil) {
        self.layout = layout
        self.systemdRunning =
            systemdRunning ?? FileManager.default.fileExists(atPath: layout.host("/run/systemd/system"))
    }

    var base: String { layout.base }
    var pidFile: String { layout.runPID }
    var logFile: String { layout.runLog }

    /// Restarts `units` with systemctl (enabling them), or the `run` command where there is no systemd.
    /// Returns what was done, in words.
    public func restart(units: [String], run: String?) throws -> String {
        if systemdRunning, !units.isEmpty {
            try systemctl([["daemon-reload"], ["enable", "--quiet"] + units, ["restart"] + units])
            return "restarted \(units.joined(separator: ", "))"
        }
        guard let run else {
            return units.isEmpty
                ? "no services to start" : "systemd is not running here and the role has no run command"
        }
        stop()
        let pid = try startDetached(run)
        return "started `\(run)` as process \(pid)"
    }

    /// Starts what is not running and leaves running services alone (a boot whose release did not change):
    /// `systemctl enable --now`, or the `run` command unless its process group is alive.
    public func ensureRunning(units: [String], run: String?) throws -> String {
        if systemdRunning, !units.isEmpty {
            try systemctl([["daemon-reload"], ["enable", "--now", "--quiet"] + units])
            return "\(units.joined(separator: ", ")) enabled and running"
        }
        guard let run else {
            return units.isEmpty
                ? "no services to start" : "systemd is not running here and the role has no run command"
        }
        if let text = try? String(contentsOfFile: pidFile, encoding: .utf8),
            let pid = pid_t(text.trimmed()), pid > 1, groupAlive(pid)
        {
            return "`\(run)` already running as process \(pid)"
        }
        let pid = try startDetached(run)
        return "started `\(run)` as process \(pid)"
    }

    /// Runs systemctl once per argument list, stopping at the first failure.
    func systemctl(_ argumentLists: [[String]]) throws {
        for arguments in argumentLists {
            let (termination, output) = try spawnAndWait("/usr/bin/systemctl", arguments)
            guard termination.succeeded else {
                throw ServiceError("systemctl \(arguments.joined(separator: " ")) failed (\(termination)): \(output)")
            }
        }
    }

    /// Stops the process group the `run` command started (TERM, then KILL after 10 s).
    public func stop() {
        guard let text = try? String(contentsOfFile: pidFile, encoding: .utf8),
            let pid = pid_t(text.trimmed()), pid > 1
        else { return }
        guard groupAlive(pid) else {
            unlink(pidFile)
            return
        }
        kill(-pid, SIGTERM)
        for _ in 0..<1000 {
            if !groupAlive(pid) { break }
            usleep(10_000)
        }
        kill(-pid, SIGKILL)
        unlink(pidFile)
    }

    /// Whether any process of the group is still running. Zombies do not count: where PID 1 does not reap
    /// (containers), a stopped service would otherwise look alive until the timeout.
    func groupAlive(_ group: pid_t) -> Bool {
        guard kill(-group, 0) == 0 else { return false }
        // Usually the leader is the service itself (the run command execs it): its own state decides.
        if let stat = try? String(contentsOfFile: "/proc/\(group)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")"),
            stat[stat.index(after: close)...].split(separator: " ").first != "Z"
        {
            return true
        }
        for name in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let pid = Int32(name), let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                let close = stat.lastIndex(of: ")")
            else { continue }
            // Fields after the command: state, ppid, pgrp, …
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            if fields.count > 2, Int32(fields[2]) == group, fields[0] != "Z" { return true }
        }
        return false
    }

    /// Starts `/bin/sh -c command` in `ROOT/current`, in a session of its own (so it outlives the SSH channel or
    /// the agent that started it), with its output appended to `ROOT/.redeye/run.log`.
    func startDetached(_ command: String) throws -> pid_t {
        let spec = ProcessSpec(
            "/bin/sh",
            ["/bin/sh", "-c", "cd -- \"$0\" || exit 125; exec /bin/sh -c \"$1\"", layout.current, command],
            environment: childEnvironment(["REDEYE_ROOT": base]), output: logFile, append: true, grouping: .session)
        let pid: pid_t
        do {
            pid = try spec.start()
        } catch {
            throw ServiceError("cannot start `\(command)`: \(SystemError.describe(error.code))")
        }
        try "\(pid)\n".write(toFile: pidFile, atomically: true, encoding: .utf8)
        // Reap it if it exits while this process still runs (a short-lived supervisor, e.g. over SSH).
        let child = pid
        detachThread {
            var status: Int32 = 0
            waitpid(child, &status, 0)
        }
        return pid
    }

    /// Runs a helper (systemctl) with the minimal environment, bounded in time and output.
    func spawnAndWait(_ executable: String, _ arguments: [String]) throws -> (Termination, String) {
        do {
            let (termination, output) = try runCollecting(
                ProcessSpec(executable, [executable] + arguments), timeout: .seconds(300))
            return (termination, String(decoding: output, as: UTF8.self))
        } catch {
            throw ServiceError("cannot run \(executable): \(error)")
        }
    }
}
