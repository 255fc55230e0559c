import FileSystem
import FoundationEssentials
import Glibc

/// A failed network operation: what was tried and why it failed.
public struct NetError: Error, Sendable, CustomStringConvertible {
    public var operation: String
    public var message: String
    public init(_ operation: String, _ message: String) {
        self.operation = operation
        self.message = message
    }
    public var description: String { "\(operation): \(message)" }
}

/// Plain TCP connections with a bounded connect time.
public enum TCP {
    /// Connects to `host:port` (name or address, v4 or v6), giving up after `timeout`. Returns the socket
    /// (blocking, close-on-exec, TCP_NODELAY); the caller closes it.
    public static func connect(host: String, port: Int, timeout: Duration) throws(NetError) -> Int32 {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_family = AF_UNSPEC
        var list: UnsafeMutablePointer<addrinfo>?
        let resolved = getaddrinfo(host, String(port), &hints, &list)
        guard resolved == 0, let first = list else {
            throw NetError("resolve \(host)", String(cString: gai_strerror(resolved)))
        }
        defer { freeaddrinfo(list) }
        var lastError = "no address"
        var entry: UnsafeMutablePointer<addrinfo>? = first
        let ms = Int32(clamping: max(1, timeout.wholeMilliseconds))
        while let current = entry {
            entry = current.pointee.ai_next
            let fd = socket(current.pointee.ai_family, current.pointee.ai_socktype | Int32(SOCK_CLOEXEC.rawValue), 0)
            guard fd >= 0 else {
                lastError = "cannot create a socket: " + SystemError.describe(errno)
                continue
            }
            let flags = fcntl(fd, F_GETFL)
            _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK)
            var result = Glibc.connect(fd, current.pointee.ai_addr, current.pointee.ai_addrlen)
            if result != 0 && errno == EINPROGRESS {
                var pfd = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                if poll(&pfd, 1, ms) == 1 {
                    var soError: Int32 = 0
                    var length = socklen_t(MemoryLayout<Int32>.size)
                    getsockopt(fd, SOL_SOCKET, SO_ERROR, &soError, &length)
                    if soError == 0 { result = 0 } else { errno = soError }
                } else {
                    errno = ETIMEDOUT
                }
            }
            if result == 0 {
                _ = fcntl(fd, F_SETFL, flags)
                var one: Int32 = 1
                setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
                return fd
            }
            lastError = SystemError.describe(errno)
            close(fd)
        }
        throw NetError("connect to \(host):\(port)", lastError)
    }
}
