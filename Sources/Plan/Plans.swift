import Database
import FoundationEssentials
import Git
import Glibc
import Schema
import YAML

/// A validated plans tree: site defaults, roles and hosts.
public struct Plans: Sendable {
    public struct Site: Sendable, Hashable, Encodable {
        public var name: String
        public var description: String?
        public var timeZone: String?
    }

    public struct Defaults: Sendable {
        /// Base URL of bundle repositories; a role's relative `bundle.repo` is resolved against it.
        public var bundlesBase: String
        public var inventory: String?
        public var monitoring: MonitoringSpec?
        public var batch: BatchPlan
        public var maxFail: FailureBudget
    }

    /// A monitor as the role declares it, its target a template.
    public typealias Monitor = Plan.Monitor<Template>

    public struct Role: Sendable {
        public var name: String
        public var description: String?
        public var bundleRepository: String
        public var bundleRef: String
        /// May use host variables (`/srv/{{name}}`, for several instances on one machine).
        public var installRoot: Template
        public var user: String
        public var group: String
        public var keep: Int
        public var services: [String]
        public var run: Template?
        public var vars: [String: String]
        public var drain: Template?
        public var undrain: Template?
        public var hookTimeout: PlanDuration
        public var monitors: [Monitor]
        public var batch: BatchPlan
        public var maxFail: FailureBudget
        public var file: String
        /// The role file as written, for diffs.
        var fingerprint: String
    }

    public struct Host: Sendable, Hashable {
        public var name: String
        public var macs: [String]
        public var role: String
        public var address: String?
        public var site: String?
        public var vars: [String: String]
        public var location: SourceLocation?
        /// Labels a selection can name (`tag=canary`), beside the inventory's tags of the host.
        public var tags: [String] = []
        /// The name of the interface each MAC is on, where the plans give it (`interfaces: {eno1: MAC}`).
        public var interfaces: [String: String] = [:]
    }

    /// A role's bundle as `plan commit` pinned it (pins.yaml, written with the signed commit).
    public struct Pin: Sendable, Hashable {
        public var repository: String
        public var ref: String
        public var pin: BundlePin

        public init(repository: String, ref: String, pin: BundlePin) {
            self.repository = repository
            self.ref = ref
            self.pin = pin
        }
    }

    public var defaults: Defaults
    public var sites: [String: Site]
    public var roles: [String: Role]
    public var hosts: [Host]
    /// Role → its pin, as pins.yaml holds them (possibly stale: see `pin(of:)`).
    public var pins: [String: Pin] = [:]
    private var byName: [String: Int]
    private var byMAC: [String: Int]

    init(defaults: Defaults, sites: [String: Site], roles: [String: Role], hosts: [Host]) {
        self.defaults = defaults
        self.sites = sites
        self.roles = roles
        self.hosts = hosts
        var byName: [String: Int] = [:]
        var byMAC: [String: Int] = [:]
        for (i, host) in hosts.enumerated() {
            byName[host.name] = byName[host.name] ?? i
            for mac in host.macs { byMAC[mac] = byMAC[mac] ?? i }
        }
        self.byName = byName
        self.byMAC = byMAC
    }

    /// The pin of a role's bundle, when there is one for the repository and ref the role names now (a role
    /// changed since the last `plan commit` has none until the next).
    public func pin(of role: String) -> BundlePin? {
        guard let r = roles[role], let p = pins[role], p.repository == r.bundleRepository, p.ref == r.bundleRef
        else { return nil }
        return p.pin
    }

    /// pins.yaml for these pins (what `plan commit` writes beside the plans and into the signed commit).
    public static func pinsFile(_ pins: [String: Pin]) -> [UInt8] {
        var text =
            "# Written by `redeye plan commit`: the bundle commit each role's ref resolved to when these plans were\n"
            + "# signed. Boot and deploy refuse any other commit under that ref. Do not edit; commit again to re-pin.\n"
            + "pins:\n"
        for (role, p) in pins.sorted(by: { $0.key < $1.key }) {
            text += "  \(role):\n    repository: \(jsonQuote(p.repository))\n    ref: \(jsonQuote(p.ref))\n"
            text += "    commit: \(p.pin.commit)\n    manifest_sha256: \(p.pin.manifestSHA256)\n"
        }
        if pins.isEmpty { text += "  {}\n" }
        return Array(text.utf8)
    }

    /// The host with this name, or with this MAC address (in any common notation).
    public func host(_ nameOrMAC: String) -> Host? {
        if let i = byName[nameOrMAC] { return hosts[i] }
        if let mac = try? ValueNormalizer.macAddress(nameOrMAC), let i = byMAC[mac] { return hosts[i] }
        return nil
    }

    /// Every name a template can use for this host: its own facts, then host variables over role variables.
    public func variables(for host: Host) -> [String: String] {
        var values = roles[host.role]?.vars ?? [:]
        for (k, v) in host.vars { values[k] = v }
        values["name"] = host.name
        values["role"] = host.role
        if let address = host.address { values["address"] = address }
        if let site = host.site { values["site"] = site }
        if let mac = host.macs.first { values["mac"] = mac }
        return values
    }
}

/// Where plan files come from: a directory, or the tree of a git commit.
public struct PlanSource: Sendable {
    /// Relative path → contents.
    public var files: [String: [UInt8]]
    /// Prefix for locations in errors (`Plans/`, `v12:`).
    public var label: String

    public init(files: [String: [UInt8]], label: String) {
        self.files = files
        self.label = label
    }

    /// Every regular file under `directory` (hidden files and folders skipped).
    public static func directory(_ directory: String) throws(PlanError) -> PlanSource {
        let root = directory.hasSuffix("/") ? String(directory.dropLast()) : directory
        guard let top = try? FileManager.default.contentsOfDirectory(atPath: root) else {
            throw PlanError([
                PlanIssue(SourceLocation(file: root, line: 0, column: 0), "cannot read the plans directory")
            ])
        }
        var files: [String: [UInt8]] = [:]
        // Depth first, in name order; a hidden file or folder (.git) is not read, nor is anything beneath it.
        var pending = top.filter { !$0.hasPrefix(".") }.sorted().reversed().map { $0 }
        while let relative = pending.popLast() {
            let full = root + "/" + relative
            // Only real directories are walked into, never a symlink to one (as FileManager's enumerator did):
            // a link back up the tree would never end.
            var status = stat()
            guard lstat(full, &status) == 0 else { continue }
            if status.st_mode & S_IFMT == S_IFDIR {
                let names = (try? FileManager.default.contentsOfDirectory(atPath: full)) ?? []
                pending += names.filter { !$0.hasPrefix(".") }.sorted().reversed().map { relative + "/" + $0 }
                continue
            }
            var isDirectory = false
            guard FileManager.default.fileExists(atPath: full, isDirectory: &isDirectory), !isDirectory else {
                continue
            }
            guard let data = FileManager.default.contents(atPath: full) else {
                throw PlanError([PlanIssue(SourceLocation(file: full, line: 0, column: 0), "cannot read")])
            }
            files[relative] = Array(data)
        }
        return PlanSource(files: files, label: root + "/")
    }
}

/// Reads and validates plans, reporting every problem with its file, line and column.
public struct PlanLoader: Sendable {
    public var decoder = YAMLDecoder()

    public init() {}

    public func load(_ source: PlanSource) throws(PlanError) -> Plans {
        var builder = PlanBuilder(source: source, decoder: decoder)
        let plans = builder.build()
        if !builder.issues.isEmpty {
            throw PlanError(
                builder.issues.sorted {
                    ($0.location?.file ?? "", $0.location?.line ?? 0, $0.location?.column ?? 0) < (
                        $1.location?.file ?? "", $1.location?.line ?? 0, $1.location?.column ?? 0
                    )
                })
        }
        return plans!
    }

    public func load(directory: String) throws(PlanError) -> Plans {
        try load(try PlanSource.directory(directory))
    }
}

extension String {
    func trimmingSuffix(_ suffix: String) -> String {
        var s = self
        while s.hasSuffix(suffix) { s.removeLast(suffix.count) }
        return s
    }
}

/// What a monitor checks.
public enum MonitorKind: String, Sendable, Hashable, Encodable { case http, tcp, command }

/// One monitor: how a host is checked (by a deploy, and by the monitoring systems it is registered with). The
/// role declares it with a template target (`Plans.Monitor`); a host's plan has it filled in (`HostPlan.Monitor`).
public struct Monitor<Target: Sendable & Hashable>: Sendable, Hashable {
    public typealias Kind = MonitorKind
    public var name: String
    public var kind: MonitorKind
    public var target: Target
    public var expect: Int?
    public var body: String?
    public var interval: PlanDuration
    public var timeout: PlanDuration
    public var retries: Int
    public var stableFor: PlanDuration
    /// An https check that does not verify the server's certificate: only when the plans say so, and reported
    /// on every check.
    public var tlsSkipVerify = false

    /// The same monitor with another target (a role's template filled in for a host).
    public func with<Other>(target: Other) -> Monitor<Other> {
        var other = Monitor<Other>(
            name: name, kind: kind, target: target, expect: expect, body: body, interval: interval, timeout: timeout,
            retries: retries, stableFor: stableFor)
        other.tlsSkipVerify = tlsSkipVerify
        return other
    }
}

extension Monitor: Encodable where Target: Encodable {
    enum CodingKeys: String, CodingKey {
        case name, kind, target, expect, body, interval, timeout, retries
        case stableFor = "stable_for"
        case tlsSkipVerify = "tls_skip_verify"
    }
}
