import Database
import FoundationEssentials
import Git
import Glibc
import Schema
import YAML

struct PlanBuilder {
    let source: PlanSource
    let decoder: YAMLDecoder
    var issues: [PlanIssue] = []

    init(source: PlanSource, decoder: YAMLDecoder) {
        self.source = source
        self.decoder = decoder
    }

    mutating func issue(_ location: SourceLocation?, _ message: String, path: String = "") {
        issues.append(PlanIssue(location, message, path: path))
    }

    func name(_ relative: String) -> String { source.label + relative }

    mutating func decode<T: Decodable>(_ type: T.Type, _ relative: String) -> T? {
        do {
            return try decoder.decode(type, from: source.files[relative] ?? [], file: name(relative))
        } catch {
            issues.append(PlanIssue(error.location, error.message, path: error.path))
            return nil
        }
    }

    mutating func build() -> Plans? {
        let paths = source.files.keys.sorted()
        var roleFiles: [String] = []
        var hostFiles: [String] = []
        for path in paths where path.hasSuffix(".yaml") || path.hasSuffix(".yml") {
            let parts = path.split(separator: "/")
            if path == "site.yaml" || path == "site.yml" || path == Plans.pinsFileName { continue }
            if parts.count == 2 && parts[0] == "roles" {
                roleFiles.append(path)
            } else if path == "hosts.yaml" || path == "hosts.yml" || (parts.count == 2 && parts[0] == "hosts") {
                hostFiles.append(path)
            } else {
                issue(
                    SourceLocation(file: name(path), line: 1, column: 1),
                    "unexpected plan file (plans are site.yaml, roles/NAME.yaml, hosts.yaml and hosts/*.yaml)")
            }
        }
        let sitePath = source.files["site.yaml"] != nil ? "site.yaml" : "site.yml"
        guard source.files[sitePath] != nil else {
            issue(
                SourceLocation(file: name("site.yaml"), line: 0, column: 0),
                "site.yaml is missing (it names the bundle repositories' base URL)")
            return nil
        }
        guard let siteFile = decode(SiteFile.self, sitePath) else { return nil }
        let defaults = Plans.Defaults(
            bundlesBase: siteFile.bundles.value, inventory: siteFile.inventory, monitoring: siteFile.monitoring,
            batch: siteFile.rollout?.batch ?? BatchPlan(steps: [.count(1)]),
            maxFail: siteFile.rollout?.maxFail ?? FailureBudget(.count(0)))
        checkURL(siteFile.bundles.value, siteFile.bundles.location, path: "bundles", allowRelative: false)
        if let url = siteFile.inventory, (try? DatabaseURL(url)) == nil {
            issue(
                SourceLocation(file: name(sitePath), line: 1, column: 1),
                "inventory: '\(url)' is not sqlite:PATH or postgres://… (without a password)")
        }
        var sites: [String: Plans.Site] = [:]
        for (siteName, spec) in siteFile.sites ?? [:] {
            sites[siteName] = Plans.Site(name: siteName, description: spec.description, timeZone: spec.timeZone)
        }

        var roles: [String: Plans.Role] = [:]
        for path in roleFiles {
            let roleName = String(path.split(separator: "/")[1].split(separator: ".")[0])
            if !isName(roleName) {
                issue(
                    SourceLocation(file: name(path), line: 1, column: 1),
                    "role name '\(roleName)' must be lowercase letters, digits, - and _")
            }
            guard let file = decode(RoleFile.self, path) else { continue }
            if let role = buildRole(roleName, file, path: path, defaults: defaults) { roles[roleName] = role }
        }

        var hosts: [Plans.Host] = []
        var seenNames: [String: SourceLocation?] = [:]
        var seenMACs: [String: (String, SourceLocation?)] = [:]
        for path in hostFiles {
            guard let file = decode(HostsFile.self, path) else { continue }
            for (index, entry) in file.hosts.enumerated() {
                let spec = entry.value
                let hostPath = "hosts[\(index)]"
                let hostName = spec.name.value
                if !isHostname(hostName) {
                    issue(
                        spec.name.location,
                        "'\(hostName)' is not a valid host name (letters, digits, - and ., like a DNS name)",
                        path: "\(hostPath).name")
                }
                if let first = seenNames[hostName] {
                    issue(
                        spec.name.location,
                        "host '\(hostName)' is declared twice (first at \(first.map(\.description) ?? "?"))",
                        path: "\(hostPath).name")
                    continue
                }
                seenNames[hostName] = spec.name.location
                if [spec.mac != nil, spec.macs != nil, spec.interfaces != nil].filter({ $0 }).count > 1 {
                    issue(entry.location, "give one of `mac`, `macs` and `interfaces`", path: hostPath)
                }
                // Each MAC with the interface name the plans give it, if any (names sorted: a stable order).
                var given: [(Located<String>, String?)] = ((spec.mac ?? spec.macs)?.value.values ?? []).map {
                    ($0, nil)
                }
                for (name, mac) in (spec.interfaces?.value ?? [:]).sorted(by: { $0.key < $1.key }) {
                    if isInterfaceName(name) {
                        given.append((mac, name))
                    } else {
                        issue(
                            mac.location,
                            "'\(name)' is not an interface name (1 to 15 letters, digits, '.', '_' or '-')",
                            path: "\(hostPath).interfaces")
                    }
                }
                var macs: [String] = []
                var interfaces: [String: String] = [:]
                for (located, interface) in given {
                    do {
                        let mac = try ValueNormalizer.macAddress(located.value)
                        if let (owner, at) = seenMACs[mac] {
                            issue(
                                located.location,
                                "MAC \(mac) is already \(owner)'s (at \(at.map(\.description) ?? "?"))",
                                path: "\(hostPath).mac")
                        } else {
                            seenMACs[mac] = (hostName, located.location)
                            macs.append(mac)
                            interfaces[mac] = interface
                        }
                    } catch {
                        issue(located.location, error.message, path: "\(hostPath).mac")
                    }
                }
                var tags: [String] = []
                for tag in spec.tags ?? [] {
                    if isPlanTag(tag.value) {
                        if !tags.contains(tag.value) { tags.append(tag.value) }
                    } else {
                        issue(
                            tag.location,
                            "'\(tag.value)' is not a tag (1 to 64 letters, digits, '.', '_' or '-': a selection names it as tag=…)",
                            path: "\(hostPath).tags")
                    }
                }
                var address: String?
                if let a = spec.address {
                    do {
                        address = try ValueNormalizer.inetAddress(a.value)
                    } catch {
                        issue(a.location, error.message, path: "\(hostPath).address")
                        address = a.value  // reported once; templates need not report it again
                    }
                }
                if roles[spec.role.value] == nil && !roleFiles.contains("roles/\(spec.role.value).yaml") {
                    let known = roleFiles.map { String($0.dropFirst("roles/".count).split(separator: ".")[0]) }
                    issue(
                        spec.role.location,
                        "unknown role '\(spec.role.value)'\(suggestionSuffix(for: spec.role.value, among: known))",
                        path: "\(hostPath).role")
                }
                if let site = spec.site, sites[site.value] == nil {
                    issue(
                        site.location,
                        "unknown site '\(site.value)'\(suggestionSuffix(for: site.value, among: sites.keys.sorted())) (sites are declared in site.yaml)",
                        path: "\(hostPath).site")
                }
                var vars: [String: String] = [:]
                for (k, v) in spec.vars ?? [:] { vars[k] = text(v) }
                for builtin in ["name", "role", "address", "site", "mac"] where vars[builtin] != nil {
                    issue(
                        entry.location, "host variable '\(builtin)' would hide the built-in {{\(builtin)}}",
                        path: "\(hostPath).vars")
                }
                hosts.append(
                    Plans.Host(
                        name: hostName, macs: macs, role: spec.role.value, address: address, site: spec.site?.value,
                        vars: vars, location: entry.location, tags: tags, interfaces: interfaces))
            }
        }
        var plans = Plans(defaults: defaults, sites: sites, roles: roles, hosts: hosts)
        plans.pins = readPins(roles: roles)
        checkTemplates(plans)
        return plans
    }

    /// pins.yaml, when there is one: each entry names a role, and a commit and manifest digest in hex.
    mutating func readPins(roles: [String: Plans.Role]) -> [String: Plans.Pin] {
        guard source.files[Plans.pinsFileName] != nil, let file = decode(PinsFile.self, Plans.pinsFileName) else {
            return [:]
        }
        var pins: [String: Plans.Pin] = [:]
        for (role, entry) in file.pins {
            let spec = entry.value
            if roles[role] == nil {
                issue(entry.location, "pins.yaml pins unknown role '\(role)'", path: "pins.\(role)")
            }
            func isHex(_ text: String, _ count: Int) -> Bool {
                text.count == count && text.allSatisfy { $0.isHexDigit && !$0.isUppercase }
            }
            guard isHex(spec.commit, 40), isHex(spec.manifestSHA256, 64) else {
                issue(
                    entry.location,
                    "pins.yaml: role \(role)'s commit must be 40 and manifest_sha256 64 lowercase hex digits",
                    path: "pins.\(role)")
                continue
            }
            pins[role] = Plans.Pin(
                repository: spec.repository, ref: spec.ref,
                pin: BundlePin(commit: spec.commit, manifestSHA256: spec.manifestSHA256))
        }
        return pins
    }

    mutating func buildRole(_ roleName: String, _ file: RoleFile, path: String, defaults: Plans.Defaults) -> Plans.Role?
    {
        let fileName = name(path)
        let issuesBefore = issues.count
        let repo = file.bundle.repo.value
        checkURL(repo, file.bundle.repo.location, path: "bundle.repo", allowRelative: true)
        let repository = isAbsoluteURL(repo) ? repo : defaults.bundlesBase.trimmingSuffix("/") + "/" + repo
        let root = file.install.root
        if !root.value.hasPrefix("/") || root.value.split(separator: "/").contains("..") || root.value == "/" {
            issue(
                root.location,
                "the install root must be an absolute path other than / without '..' (got '\(root.value)')",
                path: "install.root")
        }
        let rootTemplate = parseTemplate(root.value, root.location, path: "install.root")
        let keep = file.install.keep ?? 5
        if keep < 1 {
            issue(
                SourceLocation(file: fileName, line: 1, column: 1), "install.keep must be at least 1 (got \(keep))",
                path: "install.keep")
        }
        for account in [file.install.user, file.install.group].compactMap({ $0 }) where !isAccountName(account) {
            issue(root.location, "'\(account)' is not a valid user or group name", path: "install")
        }
        for (i, unit) in (file.services ?? []).enumerated() where !isUnitName(unit) {
            issue(
                SourceLocation(file: fileName, line: 1, column: 1),
                "'\(unit)' is not a systemd unit name (e.g. web.service)", path: "services[\(i)]")
        }
        var vars: [String: String] = [:]
        for (k, v) in file.vars ?? [:] { vars[k] = text(v) }
        var monitors: [Plans.Monitor] = []
        var monitorNames = Set<String>()
        for (i, located) in (file.monitors ?? []).enumerated() {
            let spec = located.value
            let monitorPath = "monitors[\(i)]"
            if !monitorNames.insert(spec.name).inserted {
                issue(located.location, "monitor '\(spec.name)' is declared twice in this role", path: monitorPath)
            }
            let targets = [(MonitorKind.http, spec.http), (.tcp, spec.tcp), (.command, spec.command)].compactMap {
                kind, value in
                value.map { (kind, $0) }
            }
            guard targets.count == 1, let (kind, target) = targets.first else {
                issue(
                    located.location,
                    targets.isEmpty
                        ? "monitor '\(spec.name)' has no target: give one of http, tcp or command"
                        : "monitor '\(spec.name)' has several targets: give only one of http, tcp or command",
                    path: monitorPath)
                continue
            }
            if kind != .http && (spec.expect != nil || spec.body != nil) {
                issue(located.location, "`expect` and `body` apply to http monitors only", path: monitorPath)
            }
            if let expect = spec.expect, !(100...599).contains(expect) {
                issue(located.location, "expect: \(expect) is not an HTTP status", path: "\(monitorPath).expect")
            }
            if let retries = spec.retries, retries < 0 {
                issue(located.location, "retries cannot be negative", path: "\(monitorPath).retries")
            }
            let interval = spec.interval ?? PlanDuration(milliseconds: 10_000)
            let timeout = spec.timeout ?? PlanDuration(milliseconds: 2_000)
            if interval.milliseconds == 0 || timeout.milliseconds == 0 {
                issue(located.location, "interval and timeout must be longer than 0", path: monitorPath)
            }
            guard let template = parseTemplate(target.value, target.location, path: "\(monitorPath).\(kind.rawValue)")
            else { continue }
            if kind == .tcp, !target.value.contains(":") {
                issue(target.location, "a tcp target is HOST:PORT (got '\(target.value)')", path: "\(monitorPath).tcp")
            }
            if kind == .http, !(target.value.hasPrefix("http://") || target.value.hasPrefix("https://")) {
                issue(
                    target.location, "an http target is an http:// or https:// URL (got '\(target.value)')",
                    path: "\(monitorPath).http")
            }
            if spec.tlsSkipVerify == true, !(kind == .http && target.value.hasPrefix("https://")) {
                issue(
                    located.location, "tls_skip_verify is for https:// checks only",
                    path: "\(monitorPath).tls_skip_verify")
            }
            var monitor = Plans.Monitor(
                name: spec.name, kind: kind, target: template, expect: kind == .http ? (spec.expect ?? 200) : nil,
                body: spec.body,
                interval: interval, timeout: timeout, retries: spec.retries ?? 3,
                stableFor: spec.stableFor ?? PlanDuration(milliseconds: 0))
            monitor.tlsSkipVerify = spec.tlsSkipVerify ?? false
            monitors.append(monitor)
        }
        let run = file.run.flatMap { parseTemplate($0.value, $0.location, path: "run") }
        let drain = file.hooks?.drain.flatMap { parseTemplate($0.value, $0.location, path: "hooks.drain") }
        let undrain = file.hooks?.undrain.flatMap { parseTemplate($0.value, $0.location, path: "hooks.undrain") }
        guard issues.count == issuesBefore, let rootTemplate else { return nil }
        let fingerprint = String(decoding: source.files[path] ?? [], as: UTF8.self)
        return Plans.Role(
            name: roleName, description: file.description, bundleRepository: repository, bundleRef: file.bundle.ref,
            installRoot: rootTemplate, user: file.install.user ?? "root", group: file.install.group ?? "root",
            keep: keep,
            services: file.services ?? [], run: run, vars: vars, drain: drain, undrain: undrain,
            hookTimeout: file.hooks?.timeout ?? PlanDuration(milliseconds: 60_000), monitors: monitors,
            batch: file.rollout?.batch ?? defaults.batch, maxFail: file.rollout?.maxFail ?? defaults.maxFail,
            file: fileName,
            fingerprint: fingerprint)
    }

    mutating func parseTemplate(_ text: String, _ location: SourceLocation?, path: String) -> Template? {
        do {
            return try Template(text, location: location)
        } catch {
            issues.append(PlanIssue(error.location, error.message, path: path))
            return nil
        }
    }

    /// Every variable of every template must be known for every host of the role; each unknown
    /// (template, variable) is reported once, naming the first host it fails for.
    mutating func checkTemplates(_ plans: Plans) {
        var reported = Set<String>()
        for host in plans.hosts {
            guard let role = plans.roles[host.role] else { continue }
            let values = plans.variables(for: host)
            var templates: [Template] = role.monitors.map(\.target)
            templates += [role.run, role.drain, role.undrain, role.installRoot].compactMap { $0 }
            if case .success(let root) = role.installRoot.render(values),
                root.split(separator: "/").contains("..") || root.contains("//")
            {
                let key = "root|\(role.name)|\(host.name)"
                if reported.insert(key).inserted {
                    issue(
                        role.installRoot.location,
                        "the install root of host \(host.name) would be '\(root)': no '..' or empty components",
                        path: "install.root")
                }
            }
            for template in templates {
                for variable in template.variables where values[variable] == nil {
                    let key = "\(template.location?.description ?? template.text)|\(variable)"
                    guard reported.insert(key).inserted else { continue }
                    let builtinMissing = ["address", "site", "mac"].contains(variable)
                    let message =
                        builtinMissing
                        ? "{{\(variable)}} needs the host's \(variable), and host \(host.name) (\(host.location?.description ?? "?")) has none"
                        : "unknown template variable '{{\(variable)}}' for host \(host.name) (\(host.location?.description ?? "?"))\(suggestionSuffix(for: variable, among: values.keys.sorted()))"
                    issue(template.location, message)
                }
            }
        }
    }

    mutating func checkURL(_ url: String, _ location: SourceLocation?, path: String, allowRelative: Bool) {
        if url.isEmpty { issue(location, "empty repository URL", path: path) }
        if isAbsoluteURL(url) { return }
        if allowRelative {
            if url.hasPrefix("/") || url.split(separator: "/").contains("..") {
                issue(
                    location, "'\(url)' must be a URL or a path relative to site.yaml's bundles (no '..')", path: path)
            }
            return
        }
        issue(location, "'\(url)' is not a repository URL (an absolute path, file://, ssh:// or https://)", path: path)
    }

    func isAbsoluteURL(_ url: String) -> Bool {
        url.hasPrefix("/") || url.hasPrefix("file://") || url.hasPrefix("ssh://") || url.hasPrefix("https://")
            || url.hasPrefix("http://")
    }

    func text(_ value: YAMLValue) -> String {
        switch value {
        case .string(let s): return s
        case .integer(let i): return String(i)
        case .double(let d): return String(d)
        case .bool(let b): return b ? "true" : "false"
        case .null: return ""
        default: return value.jsonText
        }
    }

    func isName(_ s: String) -> Bool {
        guard let first = s.first, first.isLowercase || first.isNumber else { return false }
        return s.allSatisfy { ($0.isLowercase && $0.isASCII) || $0.isNumber || $0 == "-" || $0 == "_" }
    }

    func isHostname(_ s: String) -> Bool {
        guard !s.isEmpty, s.count <= 253 else { return false }
        return s.split(separator: ".", omittingEmptySubsequences: false).allSatisfy { label in
            !label.isEmpty && label.count <= 63 && label.first != "-" && label.last != "-"
                && label.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }
        }
    }

    func isAccountName(_ s: String) -> Bool {
        guard let first = s.first, first.isLowercase || first == "_" else { return false }
        return s.count <= 32 && s.allSatisfy { ($0.isLowercase && $0.isASCII) || $0.isNumber || $0 == "-" || $0 == "_" }
    }

    func isUnitName(_ s: String) -> Bool {
        let suffixes = [".service", ".socket", ".timer", ".target", ".path", ".mount"]
        // A leading '-' would be read by systemctl as an option.
        guard suffixes.contains(where: { s.hasSuffix($0) }), s.count > 8, s.first != "-" else { return false }
        return s.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "-_.@:\\".contains($0)) }
    }
}

/// A Linux interface name as the kernel takes it (IFNAMSIZ less the NUL), in the characters udev and admins use.
func isInterfaceName(_ name: String) -> Bool {
    (1...15).contains(name.utf8.count) && name != "." && name != ".." && name.utf8.allSatisfy(isNameByte)
}

/// A tag the plans may give a host: what a selection's `tag=` term can name without quoting.
func isPlanTag(_ tag: String) -> Bool {
    (1...64).contains(tag.utf8.count) && tag.utf8.allSatisfy(isNameByte)
}

/// ASCII letters and digits, '.', '_' and '-'.
private func isNameByte(_ byte: UInt8) -> Bool {
    switch byte {
    case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
        UInt8(ascii: "0")...UInt8(ascii: "9"),
        UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "-"):
        true
    default: false
    }
}
