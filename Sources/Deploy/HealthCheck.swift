import Foundation
import Plan
import SSH

#if canImport(Glibc)
    import Glibc
#endif

/// Health checks from a role's monitors, run after a host switched: HTTP and TCP from this machine (as a load
/// balancer would see the host), commands on the host over its SSH connection.
struct HealthChecker {
    /// Pause between attempts: the monitor's interval, but at most this (a deploy waits, it does not monitor).
    var maxPause: Swift.Duration = .seconds(1)

    /// nil when every monitor passes (and keeps passing for its stable-for period), else what failed.
    func check(_ monitors: [HostPlan.Monitor], on connection: SSHConnection, log: (String) -> Void) -> String? {
        for monitor in monitors {
            if monitor.kind == .http && monitor.target.hasPrefix("https://") {
                log("skipping \(monitor.name): https checks are not run by deploys (no TLS client here)")
                continue
            }
            let pause = min(monitor.interval.standard, maxPause)
            var lastError = ""
            var passed = false
            for attempt in 0...monitor.retries {
                if attempt > 0 { sleep(pause) }
                if let error = probe(monitor, connection) {
                    lastError = error
                } else {
                    passed = true
                    break
                }
            }
            guard passed else {
                return "health check \(monitor.name) failed after \(monitor.retries + 1) attempts: \(lastError)"
            }
            let stableUntil = ContinuousClock.now.advanced(by: monitor.stableFor.standard)
            while ContinuousClock.now < stableUntil {
                sleep(min(pause, stableUntil - ContinuousClock.now))
                if let error = probe(monitor, connection) {
                    return "health check \(monitor.name) passed, then failed within its stable-for period: \(error)"
                }
            }
        }
        return nil
    }

    func sleep(_ duration: Swift.Duration) {
        let us = duration.components.seconds * 1_000_000 + duration.components.attoseconds / 1_000_000_000_000
        if us > 0 { usleep(UInt32(clamping: us)) }
    }

    func probe(_ monitor: HostPlan.Monitor, _ connection: SSHConnection) -> String? {
        switch monitor.kind {
        case .tcp:
            guard let colon = monitor.target.lastIndex(of: ":"),
                let port = Int(monitor.target[monitor.target.index(after: colon)...])
            else { return "bad target \(monitor.target)" }
            let host = String(monitor.target[..<colon]).trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
            do {
                close(try SSHConnection.connectTCP(host: host, port: port, timeout: monitor.timeout.standard))
                return nil
            } catch {
                return "\(error)"
            }
        case .http:
            return httpProbe(monitor)
        case .command:
            do {
                let result = try connection.run(monitor.target, timeout: monitor.timeout.standard)
                if result.status == 0 { return nil }
                let output = (result.errorOutput + result.output).trimmingCharacters(in: .whitespacesAndNewlines)
                return "`\(monitor.target)` exited \(result.status)" + (output.isEmpty ? "" : ": \(output.suffix(300))")
            } catch {
                return "\(error)"
            }
        }
    }

    /// One HTTP/1.1 GET; the status must be the expected one and the body must contain `body` when given.
    func httpProbe(_ monitor: HostPlan.Monitor) -> String? {
        guard let url = URL(string: monitor.target), url.scheme == "http", let host = url.host else {
            return "bad URL \(monitor.target)"
        }
        let port = url.port ?? 80
        let path = url.path.isEmpty ? "/" : url.path + (url.query.map { "?" + $0 } ?? "")
        let fd: Int32
        do {
            fd = try SSHConnection.connectTCP(host: host, port: port, timeout: monitor.timeout.standard)
        } catch {
            return "\(error)"
        }
        defer { close(fd) }
        var tv = timeval(
            tv_sec: Int(monitor.timeout.milliseconds / 1000), tv_usec: Int(monitor.timeout.milliseconds % 1000) * 1000)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        let request = Array(
            "GET \(path) HTTP/1.1\r\nHost: \(host):\(port)\r\nUser-Agent: redeye-deploy\r\nConnection: close\r\n\r\n"
                .utf8)
        guard request.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }) == request.count
        else {
            return "cannot send the request to \(host):\(port): \(String(cString: strerror(errno)))"
        }
        var response: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 16_384)
        let deadline = ContinuousClock.now.advanced(by: monitor.timeout.standard)
        while response.count < 1 << 20, ContinuousClock.now < deadline {
            let n = recv(fd, &buffer, buffer.count, 0)
            if n > 0 {
                response += buffer[0..<n]
            } else if n == 0 {
                break
            } else if errno == EINTR {
                continue
            } else {
                if response.isEmpty {
                    return
                        "no answer from \(host):\(port) within \(monitor.timeout): \(String(cString: strerror(errno)))"
                }
                break
            }
        }
        let text = String(decoding: response, as: UTF8.self)
        let statusLine = text.prefix { $0 != "\r" && $0 != "\n" }
        let words = statusLine.split(separator: " ")
        guard words.count >= 2, words[0].hasPrefix("HTTP/"), let status = Int(words[1]) else {
            return "not an HTTP answer from \(monitor.target): '\(statusLine.prefix(80))'"
        }
        if let expect = monitor.expect, status != expect {
            return "\(monitor.target) answered \(status), expected \(expect)"
        }
        if let body = monitor.body {
            let content = text.range(of: "\r\n\r\n").map { String(text[$0.upperBound...]) } ?? ""
            if !content.contains(body) { return "\(monitor.target) answered without '\(body)' in its body" }
        }
        return nil
    }
}
