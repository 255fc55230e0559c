import Foundation
import Glibc

/// A long-running helper process (sshd, ssh-agent) started with posix_spawn and reaped here.
///
/// Not through Foundation's `Process`: its monitor thread blocks in `wait4` on a child that never exits,
/// after which no later child is reaped and `waitUntilExit` hangs.
public final class Daemon: @unchecked Sendable {
    public let pid: pid_t
    private var reaped = false

    public init(_ executable: String, _ arguments: [String]) throws {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        for fd: Int32 in [0, 1, 2] {
            posix_spawn_file_actions_addopen(&actions, fd, "/dev/null", fd == 0 ? O_RDONLY : O_WRONLY, 0)
        }
        // A daemon must not keep the test's pipes open (a reader of another command would wait forever).
        for fd in ((try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []).compactMap({
            Int32($0)
        })
        where fd > 2 {
            let flags = fcntl(fd, F_GETFD)
            if flags >= 0 && flags & FD_CLOEXEC == 0 { posix_spawn_file_actions_addclose(&actions, fd) }
        }
        let argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let code = posix_spawn(&pid, executable, &actions, nil, argv, environ)
        guard code == 0 else {
            throw TestSetupError(description: "cannot start \(executable): \(String(cString: strerror(code)))")
        }
        self.pid = pid
    }

    public var isRunning: Bool {
        if reaped { return false }
        var status: Int32 = 0
        if waitpid(pid, &status, WNOHANG) == pid {
            reaped = true
            return false
        }
        return true
    }

    /// Kills it and waits (bounded) until it is gone.
    public func stop() {
        guard !reaped else { return }
        kill(pid, SIGKILL)
        var status: Int32 = 0
        for _ in 0..<250 {
            if waitpid(pid, &status, WNOHANG) == pid { break }
            usleep(20_000)
        }
        reaped = true
    }

    deinit { stop() }
}
