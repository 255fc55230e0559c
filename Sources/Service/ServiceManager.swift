import Foundation

#if canImport(Glibc)
    import Glibc
#endif

public struct ServiceError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Starts a role's services after an install: its systemd units when systemd runs the host, otherwise the role's
/// `run` command, supervised through a pid file under the install root (containers, test hosts, images without
/// systemd).
public struct ServiceManager: Sendable {
    /// The install root on this machine's file system (`ROOT/current` is the running release).
    public var base: String
    /// Whether systemd manages this machine (`/run/systemd/system` exists).
    public var systemdRunning: Bool

    public init(base: String, systemdRunning: Bool = FileManager.default.fileExists(atPath: "/run/systemd/system")) {
        self.base = base
        self.systemdRunning = systemdRunning
    }

    var pidFile: String { base + "/.redeye/run.pid" }
    var logFile: String { base + "/.redeye/run.log" }

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
            let pid = pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines)), pid > 1, groupAlive(pid)
        {
            return "`\(run)` already running as process \(pid)"
        }
        let pid = try startDetached(run)
        return "started `\(run)` as process \(pid)"
    }

    /// Runs systemctl once per argument list, stopping at the first failure.
    func systemctl(_ argumentLists: [[String]]) throws {
        for arguments in argumentLists {
            let (status, output) = try spawnAndWait("/usr/bin/systemctl", arguments)
            guard status == 0 else {
                throw ServiceError("systemctl \(arguments.joined(separator: " ")) failed (exit \(status)): \(output)")
            }
        }
    }

    /// Stops the process group the `run` command started (TERM, then KILL after 10 s).
    public func stop() {
        guard let text = try? String(contentsOfFile: pidFile, encoding: .utf8),
            let pid = pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines)), pid > 1
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
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, logFile, O_WRONLY | O_CREAT | O_APPEND, 0o600)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        closeInheritedDescriptors(&actions)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        posix_spawnattr_setflags(&attributes, 0x80)  // POSIX_SPAWN_SETSID (glibc 2.26+), not exported to Swift
        let words = ["/bin/sh", "-c", "cd -- \"$0\" || exit 125; exec /bin/sh -c \"$1\"", base + "/current", command]
        let argv: [UnsafeMutablePointer<CChar>?] = words.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var environment = ProcessInfo.processInfo.environment
        environment["REDEYE_ROOT"] = base
        let envp: [UnsafeMutablePointer<CChar>?] = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { envp.forEach { free($0) } }
        var pid: pid_t = 0
        let code = posix_spawn(&pid, "/bin/sh", &actions, &attributes, argv, envp)
        guard code == 0 else { throw ServiceError("cannot start `\(command)`: \(String(cString: strerror(code)))") }
        try "\(pid)\n".write(toFile: pidFile, atomically: true, encoding: .utf8)
        // Reap it if it exits while this process still runs (a short-lived supervisor, e.g. over SSH).
        let child = pid
        Thread.detachNewThread {
            var status: Int32 = 0
            waitpid(child, &status, 0)
        }
        return pid
    }

    func spawnAndWait(_ executable: String, _ arguments: [String]) throws -> (Int32, String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}

/// Adds a close action for every descriptor above 2 that is open without close-on-exec: a long-lived service
/// must not keep the caller's sockets or pipes open (a reader waiting for end-of-file would wait forever).
func closeInheritedDescriptors(_ actions: inout posix_spawn_file_actions_t) {
    guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd") else { return }
    for fd in entries.compactMap({ Int32($0) }) where fd > 2 {
        let flags = fcntl(fd, F_GETFD)
        if flags >= 0 && flags & FD_CLOEXEC == 0 { posix_spawn_file_actions_addclose(&actions, fd) }
    }
}
