import Net

extension HTTPClient {
    /// One request to an http:// or https:// URL; over https the server's certificate is checked against
    /// `trust` (unless `trust.verify` is false) before the request is written. Bounded like `send`: the
    /// client's timeout for the connection and each read, `maxResponseBytes` for the answer.
    public func send(
        _ method: String, _ url: String, trust: TLSTrust, body: [UInt8]? = nil, contentType: String? = nil,
        headers extra: [(String, String)] = []
    ) throws -> HTTPResponse {
        let request = try request(method, url, body: body, contentType: contentType, headers: extra)
        guard request.isTLS else {
            return try send(method, url, body: body, contentType: contentType, headers: extra)
        }
        let connection = try TLSClient(host: request.host, port: request.port, trust: trust, timeout: timeout)
        defer { connection.close() }
        try request.bytes.withUnsafeBytes { try connection.write($0) }
        var response: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 16_384)
        let deadline = ContinuousClock.now.advanced(by: timeout)
        while response.count < maxResponseBytes, ContinuousClock.now < deadline {
            let n: Int
            do {
                n = try buffer.withUnsafeMutableBytes { try connection.read(into: $0) }
            } catch {
                // A server that closes without TLS's close_notify, after answering: the answer is what came.
                if response.isEmpty { throw error }
                break
            }
            if n == 0 { break }
            response += buffer[0..<n]
            if Self.isComplete(response) { break }
        }
        return try Self.response(response, to: "\(method) \(url)")
    }
}
