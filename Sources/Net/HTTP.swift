import FileSystem
import FoundationEssentials
import Glibc
import Text

/// An HTTP/1.1 answer: status, headers (names lowercased) and body.
public struct HTTPResponse: Sendable {
    public var status: Int
    public var headers: [String: String]
    public var body: [UInt8]
    public var text: String { String(decoding: body, as: UTF8.self) }
}

/// A small HTTP/1.1 client over plain TCP, for health checks and local agents (Consul) — `http://` only, one
/// request per connection, bounded in time and size.
public struct HTTPClient: Sendable {
    public var timeout: Duration
    public var userAgent: String
    /// Answers larger than this are cut (health checks and agents answer small).
    public var maxResponseBytes = 1 << 20

    public init(timeout: Duration, userAgent: String = "redeye") {
        self.timeout = timeout
        self.userAgent = userAgent
    }

    public func get(_ url: String) throws(NetError) -> HTTPResponse {
        try send("GET", url)
    }

    /// One request's destination and bytes, as `send` would write them to the server.
    public struct Request: Sendable {
        public var host: String
        public var port: Int
        public var bytes: [UInt8]
        /// An https:// URL: the bytes go through TLS (the TLS module's `send(_:_:trust:)`), never in the clear.
        public var isTLS: Bool
    }

    /// Builds a request for `url` (http:// or https://; one request per connection: `Connection: close`).
    public func request(
        _ method: String, _ url: String, body: [UInt8]? = nil, contentType: String? = nil,
        headers extra: [(String, String)] = []
    ) throws(NetError) -> Request {
        guard let parsed = URL(string: url), parsed.scheme == "http" || parsed.scheme == "https",
            let host = parsed.host
        else {
            throw NetError("\(method) \(url)", "not an http:// or https:// URL")
        }
        let isTLS = parsed.scheme == "https"
        let port = parsed.port ?? (isTLS ? 443 : 80)
        let path = parsed.path.isEmpty ? "/" : parsed.path + (parsed.query.map { "?" + $0 } ?? "")
        let hostHeader = host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        var head =
            "\(method) \(path) HTTP/1.1\r\nHost: \(hostHeader)\r\nUser-Agent: \(userAgent)\r\nConnection: close\r\n"
        for (name, value) in extra { head += "\(name): \(value)\r\n" }
        if let body {
            head += "Content-Length: \(body.count)\r\n"
            if let contentType { head += "Content-Type: \(contentType)\r\n" }
        }
        return Request(host: host, port: port, bytes: Array((head + "\r\n").utf8) + (body ?? []), isTLS: isTLS)
    }

    /// Sends one request and reads the whole answer (until the server closes or Content-Length is met).
    public func send(
        _ method: String, _ url: String, body: [UInt8]? = nil, contentType: String? = nil,
        headers extra: [(String, String)] = []
    ) throws(NetError) -> HTTPResponse {
        let request = try request(method, url, body: body, contentType: contentType, headers: extra)
        guard !request.isTLS else {
            throw NetError("\(method) \(url)", "an https:// URL needs TLS: send it with a TLSTrust")
        }
        let fd = try TCP.connect(host: request.host, port: request.port, timeout: timeout)
        defer { close(fd) }
        let ms = timeout.wholeMilliseconds
        var tv = timeval(tv_sec: Int(ms / 1000), tv_usec: Int(ms % 1000) * 1000)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        let bytes = request.bytes
        var sent = 0
        while sent < bytes.count {
            let n = bytes.withUnsafeBytes {
                Glibc.send(fd, $0.baseAddress! + sent, bytes.count - sent, Int32(MSG_NOSIGNAL))
            }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else {
                throw NetError("\(method) \(url)", "cannot send the request: \(SystemError.describe(errno))")
            }
            sent += n
        }
        var response: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 16_384)
        let deadline = ContinuousClock.now.advanced(by: timeout)
        while response.count < maxResponseBytes, ContinuousClock.now < deadline {
            let n = recv(fd, &buffer, buffer.count, 0)
            if n > 0 {
                response += buffer[0..<n]
                if Self.isComplete(response) { break }
            } else if n == 0 {
                break
            } else if errno == EINTR {
                continue
            } else {
                if response.isEmpty {
                    throw NetError(
                        "\(method) \(url)", "no answer within \(timeout): \(SystemError.describe(errno))")
                }
                break
            }
        }
        return try Self.response(response, to: "\(method) \(url)")
    }

    /// Whether `bytes` hold a whole answer: its headers and as much body as Content-Length says (an answer
    /// without Content-Length ends when the server closes).
    public static func isComplete(_ bytes: [UInt8]) -> Bool {
        guard let split = headerEnd(bytes), let length = headers(bytes[..<split])["content-length"].flatMap(Int.init)
        else { return false }
        return bytes.count >= split + 4 + length
    }

    /// Reads an answer received whole (`request` names it in errors).
    public static func response(_ bytes: [UInt8], to request: String) throws(NetError) -> HTTPResponse {
        guard let split = headerEnd(bytes) ?? (bytes.isEmpty ? nil : bytes.count) else {
            throw NetError(request, "the server closed the connection without answering")
        }
        let headText = String(decoding: bytes[..<split], as: UTF8.self)
        let statusLine = headText.prefix { $0 != "\r" && $0 != "\n" }
        let words = statusLine.split(separator: " ")
        guard words.count >= 2, words[0].hasPrefix("HTTP/"), let status = Int(words[1]) else {
            throw NetError(request, "not an HTTP answer: '\(statusLine.prefix(80))'")
        }
        let body = split + 4 <= bytes.count ? Array(bytes[(split + 4)...]) : []
        return HTTPResponse(status: status, headers: headers(bytes[..<split]), body: body)
    }

    static func headerEnd(_ bytes: [UInt8]) -> Int? {
        guard bytes.count >= 4 else { return nil }
        for i in 0...(bytes.count - 4)
        where bytes[i] == 13 && bytes[i + 1] == 10 && bytes[i + 2] == 13 && bytes[i + 3] == 10 {
            return i
        }
        return nil
    }

    static func headers(_ head: ArraySlice<UInt8>) -> [String: String] {
        var result: [String: String] = [:]
        for line in String(decoding: head, as: UTF8.self).split(separator: "\r\n").dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            result[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmedSpaces()
        }
        return result
    }
}
