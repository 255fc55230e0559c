import CLinux
import FileSystem
import Glibc

/// The environment a hook, a service or a helper program gets: a fixed PATH, the C.UTF-8 locale, HOME of the
/// user it runs as, and what the caller adds. Nothing of Redeye's own environment is passed on: a deploy's
/// `PGPASSWORD` or `SSH_AUTH_SOCK` is not the bundle's business.
public func childEnvironment(_ extra: [String: String] = [:]) -> [String: String] {
    var out = [
        "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "LANG": "C.UTF-8",
        "HOME": getpwuid(getuid()).map { String(cString: $0.pointee.pw_dir) } ?? "/",
    ]
    for (key, value) in extra { out[key] = value }
    return out
}

/// How a started program is set apart from the one that starts it.
public enum Grouping: Sendable {
    /// A process group of its own: a timeout kills everything it started in the group.
    case processGroup
    /// A session of its own: it outlives the SSH channel or the agent that started it (a service).
    case session
}

/// A program to start: `executable` with `arguments` (the first is argv[0]), no shell in between.
public struct ProcessSpec: Sendable {
    public var executable: String
    public var arguments: [String]
    public var environment: [String: String]
    /// Standard output and error go to this file (created 0600 if missing), or to /dev/null.
    public var output: String?
    /// Standard output and error go to this descriptor instead (a pipe the caller reads); wins over `output`.
    var outputDescriptor: Int32?
    /// Append to `output` instead of truncating it.
    public var append: Bool
    public var grouping: Grouping

    public init(
        _ executable: String, _ arguments: [String], environment: [String: String] = childEnvironment(),
        output: String? = nil, append: Bool = false, grouping: Grouping = .processGroup
    ) {
        self.executable = executable
        self.arguments = arguments
        self.environment = environment
        self.output = output
        self.append = append
        self.grouping = grouping
    }

    /// Starts it, with standard input from /dev/null and every inherited descriptor above 2 closed.
    public func start() throws(SystemError) -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        if let outputDescriptor {
            posix_spawn_file_actions_adddup2(&actions, outputDescriptor, 1)
        } else if let output {
            let flags = O_WRONLY | O_CREAT | O_NOFOLLOW | (append ? O_APPEND : O_TRUNC)
            posix_spawn_file_actions_addopen(&actions, 1, output, flags, 0o600)
        } else {
            posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        }
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        closeInheritedDescriptors(&actions)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        switch grouping {
        case .processGroup:
            posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP))
            posix_spawnattr_setpgroup(&attributes, 0)
        case .session:
            posix_spawnattr_setflags(&attributes, 0x80)  // POSIX_SPAWN_SETSID (glibc 2.26+), not exported to Swift
        }
        let argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        let envp: [UnsafeMutablePointer<CChar>?] = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        var pid: pid_t = 0
        let code = posix_spawn(&pid, executable, &actions, &attributes, argv, envp)
        guard code == 0 else { throw SystemError("start \(executable)", code: code) }
        return pid
    }
}

/// How a bounded run ended.
public enum Termination: Sendable, Equatable, CustomStringConvertible {
    case exited(Int32)
    case signaled(Int32)
    /// The deadline passed; it and everything it started were killed.
    case timedOut

    public var succeeded: Bool { self == .exited(0) }

    public var description: String {
        switch self {
        case .exited(let code): "exit \(code)"
        case .signaled(let signal): "killed by signal \(signal)"
        case .timedOut: "timed out"
        }
    }
}

/// Runs `spec` until it exits or `timeout` passes. Nothing it starts outlives it: as root it runs as the init of a
/// PID namespace of its own, so that when it ends (or is killed at the deadline) the kernel kills every process
/// left in the namespace, also those that left its process group with `setsid` or a double fork; without the
/// privilege for that, it runs in a process group of its own, which is killed.
public func runBounded(_ spec: ProcessSpec, timeout: Duration) throws(SystemError) -> Termination {
    var spec = spec
    spec.grouping = .processGroup
    let pid = try startIsolated(spec)
    let deadline = ContinuousClock.now + timeout
    var status: Int32 = 0
    while true {
        let reaped = waitpid(pid, &status, WNOHANG)
        if reaped == pid { break }
        if reaped < 0 && errno != EINTR { throw SystemError("wait for \(spec.executable)") }
        if ContinuousClock.now >= deadline {
            kill(-pid, SIGKILL)
            kill(pid, SIGKILL)
            _ = retryingInterrupts { waitpid(pid, &status, 0) }
            return .timedOut
        }
        usleep(5_000)
    }
    kill(-pid, SIGKILL)  // what it left in its group, where there is no namespace to end
    return status & 0x7f == 0 ? .exited((status >> 8) & 0xff) : .signaled(status & 0x7f)
}

/// Starts `spec` as the first process of a new PID namespace when this thread may make one, else plainly. The
/// namespace applies to this thread's children only, and is left again right after the start.
func startIsolated(_ spec: ProcessSpec) throws(SystemError) -> pid_t {
    let original = open("/proc/thread-self/ns/pid_for_children", O_RDONLY | O_CLOEXEC)
    guard original >= 0, clinux_unshare_pid_namespace() == 0 else {
        if original >= 0 { close(original) }
        return try spec.start()
    }
    defer {
        clinux_set_pid_namespace(original)
        close(original)
    }
    return try spec.start()
}

/// Adds a close action for every descriptor above 2 that is open without close-on-exec: a long-lived service
/// must not keep the caller's sockets or pipes open (a reader waiting for end-of-file would wait forever).
func closeInheritedDescriptors(_ actions: inout posix_spawn_file_actions_t) {
    guard let fds = try? Directory.open("/proc/self/fd"), let names = try? fds.names() else { return }
    for fd in names.compactMap({ Int32($0) }) where fd > 2 {
        let flags = fcntl(fd, F_GETFD)
        if flags >= 0 && flags & FD_CLOEXEC == 0 { posix_spawn_file_actions_addclose(&actions, fd) }
    }
}

/// Runs `spec` to its end (or `timeout`, when it and its group are killed) and returns how it ended with what it
/// printed on standard output and error together, at most `limit` bytes (the rest is read and dropped, so the
/// program is never blocked on a full pipe).
public func runCollecting(
    _ spec: ProcessSpec, timeout: Duration, limit: Int = 1 << 20
) throws(SystemError) -> (Termination, [UInt8]) {
    var fds: [Int32] = [-1, -1]
    guard clinux_pipe_cloexec(&fds) == 0 else { throw SystemError("make a pipe for \(spec.executable)") }
    var spec = spec
    spec.grouping = .processGroup
    spec.outputDescriptor = fds[1]
    let pid: pid_t
    do {
        pid = try spec.start()
    } catch {
        close(fds[0])
        close(fds[1])
        throw error
    }
    close(fds[1])
    defer { close(fds[0]) }
    let deadline = ContinuousClock.now + timeout
    var output: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 16384)
    var timedOut = false
    while true {
        let left = deadline - ContinuousClock.now
        guard left > .zero else {
            timedOut = true
            break
        }
        var pfd = pollfd(fd: fds[0], events: Int16(POLLIN), revents: 0)
        let ms = Int32(
            clamping: max(1, left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000))
        guard retryingInterrupts({ poll(&pfd, 1, ms) }) >= 0 else { break }
        if pfd.revents == 0 { continue }
        let n = buffer.withUnsafeMutableBytes { raw in retryingInterrupts { read(fds[0], raw.baseAddress, raw.count) } }
        if n <= 0 { break }  // end of file: every writer closed it
        output += buffer[0..<min(n, max(0, limit - output.count))]
    }
    var status: Int32 = 0
    if timedOut {
        kill(-pid, SIGKILL)
        kill(pid, SIGKILL)
    }
    _ = retryingInterrupts { waitpid(pid, &status, 0) }
    if timedOut { return (.timedOut, output) }
    return (status & 0x7f == 0 ? .exited((status >> 8) & 0xff) : .signaled(status & 0x7f), output)
}
