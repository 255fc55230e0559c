import FoundationEssentials
import Glibc
import Net
import Plan
import SSH
import TLS
import Text

/// Health checks from a role's monitors, run after a host switched: HTTP and TCP from this machine (as a load
/// balancer would see the host), commands on the host over its SSH connection.
struct HealthChecker {
    /// Pause between attempts: the monitor's interval, but at most this (a deploy waits, it does not monitor).
    var maxPause: Swift.Duration = .seconds(1)
    /// HTTP and TCP from the host itself, through its SSH connection (`direct-tcpip`): for hosts reached through
    /// a jump host, whose addresses this machine cannot reach.
    var fromHost = false
    /// What https checks trust (the configured CA file, else the system store).
    var trust = TLSTrust()

    /// nil when every monitor passes (and keeps passing for its stable-for period), else what failed.
    func check(_ monitors: [HostPlan.Monitor], on connection: SSHConnection, log: (String) -> Void) -> String? {
        for monitor in monitors {
            if monitor.kind == .http && monitor.target.hasPrefix("https://") {
                if fromHost {
                    log(
                        "skipping \(monitor.name): https checks through a jump host are not run (TLS inside the SSH channel is not supported)"
                    )
                    continue
                }
                if monitor.tlsSkipVerify {
                    log("\(monitor.name): the server's certificate is not verified (tls_skip_verify in the plans)")
                }
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

    func sleep(_ duration: Swift.Duration) { blockingSleep(duration) }

    func probe(_ monitor: HostPlan.Monitor, _ connection: SSHConnection) -> String? {
        switch monitor.kind {
        case .tcp:
            guard let colon = monitor.target.lastIndex(of: ":"),
                let port = Int(monitor.target[monitor.target.index(after: colon)...])
            else { return "bad target \(monitor.target)" }
            let host = String(monitor.target[..<colon]).trimmed(in: "[]")
            do {
                if fromHost {
                    _ = try connection.exchange(
                        with: host, port: port, request: [], limit: 0, timeout: monitor.timeout.standard)
                } else {
                    close(try SSHConnection.connectTCP(host: host, port: port, timeout: monitor.timeout.standard))
                }
                return nil
            } catch {
                return "\(error)"
            }
        case .http:
            return httpProbe(monitor, connection)
        case .command:
            do {
                let result = try connection.run(monitor.target, timeout: monitor.timeout.standard)
                if result.status == 0 { return nil }
                let output = (result.errorOutput + result.output).trimmed()
                return "`\(monitor.target)` exited \(result.status)" + (output.isEmpty ? "" : ": \(output.suffix(300))")
            } catch {
                return "\(error)"
            }
        }
    }

    /// One HTTP/1.1 GET; the status must be the expected one and the body must contain `body` when given.
    func httpProbe(_ monitor: HostPlan.Monitor, _ connection: SSHConnection) -> String? {
        let response: HTTPResponse
        let client = HTTPClient(timeout: monitor.timeout.standard, userAgent: "redeye-deploy")
        do {
            if fromHost {
                let request = try client.request("GET", monitor.target)
                let answer = try connection.exchange(
                    with: request.host, port: request.port, request: request.bytes, limit: client.maxResponseBytes,
                    timeout: client.timeout, isComplete: HTTPClient.isComplete)
                response = try HTTPClient.response(answer, to: "GET \(monitor.target)")
            } else {
                var trust = self.trust
                if monitor.tlsSkipVerify { trust.verify = false }
                response = try client.send("GET", monitor.target, trust: trust)
            }
        } catch {
            return "\(error)"
        }
        if let expect = monitor.expect, response.status != expect {
            return "\(monitor.target) answered \(response.status), expected \(expect)"
        }
        if let body = monitor.body, !response.text.contains(body) {
            return "\(monitor.target) answered without '\(body)' in its body"
        }
        return nil
    }
}
