import CSSH2
import Dispatch
import FileSystem
import FoundationEssentials
import Glibc
import Synchronization
import Threads

/// A jump host (bastion) through which hosts are reached, as OpenSSH's `ProxyJump`: `[USER@]HOST[:PORT]`.
public struct JumpHost: Sendable, Equatable, CustomStringConvertible {
    public var host: String
    public var port: Int
    public var user: String

    public init(host: String, port: Int = 22, user: String) {
        self.host = host
        self.port = port
        self.user = user
    }

    /// Parses `[USER@]HOST[:PORT]` (an IPv6 address in brackets: `[::1]:2222`); the user defaults to `user`.
    public init(parsing text: String, defaultUser user: String) throws(SSHError) {
        func bad(_ why: String) -> SSHError {
            SSHError(code: -1, message: "'\(text)' is not [USER@]HOST[:PORT]: \(why)", operation: "read the jump host")
        }
        var rest = Substring(text)
        self.user = user
        if let at = rest.lastIndex(of: "@") {
            self.user = String(rest[..<at])
            rest = rest[rest.index(after: at)...]
            guard !self.user.isEmpty else { throw bad("the user is empty") }
        }
        var portText: Substring?
        if rest.hasPrefix("[") {
            guard let close = rest.firstIndex(of: "]") else { throw bad("no closing ]") }
            host = String(rest[rest.index(after: rest.startIndex)..<close])
            let after = rest[rest.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { throw bad("unexpected text after ]") }
                portText = after.dropFirst()
            }
        } else if let colon = rest.firstIndex(of: ":") {
            host = String(rest[..<colon])
            portText = rest[rest.index(after: colon)...]
        } else {
            host = String(rest)
        }
        guard !host.isEmpty else { throw bad("the host is empty") }
        port = 22
        if let portText {
            guard let number = Int(portText), (1...65535).contains(number) else {
                throw bad("the port must be a number from 1 to 65535")
            }
            port = number
        }
    }

    public var description: String { "\(user)@\(port == 22 ? host : "[\(host)]:\(port)")" }
}

/// A TCP stream to a host that only the jump host can reach: a `direct-tcpip` channel of an SSH connection to
/// the jump host, handed to a second libssh2 session as an ordinary socket. The session gets one end of a
/// socket pair; a thread of this tunnel copies bytes between the other end and the channel. From the moment
/// the thread starts, only it touches the jump connection (libssh2 sessions are not thread-safe).
// Unchecked: it owns a libssh2 channel and the jump connection (C handles, not Sendable), which only its pump
// thread touches once started (see above); the rest is immutable or a Sendable flag.
final class SSHTunnel: @unchecked Sendable {
    /// The end the tunneled session reads and writes; closed by that session's owner.
    let sessionFD: Int32
    private let pumpFD: Int32
    private let jump: SSHConnection
    private let channel: OpaquePointer
    private let finished = DispatchSemaphore(value: 0)
    private let stopping = StopFlag()

    init(through jump: SSHConnection, to host: String, port: Int) throws(SSHError) {
        self.jump = jump
        guard let channel = cssh2_channel_direct_tcpip(jump.session.handle, host, Int32(port)) else {
            let error = SSHError.last(
                jump.session.handle, -1, "reach \(host):\(port) through the jump host \(jump.host)")
            throw error
        }
        self.channel = channel
        var fds: [Int32] = [-1, -1]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &fds) == 0 else {
            libssh2_channel_free(channel)
            throw SSHError(
                code: -1, message: SystemError.describe(errno), operation: "create a socket pair for the tunnel")
        }
        sessionFD = fds[0]
        pumpFD = fds[1]
        _ = fcntl(pumpFD, F_SETFL, fcntl(pumpFD, F_GETFL) | O_NONBLOCK)
        detachThread { [self] in
            pump()
            finished.signal()
        }
    }

    /// Ends the tunnel once its session is closed: waits (bounded) for the thread. The channel is freed with the
    /// jump connection's session, which this tunnel alone holds. Once only; later calls do nothing.
    func stop() {
        guard !stopping.isSet else { return }
        stopping.set()
        _ = finished.wait(timeout: .now() + 5)
        close(pumpFD)
    }

    /// Copies both ways until either side ends. Non-blocking on both sides, each direction with its own pending
    /// buffer, so neither a full socket buffer nor a closed SSH window can stall the other direction.
    private func pump() {
        let session = jump.session.handle
        libssh2_session_set_blocking(session, 0)
        var toSession: [UInt8] = []  // read from the channel, not yet written to the socket pair
        var toChannel: [UInt8] = []  // read from the socket pair, not yet written to the channel
        var buffer = [UInt8](repeating: 0, count: 65_536)
        var sessionClosed = false
        while !stopping.isSet {
            var progressed = false
            if toSession.isEmpty {
                let n = buffer.withUnsafeMutableBytes { raw in
                    cssh2_channel_read(channel, 0, raw.baseAddress!.assumingMemoryBound(to: CChar.self), raw.count)
                }
                if n > 0 {
                    toSession = Array(buffer[0..<n])
                    progressed = true
                } else if n < 0 && n != LIBSSH2_ERROR_EAGAIN {
                    break  // the jump connection failed: the tunneled session sees its socket close
                } else if libssh2_channel_eof(channel) == 1 {
                    break
                }
            }
            if !toSession.isEmpty {
                let n = toSession.withUnsafeBytes { write(pumpFD, $0.baseAddress!, $0.count) }
                if n > 0 {
                    toSession.removeFirst(n)
                    progressed = true
                } else if n < 0 && errno != EAGAIN && errno != EINTR {
                    break
                }
            }
            if toChannel.isEmpty && !sessionClosed {
                let n = buffer.withUnsafeMutableBytes { read(pumpFD, $0.baseAddress!, $0.count) }
                if n > 0 {
                    toChannel = Array(buffer[0..<n])
                    progressed = true
                } else if n == 0 {
                    sessionClosed = true
                } else if errno != EAGAIN && errno != EINTR {
                    sessionClosed = true
                }
            }
            if !toChannel.isEmpty {
                let n = toChannel.withUnsafeBytes { raw in
                    cssh2_channel_write(channel, raw.baseAddress!.assumingMemoryBound(to: CChar.self), raw.count)
                }
                if n > 0 {
                    toChannel.removeFirst(n)
                    progressed = true
                } else if n < 0 && n != LIBSSH2_ERROR_EAGAIN {
                    break
                }
            }
            if sessionClosed && toChannel.isEmpty { break }
            if !progressed { waitForEither(toSessionPending: !toSession.isEmpty, readSession: toChannel.isEmpty) }
        }
        // Ask the jump host to close its end, without waiting for its answer: the jump connection (this tunnel's
        // own) is dropped next, which ends everything on the jump host anyway. A target that never answered
        // would otherwise keep the channel open until its login grace time.
        _ = libssh2_channel_close(channel)
        shutdown(pumpFD, Int32(SHUT_RDWR))
    }

    /// Waits up to 100 ms for the jump socket (in the directions libssh2 is blocked on) or the socket pair.
    private func waitForEither(toSessionPending: Bool, readSession: Bool) {
        var jumpSocket = jump.socketPollEntry
        jumpSocket.events |= Int16(POLLIN)  // the channel's data may arrive whatever libssh2 last blocked on
        var local: Int16 = 0
        if readSession { local |= Int16(POLLIN) }
        if toSessionPending { local |= Int16(POLLOUT) }
        var fds = [jumpSocket, pollfd(fd: local == 0 ? -1 : pumpFD, events: local, revents: 0)]
        _ = poll(&fds, 2, 100)
    }
}

/// A flag one thread sets and another reads.
final class StopFlag: Sendable {
    private let value = Atomic<Bool>(false)
    func set() { value.store(true, ordering: .releasing) }
    var isSet: Bool { value.load(ordering: .acquiring) }
}
