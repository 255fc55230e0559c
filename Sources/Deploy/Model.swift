import FoundationEssentials
import Git
import Glibc
import Inventory
import Plan
import SSH
import TLS

public struct DeployError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// How to reach the hosts.
public struct SSHSettings: Sendable {
    public var user: String
    public var port: Int
    public var authentication: SSHAuthentication
    public var hostKeys: HostKeyPolicy
    public var connectTimeout: Swift.Duration
    /// The `redeye` executable on the hosts (the receiving end of a deploy).
    public var remoteRedeye: String
    /// A bastion every host is reached through (each host's connection opens its own connection to it).
    public var jump: JumpHost?
    /// What https health checks trust: a private CA file, else the system store.
    public var tlsTrust = TLSTrust()

    public init(
        user: String = "root", port: Int = 22, authentication: SSHAuthentication = .agent(socket: nil),
        hostKeys: HostKeyPolicy = HostKeyPolicy(), connectTimeout: Swift.Duration = .seconds(10),
        remoteRedeye: String = "redeye", jump: JumpHost? = nil
    ) {
        self.user = user
        self.port = port
        self.authentication = authentication
        self.hostKeys = hostKeys
        self.connectTimeout = connectTimeout
        self.remoteRedeye = remoteRedeye
        self.jump = jump
    }
}

/// What a deploy does: which role, which version, which hosts, how fast, and how many failures it tolerates.
/// What a deployment does, as the inventory's `deployment.kind` records it.
public enum DeployKind: String, Sendable, Codable {
    /// A rolling deploy of a ref.
    case rolling
    /// Hosts that installed themselves at boot.
    case boot
    /// A deploy back to a ref that ran before.
    case rollback
    /// A rolling deploy that also rewrites what drifted in the release of hosts already running it.
    case repair
}

public struct DeployOptions: Sendable {
    public var role: String
    /// The bundle version; nil deploys the ref the role pins in the plans.
    public var ref: String?
    /// Which of the role's hosts (`web0*`, `fra1:&tag=canary:!web03`); nil selects every host of the role.
    public var hosts: HostSelection?
    /// The inventory's facts of the hosts (status, tags), that a selection may name.
    public var inventoryFacts: [String: HostFacts] = [:]
    /// Batches (`5`, `25%`, a ramp `1,5,25%`); nil uses the role's rollout from the plans.
    public var batch: BatchPlan?
    /// Keep this many hosts in flight, starting the next as soon as one finishes (instead of batches).
    public var window: Int?
    public var maxFail: FailureBudget?
    public var message: String?
    public var kind = DeployKind.rolling
    /// Where the bundle repositories are fetched to on this machine.
    public var cacheDirectory: String
    /// Deploy a `ref` other than the one the signed plans pin (the operator's word instead of the signature's).
    public var unpinned = false
    /// How https:// bundle repositories are reached (CA file, token).
    public var bundleHTTPS = HTTPSTransport()

    public init(role: String, cacheDirectory: String) {
        self.role = role
        self.cacheDirectory = cacheDirectory
    }

    /// What is kept with the deployment so that `deploy resume` repeats it exactly.
    public struct Recorded: Codable, Sendable {
        public var hosts: String?
        public var batch: [String]?
        public var window: Int?
        public var maxFail: String?
        public var repository: String

        enum CodingKeys: String, CodingKey {
            case hosts, batch, window, repository
            case maxFail = "max_fail"
        }
    }
}

/// How one host fared.
/// The steps of deploying one host, in order (`rollback` only after a failure past the switch).
public enum HostStep: String, Sendable, Codable, CaseIterable {
    case connect, lock, inspect, drain, send, `switch`, restart, health, undrain, unlock, done, rollback
    /// `deploy --repair` on a host that runs the release: its audit, and what changed rewritten.
    case repair

    /// A run that stopped at this step may have switched the host to the new release already.
    public var mayHaveSwitched: Bool {
        switch self {
        case .switch, .restart, .health, .undrain, .unlock, .done, .rollback: true
        case .connect, .lock, .inspect, .drain, .send, .repair: false
        }
    }
}

public struct HostOutcome: Sendable, Encodable {
    public enum State: String, Sendable, Encodable {
        case pending, running, succeeded, failed
        case rolledBack = "rolled_back"
        case skipped
    }

    public var host: String
    public var batch: Int
    public var state: State
    /// The step it ended at (`done`, or where it failed).
    public var step: HostStep?
    public var error: String?
    public var releaseBefore: String?
    public var releaseAfter: String?
    public var startedAt: String?
    public var finishedAt: String?
    /// Files and bytes sent to the host, and files it already had.
    public var filesSent = 0
    public var bytesSent: Int64 = 0
    public var seconds: Double = 0
    /// How long each step took, in order.
    public var stepSeconds: [StepTime] = []

    public struct StepTime: Sendable, Codable {
        public var step: HostStep
        public var seconds: Double
    }

    init(
        host: String, batch: Int, state: State, step: HostStep? = nil, error: String? = nil,
        releaseBefore: String? = nil, releaseAfter: String? = nil, startedAt: String? = nil, finishedAt: String? = nil
    ) {
        self.host = host
        self.batch = batch
        self.state = state
        self.step = step
        self.error = error
        self.releaseBefore = releaseBefore
        self.releaseAfter = releaseAfter
        self.startedAt = startedAt
        self.finishedAt = finishedAt
    }

    /// The release the host runs now, as far as the deploy knows.
    public var runs: String? { state == .succeeded || releaseBefore == nil ? releaseAfter : releaseBefore }

    enum CodingKeys: String, CodingKey {
        case host, batch, state, step, error, seconds
        case releaseBefore = "release_before"
        case releaseAfter = "release_after"
        case filesSent = "files_sent"
        case bytesSent = "bytes_sent"
        case stepSeconds = "step_seconds"
    }
}

/// How a deployment stands: running, or how it ended.
public enum DeployState: String, Sendable, Codable {
    case running
    /// Every host succeeded.
    case succeeded
    /// Some hosts succeeded, some did not.
    case partial
    /// No host succeeded.
    case failed
    /// Stopped by a signal; `deploy resume` finishes it.
    case interrupted

    /// The state of a finished run from its hosts' outcomes.
    static func of(succeeded: Int, of total: Int, interrupted: Bool) -> DeployState {
        interrupted ? .interrupted : succeeded == total ? .succeeded : succeeded == 0 ? .failed : .partial
    }
}

/// Why a rollout started no further hosts.
public enum StopReason: Sendable, Equatable, Encodable, CustomStringConvertible {
    case failureBudget(allowed: Int, hosts: Int)
    case interrupted(signal: Int32)

    public var isInterrupt: Bool {
        if case .interrupted = self { return true }
        return false
    }

    public var description: String {
        switch self {
        case .failureBudget(let allowed, let hosts):
            "the failure budget (\(allowed) of \(hosts) hosts) was exceeded"
        case .interrupted(let signal): "interrupted by \(signal == SIGINT ? "Ctrl-C" : "SIGTERM")"
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}

/// The whole run, as the summary and `--json` show it.
public struct DeploySummary: Sendable, Encodable {
    public var deployment: Int64?
    public var role: String
    public var ref: String
    public var release: String
    public var state: DeployState
    public var stoppedBecause: StopReason?
    public var hosts: [HostOutcome]
    public var seconds: Double

    enum CodingKeys: String, CodingKey {
        case deployment, role, ref, release, state, hosts, seconds
        case stoppedBecause = "stopped_because"
    }
}

/// One host of the run, with everything its plan says.
public struct DeployTarget: Sendable {
    public var plan: HostPlan
    public var batch: Int
    public var address: String
    public var sshPort: Int
    public var sshUser: String

    public var name: String { plan.name }
}

/// Splits hosts into batches: a ramp of counts or percentages (of all hosts), the last step repeating.
public func makeBatches(_ count: Int, plan: BatchPlan) -> [Range<Int>] {
    var out: [Range<Int>] = []
    var start = 0
    var step = 0
    while start < count {
        let amount = plan.steps[min(step, plan.steps.count - 1)]
        let size = max(1, amount.of(count))
        out.append(start..<min(count, start + size))
        start += size
        step += 1
    }
    return out
}
