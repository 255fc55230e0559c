import CSSH2
import FoundationEssentials
import Glibc
import Net

extension SSHConnection {
    // MARK: commands

    /// Runs `command` through the remote user's shell, feeding it `input`, and collects its output and exit
    /// status. `timeout` bounds the whole command; when it passes the channel is closed and an error thrown.
    /// `outputLimit` bounds what is kept of each stream: a host that sends more is not read further, and the
    /// command fails (a hostile host cannot fill the deployer's memory).
    public func run(
        _ command: String, input: [UInt8] = [], timeout: Duration = .seconds(600), outputLimit: Int = 8 << 20
    ) throws(SSHError) -> RemoteResult {
        guard let channel = cssh2_channel_open_session(session.handle) else {
            throw SSHError.last(session.handle, -1, "open a channel to \(host)")
        }
        defer { libssh2_channel_free(channel) }
        payloadBytesSent += Int64(command.utf8.count)
        let code = cssh2_channel_exec(channel, command)
        guard code == 0 else { throw SSHError.last(session.handle, code, "start a command on \(host)") }
        var offset = 0
        while offset < input.count {
            let n = input.withUnsafeBytes { raw in
                cssh2_channel_write(
                    channel, raw.baseAddress!.assumingMemoryBound(to: CChar.self) + offset, input.count - offset)
            }
            guard n >= 0 else { throw SSHError.last(session.handle, Int32(n), "send input to \(host)") }
            offset += n
        }
        payloadBytesSent += Int64(input.count)
        libssh2_channel_send_eof(channel)

        // Both streams are drained together without blocking, so a chatty stderr cannot stall stdout.
        libssh2_session_set_blocking(session.handle, 0)
        defer { libssh2_session_set_blocking(session.handle, 1) }
        let deadline = ContinuousClock.now.advanced(by: timeout)
        var stdout: [UInt8] = []
        var stderr: [UInt8] = []
        var buffer = [CChar](repeating: 0, count: 32_768)
        while true {
            var progressed = false
            for stream: Int32 in [0, SSH_EXTENDED_DATA_STDERR] {
                while true {
                    let n = cssh2_channel_read(channel, stream, &buffer, buffer.count)
                    if n > 0 {
                        progressed = true
                        let bytes = buffer.prefix(n).map { UInt8(bitPattern: $0) }
                        if stream == 0 { stdout += bytes } else { stderr += bytes }
                        guard stdout.count <= outputLimit && stderr.count <= outputLimit else {
                            throw SSHError(
                                code: -1,
                                message:
                                    "the command sent more than \(outputLimit) bytes of \(stream == 0 ? "output" : "error output"); stopped reading",
                                operation: "run a command on \(host)")
                        }
                    } else if n == 0 || n == LIBSSH2_ERROR_EAGAIN {
                        break
                    } else {
                        throw SSHError.last(session.handle, Int32(n), "read the output of a command on \(host)")
                    }
                }
            }
            if libssh2_channel_eof(channel) == 1 { break }
            if !progressed {
                guard ContinuousClock.now < deadline else {
                    throw SSHError(
                        code: LIBSSH2_ERROR_TIMEOUT, message: "no result within \(timeout)",
                        operation: "run a command on \(host)")
                }
                waitForSocket(milliseconds: 100)
            }
        }
        closeChannel(channel, until: deadline)
        var signalName: UnsafeMutablePointer<CChar>?
        var signalLength = 0
        libssh2_channel_get_exit_signal(channel, &signalName, &signalLength, nil, nil, nil, nil)
        let signal = signalName.map { String(cString: $0) }
        if let signalName { libssh2_free(session.handle, signalName) }
        return RemoteResult(
            status: libssh2_channel_get_exit_status(channel), stdout: stdout, stderr: stderr, signal: signal)
    }

    /// Opens a TCP connection from the remote host to `host`:`port` (a `direct-tcpip` channel: the remote sshd
    /// connects), writes `request`, and reads the answer until the far end closes, `isComplete` says it is
    /// whole, `limit` bytes came or `timeout` passed. An empty request with `limit` 0 only checks that the
    /// connection can be made. This reaches what the remote host reaches, as `ssh -W` does.
    public func exchange(
        with host: String, port: Int, request: [UInt8], limit: Int, timeout: Duration,
        isComplete: ([UInt8]) -> Bool = { _ in false }
    ) throws(SSHError) -> [UInt8] {
        let operation = "connect to \(host):\(port) from \(self.host)"
        let deadline = ContinuousClock.now.advanced(by: timeout)
        libssh2_session_set_blocking(session.handle, 0)
        defer { libssh2_session_set_blocking(session.handle, 1) }
        var opened: OpaquePointer?
        while opened == nil {
            opened = cssh2_channel_direct_tcpip(session.handle, host, Int32(port))
            if opened != nil { break }
            let code = libssh2_session_last_errno(session.handle)
            guard code == LIBSSH2_ERROR_EAGAIN else { throw SSHError.last(session.handle, code, operation) }
            guard ContinuousClock.now < deadline else {
                throw SSHError(
                    code: LIBSSH2_ERROR_TIMEOUT, message: "no answer within \(timeout)", operation: operation)
            }
            waitForSocket(milliseconds: 100)
        }
        guard let channel = opened else { throw SSHError.last(session.handle, -1, operation) }
        defer {
            closeChannel(channel, until: deadline)
            libssh2_session_set_blocking(session.handle, 1)  // non-blocking, free could stop half-way (EAGAIN)
            libssh2_channel_free(channel)
        }
        var offset = 0
        while offset < request.count {
            let n = request.withUnsafeBytes { raw in
                cssh2_channel_write(
                    channel, raw.baseAddress!.assumingMemoryBound(to: CChar.self) + offset, request.count - offset)
            }
            if n >= 0 {
                offset += n
            } else if n == LIBSSH2_ERROR_EAGAIN, ContinuousClock.now < deadline {
                waitForSocket(milliseconds: 100)
            } else {
                throw SSHError.last(session.handle, Int32(n), "send to \(host):\(port) from \(self.host)")
            }
        }
        payloadBytesSent += Int64(request.count)
        var answer: [UInt8] = []
        var buffer = [CChar](repeating: 0, count: 16_384)
        while answer.count < limit, !isComplete(answer) {
            let n = cssh2_channel_read(channel, 0, &buffer, buffer.count)
            if n > 0 {
                answer += buffer.prefix(n).map { UInt8(bitPattern: $0) }
            } else if n == 0 && libssh2_channel_eof(channel) == 1 {
                break
            } else if n == 0 || n == LIBSSH2_ERROR_EAGAIN {
                guard ContinuousClock.now < deadline else {
                    if answer.isEmpty {
                        throw SSHError(
                            code: LIBSSH2_ERROR_TIMEOUT, message: "no answer within \(timeout)",
                            operation: "read from \(host):\(port) through \(self.host)")
                    }
                    break
                }
                waitForSocket(milliseconds: 100)
            } else {
                throw SSHError.last(session.handle, Int32(n), "read from \(host):\(port) through \(self.host)")
            }
        }
        return answer
    }

    /// Closes a channel of the (non-blocking) session, waiting for the far end's close until `deadline`.
    private func closeChannel(_ channel: OpaquePointer, until deadline: ContinuousClock.Instant) {
        while libssh2_channel_close(channel) == LIBSSH2_ERROR_EAGAIN, ContinuousClock.now < deadline {
            waitForSocket(milliseconds: 100)
        }
    }

    private func waitForSocket(milliseconds: Int32) {
        var fd = socketPollEntry
        _ = poll(&fd, 1, milliseconds)
    }

    /// The session's socket (a TCP socket, or a tunnel's end of a socket pair), to poll for the directions
    /// libssh2 is blocked on; for reading when it is blocked on none.
    var socketPollEntry: pollfd {
        let directions = libssh2_session_block_directions(session.handle)
        var events: Int16 = 0
        if directions & LIBSSH2_SESSION_BLOCK_INBOUND != 0 { events |= Int16(POLLIN) }
        if directions & LIBSSH2_SESSION_BLOCK_OUTBOUND != 0 { events |= Int16(POLLOUT) }
        return pollfd(fd: socketFD, events: events == 0 ? Int16(POLLIN) : events, revents: 0)
    }
}
