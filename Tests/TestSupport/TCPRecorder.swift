import Foundation
import Glibc
import Synchronization

/// An HTTP server on a free loopback port that answers every request `200 OK` and keeps what it was sent; for
/// checking what a client sends (headers, bodies). Serves until `stop()`; each connection is read for at most
/// 2 s and 1 MiB.
public final class TCPRecorder: Sendable {
    public let port: Int
    private let listener: Int32
    private let log = Mutex<[UInt8]>([])
    private let stopped = Atomic<Bool>(false)
    private let done = DispatchSemaphore(value: 0)

    public init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                bind(fd, pointer, length) == 0 && listen(fd, 8) == 0 && getsockname(fd, pointer, &length) == 0
            }
        }
        guard bound else {
            close(fd)
            throw TestSetupError(description: "cannot listen on loopback: \(String(cString: strerror(errno)))")
        }
        listener = fd
        port = Int(UInt16(bigEndian: address.sin_port))
        Thread.detachNewThread { [self] in
            serve()
            done.signal()
        }
    }

    private func serve() {
        while !stopped.load(ordering: .relaxed) {
            var pfd = pollfd(fd: listener, events: Int16(POLLIN), revents: 0)
            guard poll(&pfd, 1, 100) == 1 else { continue }
            let client = accept(listener, nil, nil)
            guard client >= 0 else { continue }
            var received: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 65536)
            let deadline = Date().addingTimeInterval(2)
            while Date() < deadline, received.count < 1 << 20, !isComplete(received) {
                var cpfd = pollfd(fd: client, events: Int16(POLLIN), revents: 0)
                guard poll(&cpfd, 1, 100) == 1 else { continue }
                let n = read(client, &buffer, buffer.count)
                if n <= 0 { break }
                received += buffer[0..<n]
            }
            // Kept before answering: a client that has its answer finds the request recorded.
            log.withLock { $0 += received }
            let answer = Array("HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".utf8)
            _ = write(client, answer, answer.count)
            close(client)
        }
    }

    /// Headers and, by Content-Length, the body are all there.
    private func isComplete(_ bytes: [UInt8]) -> Bool {
        let text = String(decoding: bytes, as: UTF8.self)
        guard let end = text.range(of: "\r\n\r\n") else { return false }
        let head = text[..<end.lowerBound].lowercased()
        let length =
            head.split(separator: "\r\n").first { $0.hasPrefix("content-length:") }
            .flatMap { Int($0.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) } ?? 0
        return text.utf8.count - text[..<end.upperBound].utf8.count >= length
    }

    /// Everything sent to it so far, as text.
    public func received() -> String { log.withLock { String(decoding: $0, as: UTF8.self) } }

    public func stop() {
        guard !stopped.exchange(true, ordering: .relaxed) else { return }
        done.wait()
        close(listener)
    }
}
