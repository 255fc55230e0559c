import Text
import YAML

/// A length of time written as `10s`, `500ms`, `2m`, `1h30m`, or a number of seconds.
public struct PlanDuration: Decodable, Sendable, Hashable, Encodable, CustomStringConvertible {
    public var milliseconds: Int64

    public init(milliseconds: Int64) {
        self.milliseconds = milliseconds
    }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let ms = PlanDuration.parse(text) else {
            throw DecodingError.dataCorrupted(
                .init(
                    codingPath: decoder.codingPath,
                    debugDescription: "'\(text)' is not a duration (e.g. 500ms, 10s, 2m, 1h)"))
        }
        milliseconds = ms
    }

    public static func parse(_ text: String) -> Int64? {
        if let seconds = Int64(text), seconds >= 0 { return seconds * 1000 }
        var total: Int64 = 0
        var number = ""
        var unit = ""
        var sawAny = false
        func flush() -> Bool {
            guard let n = Int64(number) else { return false }
            let factor: Int64
            switch unit {
            case "ms": factor = 1
            case "s": factor = 1000
            case "m": factor = 60_000
            case "h": factor = 3_600_000
            default: return false
            }
            total += n * factor
            number = ""
            unit = ""
            sawAny = true
            return true
        }
        for c in text {
            if c.isNumber {
                if !unit.isEmpty { guard flush() else { return nil } }
                number.append(c)
            } else {
                guard !number.isEmpty else { return nil }
                unit.append(c)
            }
        }
        if !number.isEmpty || !unit.isEmpty { guard flush() else { return nil } }
        return sawAny ? total : nil
    }

    public var seconds: Double { Double(milliseconds) / 1000 }

    public var description: String {
        milliseconds % 1000 == 0 ? "\(milliseconds / 1000)s" : "\(milliseconds)ms"
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }
}

struct AmountError: Error {
    var message: String
    init(_ message: String) { self.message = message }
}

/// How many hosts: a count (`5`) or a percentage of the hosts (`25%`).
public enum Amount: Sendable, Hashable, Encodable, CustomStringConvertible {
    case count(Int)
    case percent(Int)

    static func parse(_ text: String, allowZero: Bool) -> Result<Amount, AmountError> {
        if text.hasSuffix("%") {
            guard let p = Int(text.dropLast()) else { return .failure(AmountError("'\(text)' is not a percentage")) }
            guard p <= 100 else { return .failure(AmountError("'\(text)' is over 100%")) }
            guard p > 0 || allowZero else { return .failure(AmountError("'\(text)' must be more than 0%")) }
            return .success(.percent(p))
        }
        guard let n = Int(text), n >= 0 else {
            return .failure(AmountError("'\(text)' is not a count or a percentage (e.g. 2 or 25%)"))
        }
        guard n > 0 || allowZero else { return .failure(AmountError("'\(text)' must be at least 1")) }
        return .success(.count(n))
    }

    /// The number of hosts out of `total` (percentages round up, so 10% of 5 is 1).
    public func of(_ total: Int) -> Int {
        switch self {
        case .count(let n): return n
        case .percent(let p): return (total * p + 99) / 100
        }
    }

    public var description: String {
        switch self {
        case .count(let n): return "\(n)"
        case .percent(let p): return "\(p)%"
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .count(let n): try c.encode(n)
        case .percent: try c.encode(description)
        }
    }
}

/// Batch sizes of a rollout: one amount for every batch, or a ramp such as `[1, 5, "25%"]` (the last step repeats).
public struct BatchPlan: Decodable, Sendable, Hashable, Encodable {
    public var steps: [Amount]

    public init(steps: [Amount]) {
        self.steps = steps
    }

    public init(from decoder: any Decoder) throws {
        var texts: [String] = []
        if case .sequence = decoder.yamlNode?.content {
            texts = try [String](from: decoder)
            if texts.isEmpty {
                throw DecodingError.dataCorrupted(
                    .init(codingPath: decoder.codingPath, debugDescription: "a ramp needs at least one step"))
            }
        } else {
            texts = [try String(from: decoder)]
        }
        steps = []
        for text in texts {
            switch Amount.parse(text, allowZero: false) {
            case .success(let a): steps.append(a)
            case .failure(let error):
                throw DecodingError.dataCorrupted(
                    .init(codingPath: decoder.codingPath, debugDescription: error.message))
            }
        }
    }

    public func encode(to encoder: any Encoder) throws {
        if steps.count == 1 { try steps[0].encode(to: encoder) } else { try steps.encode(to: encoder) }
    }
}

/// A failure budget: a count or a percentage of the hosts.
public struct FailureBudget: Decodable, Sendable, Hashable, Encodable {
    public var amount: Amount

    public init(_ amount: Amount) {
        self.amount = amount
    }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        switch Amount.parse(text, allowZero: true) {
        case .success(let a): amount = a
        case .failure(let error):
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: error.message))
        }
    }

    public func encode(to encoder: any Encoder) throws { try amount.encode(to: encoder) }
}

public struct RolloutSpec: Decodable, Sendable, Hashable {
    public var batch: BatchPlan?
    public var maxFail: FailureBudget?

    enum CodingKeys: String, CodingKey {
        case batch
        case maxFail = "max_fail"
    }
}

// MARK: files

/// `site.yaml`: defaults for the whole plans tree.
struct SiteFile: Decodable {
    var bundles: Located<String>
    var inventory: String?
    var monitoring: MonitoringSpec?
    var rollout: RolloutSpec?
    var sites: [String: SiteSpec]?

    struct SiteSpec: Decodable, Sendable {
        var description: String?
        var timeZone: String?
        enum CodingKeys: String, CodingKey {
            case description
            case timeZone = "time_zone"
        }
    }
}

public struct MonitoringSpec: Decodable, Sendable, Hashable, Encodable {
    public struct Prometheus: Decodable, Sendable, Hashable, Encodable {
        public var fileSD: String
        enum CodingKeys: String, CodingKey { case fileSD = "file_sd" }
    }

    public struct Consul: Decodable, Sendable, Hashable, Encodable {
        public var agent: String?
        public var configDir: String?
        /// The agents run with `enable_local_script_checks`: command monitors go into the definition. Without
        /// it Consul refuses a whole service definition that holds one, its HTTP and TCP checks too.
        public var scriptChecks: Bool?
        enum CodingKeys: String, CodingKey {
            case agent
            case configDir = "config_dir"
            case scriptChecks = "script_checks"
        }
    }

    public var prometheus: Prometheus?
    public var consul: Consul?
}

/// `roles/NAME.yaml`.
struct RoleFile: Decodable {
    var description: String?
    var bundle: BundleSpec
    var install: InstallSpec
    var services: [String]?
    var run: Located<String>?
    var vars: [String: YAMLValue]?
    var hooks: HooksSpec?
    var monitors: [Located<MonitorSpec>]?
    var rollout: RolloutSpec?

    struct BundleSpec: Decodable {
        var repo: Located<String>
        var ref: String
    }

    struct InstallSpec: Decodable {
        var root: Located<String>
        var user: String?
        var group: String?
        var keep: Int?
    }

    struct HooksSpec: Decodable {
        var drain: Located<String>?
        var undrain: Located<String>?
        var timeout: PlanDuration?
    }

    struct MonitorSpec: Decodable, Sendable {
        var name: String
        var http: Located<String>?
        var tcp: Located<String>?
        var command: Located<String>?
        var expect: Int?
        var body: String?
        var interval: PlanDuration?
        var timeout: PlanDuration?
        var retries: Int?
        var stableFor: PlanDuration?
        var tlsSkipVerify: Bool?

        enum CodingKeys: String, CodingKey {
            case name, http, tcp, command, expect, body, interval, timeout, retries
            case stableFor = "stable_for"
            case tlsSkipVerify = "tls_skip_verify"
        }
    }
}

/// `hosts.yaml` or `hosts/*.yaml`.
struct HostsFile: Decodable {
    var hosts: [Located<HostSpec>]

    struct HostSpec: Decodable, Sendable {
        var name: Located<String>
        var mac: Located<MACList>?
        var macs: Located<MACList>?
        var role: Located<String>
        var address: Located<String>?
        var site: Located<String>?
        var vars: [String: YAMLValue]?
        var tags: [Located<String>]?
        /// Interface name → MAC address: `mac`/`macs` with the names the host gives its interfaces.
        var interfaces: Located<[String: Located<String>]>?
    }
}

/// One MAC address or a list of them.
struct MACList: Decodable, Sendable {
    var values: [Located<String>]

    init(from decoder: any Decoder) throws {
        if case .sequence = decoder.yamlNode?.content {
            values = try [Located<String>](from: decoder)
        } else {
            values = [try Located<String>(from: decoder)]
        }
    }
}

extension BatchPlan {
    /// From command-line text: a count, a percentage, or a ramp of them separated by commas (`1,5,25%`).
    public init(parsing text: String) throws(PlanIssue) {
        var steps: [Amount] = []
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            switch Amount.parse(part.trimmedSpaces(), allowZero: false) {
            case .success(let a): steps.append(a)
            case .failure(let error): throw PlanIssue(nil, error.message)
            }
        }
        self.init(steps: steps)
    }
}

extension FailureBudget {
    /// From command-line text: a count or a percentage of the hosts (`0`, `2`, `10%`).
    public init(parsing text: String) throws(PlanIssue) {
        switch Amount.parse(text.trimmedSpaces(), allowZero: true) {
        case .success(let a): self.init(a)
        case .failure(let error): throw PlanIssue(nil, error.message)
        }
    }
}

extension PlanDuration {
    /// The same length as the standard library's duration (for clocks, sleeps and timeouts).
    public var standard: Swift.Duration { .milliseconds(milliseconds) }
}

/// pins.yaml: `pins: {ROLE: {repository, ref, commit, manifest_sha256}}`.
struct PinsFile: Decodable {
    struct PinSpec: Decodable, Sendable {
        var repository: String
        var ref: String
        var commit: String
        var manifestSHA256: String
        enum CodingKeys: String, CodingKey {
            case repository, ref, commit
            case manifestSHA256 = "manifest_sha256"
        }
    }
    var pins: [String: Located<PinSpec>]
}

extension Plans {
    /// The file of pins in a plans tree.
    public static let pinsFileName = "pins.yaml"
}
