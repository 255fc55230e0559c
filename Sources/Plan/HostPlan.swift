import FoundationEssentials
import Git
import Glibc

/// Everything one host must become, with every template filled: what `redeye plan show` prints and
/// what the boot agent and deploys act on.
public struct HostPlan: Sendable, Encodable, Equatable {
    public struct Bundle: Sendable, Encodable, Equatable {
        public var repository: String
        public var ref: String
        /// The commit the signed plans pinned the ref to (nil: not pinned, the ref is followed as the server has it).
        public var pin: BundlePin?
    }

    public struct Install: Sendable, Encodable, Equatable {
        public var root: String
        public var user: String
        public var group: String
        public var keep: Int
    }

    /// A monitor with its target filled in for this host.
    public typealias Monitor = Plan.Monitor<String>

    public struct Hooks: Sendable, Encodable, Equatable {
        public var drain: String?
        public var undrain: String?
        public var timeout: PlanDuration
    }

    public struct Rollout: Sendable, Encodable, Equatable {
        public var batch: BatchPlan
        public var maxFail: FailureBudget
        enum CodingKeys: String, CodingKey {
            case batch
            case maxFail = "max_fail"
        }
    }

    public var name: String
    public var macs: [String]
    public var address: String?
    public var site: String?
    public var role: String
    public var vars: [String: String]
    public var bundle: Bundle
    public var install: Install
    public var services: [String]
    public var run: String?
    public var hooks: Hooks
    public var monitors: [Monitor]
    public var rollout: Rollout
}

extension Plans {
    /// The resolved plan of a host (templates were checked at load, so filling them cannot fail).
    public func plan(for host: Host) -> HostPlan {
        let role = roles[host.role]!
        let values = variables(for: host)
        func fill(_ t: Template?, quoting: Template.Quoting = .none) -> String? {
            guard let t else { return nil }
            switch t.render(values, quoting: quoting) {
            case .success(let s): return s
            case .failure(let missing): return "{{\(missing.name)}}"
            }
        }
        /// Shell commands: values go in as single words.
        func command(_ t: Template?) -> String? { fill(t, quoting: .shell) }
        var vars = role.vars
        for (k, v) in host.vars { vars[k] = v }
        return HostPlan(
            name: host.name, macs: host.macs, address: host.address, site: host.site, role: role.name, vars: vars,
            bundle: .init(repository: role.bundleRepository, ref: role.bundleRef, pin: pin(of: role.name)),
            install: .init(
                root: fill(role.installRoot) ?? role.installRoot.text, user: role.user, group: role.group,
                keep: role.keep),
            services: role.services,
            run: command(role.run),
            hooks: .init(drain: command(role.drain), undrain: command(role.undrain), timeout: role.hookTimeout),
            monitors: role.monitors.map {
                $0.with(target: ($0.kind == .command ? command($0.target) : fill($0.target)) ?? "")
            },
            rollout: .init(batch: role.batch, maxFail: role.maxFail))
    }

    /// The plan as text for an operator.
    public static func describe(_ plan: HostPlan) -> String {
        var lines = [
            "host      \(plan.name)",
            "role      \(plan.role)",
            "macs      \(plan.macs.isEmpty ? "none" : plan.macs.joined(separator: ", "))",
            "address   \(plan.address ?? "none")",
            "site      \(plan.site ?? "none")",
            "bundle    \(plan.bundle.repository) @ \(plan.bundle.ref)"
                + (plan.bundle.pin.map { ", pinned to \($0.commit.prefix(12))" } ?? ", not pinned"),
            "install   \(plan.install.root) as \(plan.install.user):\(plan.install.group), keep \(plan.install.keep)",
            "services  \(plan.services.isEmpty ? "none" : plan.services.joined(separator: ", "))",
        ]
        if let run = plan.run { lines.append("run       \(run)") }
        if let drain = plan.hooks.drain { lines.append("drain     \(drain)") }
        if let undrain = plan.hooks.undrain { lines.append("undrain   \(undrain)") }
        lines.append(
            "rollout   batch \(plan.rollout.batch.steps.map(\.description).joined(separator: ", ")), max fail \(plan.rollout.maxFail.amount)"
        )
        for m in plan.monitors {
            var line =
                "monitor   \(m.name): \(m.kind.rawValue) \(m.target) every \(m.interval), timeout \(m.timeout), \(m.retries) retries"
            if let expect = m.expect { line += ", expect \(expect)" }
            if let body = m.body { line += ", body contains '\(body)'" }
            lines.append(line)
        }
        for (k, v) in plan.vars.sorted(by: { $0.key < $1.key }) { lines.append("var       \(k) = \(v)") }
        return lines.joined(separator: "\n")
    }
}

/// What changed between two plans trees, per host and per role.
public struct PlanDiff: Sendable, Encodable {
    public struct HostChange: Sendable, Encodable {
        public var host: String
        public var change: String
        public var fields: [String]
    }

    public struct RoleChange: Sendable, Encodable {
        public var role: String
        public var change: String
    }

    public var hosts: [HostChange]
    public var roles: [RoleChange]

    public var isEmpty: Bool { hosts.isEmpty && roles.isEmpty }

    public init(from old: Plans, to new: Plans) {
        var roles: [RoleChange] = []
        func pinned(_ pin: BundlePin?) -> String { pin.map { String($0.commit.prefix(12)) } ?? "none" }
        for name in Set(old.roles.keys).union(new.roles.keys).sorted() {
            switch (old.roles[name], new.roles[name]) {
            case (nil, _?): roles.append(.init(role: name, change: "added"))
            case (_?, nil): roles.append(.init(role: name, change: "removed"))
            case (let a?, let b?):
                var what: [String] = []
                if a.fingerprint != b.fingerprint {
                    if a.bundleRef != b.bundleRef { what.append("bundle ref \(a.bundleRef) → \(b.bundleRef)") }
                    if a.bundleRepository != b.bundleRepository { what.append("bundle repository") }
                    if what.isEmpty { what.append("role file changed") }
                }
                // The same ref pinned to another commit: the tag moved between the two commits of the plans.
                let (pa, pb) = (old.pin(of: name), new.pin(of: name))
                if pa != pb { what.append("pin \(pinned(pa)) → \(pinned(pb))") }
                if !what.isEmpty { roles.append(.init(role: name, change: what.joined(separator: "; "))) }
            case (nil, nil): break
            }
        }
        var hosts: [HostChange] = []
        let oldHosts = Dictionary(old.hosts.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        let newHosts = Dictionary(new.hosts.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        for name in Set(oldHosts.keys).union(newHosts.keys).sorted() {
            switch (oldHosts[name], newHosts[name]) {
            case (nil, let h?): hosts.append(.init(host: name, change: "added", fields: ["role \(h.role)"]))
            case (_?, nil): hosts.append(.init(host: name, change: "removed", fields: []))
            case (let a?, let b?):
                let pa = old.plan(for: a)
                let pb = new.plan(for: b)
                guard pa != pb else { continue }
                var fields: [String] = []
                if pa.role != pb.role { fields.append("role \(pa.role) → \(pb.role)") }
                if pa.macs != pb.macs {
                    fields.append("macs \(pa.macs.joined(separator: ",")) → \(pb.macs.joined(separator: ","))")
                }
                if pa.address != pb.address {
                    fields.append("address \(pa.address ?? "none") → \(pb.address ?? "none")")
                }
                if pa.site != pb.site { fields.append("site \(pa.site ?? "none") → \(pb.site ?? "none")") }
                if pa.bundle != pb.bundle { fields.append("bundle \(pa.bundle.ref) → \(pb.bundle.ref)") }
                if pa.install != pb.install { fields.append("install") }
                if pa.services != pb.services { fields.append("services") }
                if pa.monitors != pb.monitors { fields.append("monitors") }
                if pa.hooks != pb.hooks || pa.run != pb.run { fields.append("hooks") }
                if pa.rollout != pb.rollout { fields.append("rollout") }
                if pa.vars != pb.vars { fields.append("vars") }
                hosts.append(.init(host: name, change: "changed", fields: fields))
            default: break
            }
        }
        self.hosts = hosts
        self.roles = roles
    }

    public var text: String {
        if isEmpty { return "no changes to hosts or roles" }
        var lines: [String] = []
        for r in roles { lines.append("role \(r.role): \(r.change)") }
        for h in hosts {
            lines.append(
                "host \(h.host): \(h.change)" + (h.fields.isEmpty ? "" : " (\(h.fields.joined(separator: "; ")))"))
        }
        return lines.joined(separator: "\n")
    }
}
