import FoundationEssentials
import Glibc
import Net
import Plan
import TLS
import Text

/// Tells the monitoring system to watch a booted host: a Prometheus file_sd target file, a Consul service
/// definition in the agent's config directory, and registration through a local Consul agent's HTTP API.
public struct MonitorRegistration: Sendable {
    public var layout: BootLayout
    public var spec: MonitoringSpec?
    public var timeout: Swift.Duration = .seconds(5)

    public init(layout: BootLayout, spec: MonitoringSpec?) {
        self.layout = layout
        self.spec = spec
    }

    public struct Context: Sendable {
        public var plan: HostPlan
        public var mac: String
        public var plansCommit: String
        public var release: String
        public init(plan: HostPlan, mac: String, plansCommit: String, release: String) {
            self.plan = plan
            self.mac = mac
            self.plansCommit = plansCommit
            self.release = release
        }
    }

    /// Writes and registers; returns what was done, in words, and what failed (a monitoring system that is
    /// down does not stop the host from running).
    public func register(_ context: Context) -> (done: [String], problems: [String]) {
        var done: [String] = []
        var problems: [String] = []
        if let fileSD = spec?.prometheus?.fileSD {
            do {
                try writeAtomically(try Self.fileSD(context), to: layout.path(fileSD))
                done.append("Prometheus targets in \(fileSD)")
            } catch {
                problems.append("Prometheus file_sd \(fileSD): \(error)")
            }
        }
        if spec?.consul != nil {
            for monitor in context.plan.monitors where monitor.interval.milliseconds < 1000 {
                problems.append(
                    "Consul runs checks at most once a second: monitor '\(monitor.name)' (every \(Self.seconds(monitor.interval))) is registered with Consul as every 1s"
                )
            }
        }
        if let directory = spec?.consul?.configDir {
            let path = directory + "/redeye-\(context.plan.role).json"
            let scripts = spec?.consul?.scriptChecks == true
            if !scripts {
                for monitor in context.plan.monitors where monitor.kind == .command {
                    problems.append(
                        "Consul definition \(path): command monitor '\(monitor.name)' left out (Consul refuses a definition with a script check unless its agents enable local script checks; say consul.script_checks: true in the plans where they do)"
                    )
                }
            }
            do {
                try writeAtomically(try Self.consulDefinition(context, scriptChecks: scripts), to: layout.path(path))
                done.append("Consul service definition \(path)")
            } catch {
                problems.append("Consul definition \(path): \(error)")
            }
        }
        if let agent = spec?.consul?.agent {
            let url =
                agent.trimmed(in: "/")
                + "/v1/agent/service/register?replace-existing-checks=true"
            var headers: [(String, String)] = []
            if let token = try? String(contentsOfFile: layout.path("/etc/redeye/consul.token"), encoding: .utf8) {
                // The token is a secret: over plain HTTP it goes only to an agent on this machine; over https
                // (the agent's certificate verified) to any.
                if Self.isLoopback(agent) || agent.lowercased().hasPrefix("https://") {
                    headers.append(("X-Consul-Token", token.trimmed()))
                } else {
                    problems.append(
                        "not sending the Consul token to \(agent) over plain HTTP (only to an agent on this host, http://127.0.0.1:8500, or over https)"
                    )
                }
            }
            do {
                let body = try Self.consulRegistration(context)
                let response = try HTTPClient(timeout: timeout, userAgent: "redeye-boot").send(
                    "PUT", url, trust: layout.tlsTrust, body: Array(body), contentType: "application/json",
                    headers: headers)
                if response.status == 200 {
                    done.append("registered with the Consul agent at \(agent)")
                } else {
                    problems.append(
                        "the Consul agent at \(agent) refused the registration (HTTP \(response.status)): \(response.text.prefix(200))"
                    )
                }
            } catch {
                problems.append("cannot register with the Consul agent at \(agent): \(error)")
            }
        }
        return (done, problems)
    }

    static func encoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return encoder
    }

    /// `host:port` of an http or tcp monitor's target.
    static func endpoint(_ monitor: HostPlan.Monitor) -> (host: String, port: Int)? {
        switch monitor.kind {
        case .http:
            guard let url = URL(string: monitor.target), let host = url.host else { return nil }
            return (host, url.port ?? (url.scheme == "https" ? 443 : 80))
        case .tcp:
            guard let colon = monitor.target.lastIndex(of: ":"),
                let port = Int(monitor.target[monitor.target.index(after: colon)...])
            else { return nil }
            return (String(monitor.target[..<colon]).trimmed(in: "[]"), port)
        case .command:
            return nil
        }
    }

    /// One target group per http/tcp monitor, labelled with the host, role, MAC and monitor.
    static func fileSD(_ context: Context) throws -> Data {
        struct Group: Encodable {
            var targets: [String]
            var labels: [String: String]
        }
        let groups = context.plan.monitors.compactMap { monitor -> Group? in
            guard let (host, port) = endpoint(monitor) else { return nil }
            var labels = [
                "redeye_host": context.plan.name, "redeye_role": context.plan.role, "redeye_mac": context.mac,
                "redeye_monitor": monitor.name, "redeye_kind": monitor.kind.rawValue,
            ]
            if monitor.kind == .http { labels["redeye_url"] = monitor.target }
            return Group(targets: [host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"], labels: labels)
        }
        return try encoder().encode(groups)
    }

    static func serviceID(_ context: Context) -> String {
        "\(context.plan.role)-\(context.mac.replacing(":", with: "-"))"
    }

    static func seconds(_ d: PlanDuration) -> String {
        d.milliseconds % 1000 == 0 ? "\(d.milliseconds / 1000)s" : "\(d.milliseconds)ms"
    }

    /// A check interval as Consul runs it: never more often than once a second (it would clamp a shorter one
    /// without a word; here it is written as it will run, and reported).
    static func consulInterval(_ d: PlanDuration) -> String {
        d.milliseconds < 1000 ? "1s" : seconds(d)
    }

    /// Whether an agent URL is on this machine (127.0.0.0/8, ::1, localhost).
    static func isLoopback(_ url: String) -> Bool {
        guard let host = URL(string: url)?.host?.lowercased() else { return false }
        return host == "localhost" || host == "::1" || host == "[::1]" || host.hasPrefix("127.")
    }

    static func port(_ context: Context) -> Int? {
        if let text = context.plan.vars["port"], let port = Int(text) { return port }
        return context.plan.monitors.lazy.compactMap { endpoint($0)?.port }.first
    }

    static func meta(_ context: Context) -> [String: String] {
        [
            "role": context.plan.role, "host": context.plan.name, "mac": context.mac,
            "plans_commit": context.plansCommit, "release": context.release,
        ]
    }

    /// The agent config-directory form (`{"service": {…}}`), command checks included (they run only where the
    /// agent enables local script checks).
    static func consulDefinition(_ context: Context, scriptChecks: Bool) throws -> Data {
        var service: [String: JSONValue] = [
            "name": .string(context.plan.role), "id": .string(serviceID(context)),
            "tags": .array([.string("redeye"), .string("role:\(context.plan.role)")]),
            "meta": .object(meta(context).mapValues { .string($0) }),
        ]
        if let address = context.plan.address { service["address"] = .string(address) }
        if let port = port(context) { service["port"] = .integer(Int64(port)) }
        service["checks"] = .array(
            context.plan.monitors.compactMap { monitor in
                var check: [String: JSONValue] = [
                    "id": .string("\(serviceID(context))-\(monitor.name)"), "name": .string(monitor.name),
                    "interval": .string(consulInterval(monitor.interval)),
                    "timeout": .string(seconds(monitor.timeout)),
                ]
                switch monitor.kind {
                case .http: check["http"] = .string(monitor.target)
                case .tcp: check["tcp"] = .string(monitor.target)
                case .command:
                    guard scriptChecks else { return nil }
                    check["args"] = .array([.string("/bin/sh"), .string("-c"), .string(monitor.target)])
                }
                return .object(check)
            })
        return try encoder().encode(["service": JSONValue.object(service)])
    }

    /// The HTTP API form. Command checks are left out: script checks over the API are what Consul's
    /// `enable_script_checks` warns about; they belong in the config file.
    static func consulRegistration(_ context: Context) throws -> Data {
        var body: [String: JSONValue] = [
            "Name": .string(context.plan.role), "ID": .string(serviceID(context)),
            "Tags": .array([.string("redeye"), .string("role:\(context.plan.role)")]),
            "Meta": .object(meta(context).mapValues { .string($0) }),
        ]
        if let address = context.plan.address { body["Address"] = .string(address) }
        if let port = port(context) { body["Port"] = .integer(Int64(port)) }
        body["Checks"] = .array(
            context.plan.monitors.compactMap { monitor in
                var check: [String: JSONValue] = [
                    "CheckID": .string("\(serviceID(context))-\(monitor.name)"), "Name": .string(monitor.name),
                    "Interval": .string(consulInterval(monitor.interval)),
                    "Timeout": .string(seconds(monitor.timeout)),
                ]
                switch monitor.kind {
                case .http: check["HTTP"] = .string(monitor.target)
                case .tcp: check["TCP"] = .string(monitor.target)
                case .command: return nil
                }
                return .object(check)
            })
        let compact = JSONEncoder()
        compact.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return try compact.encode(body)
    }
}
