import Bundles
import Dispatch
import FoundationEssentials
import Git
import Glibc
import Inventory
import Net
import Plan
import SSH
import Synchronization
import Threads

/// Runs a rolling deploy of one role: batches (or a sliding window) of hosts, each deployed by `HostDeploy`,
/// a failure budget over the whole run, Ctrl-C / SIGTERM handling, and the record in the inventory.
public final class Rollout: Sendable {
    public let plans: Plans
    public let options: DeployOptions
    public let settings: SSHSettings
    let output: @Sendable (String) -> Void
    /// Why no further hosts start (nil while they do), and how many hosts have failed so far.
    private let progress = Mutex<(stopReason: StopReason?, failures: Int)>((nil, 0))

    public init(
        plans: Plans, options: DeployOptions, settings: SSHSettings, output: @escaping @Sendable (String) -> Void
    ) {
        self.plans = plans
        self.options = options
        self.settings = settings
        self.output = output
    }

    public var role: Plans.Role {
        get throws {
            guard let role = plans.roles[options.role] else {
                throw DeployError(
                    "no role '\(options.role)' in the plans (roles: \(plans.roles.keys.sorted().joined(separator: ", ")))"
                )
            }
            return role
        }
    }

    public var ref: String { get throws { try options.ref ?? role.bundleRef } }

    /// The role's hosts from the plans, narrowed by `--hosts`, with their batch numbers.
    public func targets() throws -> [DeployTarget] {
        let role = try role
        var hosts = plans.hosts.filter { $0.role == role.name }
        if let selection = options.hosts {
            hosts = hosts.filter { host in
                var facts = options.inventoryFacts[host.name] ?? HostFacts(name: host.name)
                facts.role = host.role
                facts.site = host.site ?? facts.site
                facts.tags.formUnion(host.tags)
                return selection.matches(facts)
            }
        }
        guard !hosts.isEmpty else {
            throw DeployError(
                options.hosts.map { "no host of role \(role.name) matches '\($0)'" }
                    ?? "role \(role.name) has no hosts in the plans")
        }
        var targets = try hosts.map { try DeployTarget(host: $0, plans: plans, settings: settings) }
        if options.window == nil {
            for (number, range) in makeBatches(targets.count, plan: options.batch ?? role.batch).enumerated() {
                for i in range { targets[i].batch = number + 1 }
            }
        }
        return targets
    }

    /// The pin the deploy holds the bundle to: the plans' pin of the role's ref. A rolling deploy of another ref
    /// goes past the signed plans, which takes `--unpinned`; a rollback returns to a ref that ran before.
    public func pin() throws -> BundlePin? {
        let role = try role
        let ref = try ref
        guard let pin = plans.pin(of: role.name) else { return nil }
        if ref == role.bundleRef { return pin }
        if options.kind != .rollback && !options.unpinned {
            throw DeployError(
                "role \(role.name)'s signed plans pin \(role.bundleRef) (\(pin.commit.prefix(12))); deploying \(ref) goes past them: commit the plans with the new ref (redeye plan commit), or give --unpinned"
            )
        }
        return nil
    }

    /// The bundle version to deploy, fetched into the local cache (held to the plans' pin when there is one).
    public func fetchVersion() throws -> BundleVersion {
        let role = try role
        var keyFile: String?
        if case .keyFile(let path) = settings.authentication { keyFile = path }
        return try BundleVersion.fetch(
            role.bundleRepository, ref: try ref,
            cache: options.cacheDirectory + "/" + InventorySync.bundleName(role.bundleRepository) + ".git",
            hostKeys: settings.hostKeys, sshKey: keyFile, https: options.bundleHTTPS, verifyContent: true,
            pin: try pin())
    }

    // MARK: preview

    public struct PreviewHost: Sendable, Encodable {
        public var host: String
        public var batch: Int
        public var current: String?
        public var target: String
        public var changes: [String]
        /// With `content`: the content diff from the host's release (nil when that release is unknown here).
        public var content: [ContentDiff]?
        /// What the host's `redeye --version` answered (a deploy needs one that speaks its contract).
        public var redeye: String?
        public var error: String?
    }

    /// What a deploy would do, without changing anything: batches, and per host its release and changed files;
    /// with `content`, each changed file's content too (a unified diff of text), computed once per release.
    public func preview(content: Bool = false) throws -> [PreviewHost] {
        let targets = try targets()
        let version = try fetchVersion()
        let settings = settings
        let results = parallelMap(targets, width: 16) { target -> PreviewHost in
            var item = PreviewHost(
                host: target.name, batch: target.batch, current: nil, target: version.commit.short, changes: [])
            do {
                let step = HostDeploy(
                    target: target, version: version, deployment: 0, settings: settings, journal: nil,
                    log: { _, _ in })
                let connection = try step.connect()
                let remote = try HostDeploy.inspect(connection, root: target.plan.install.root)
                item.current = remote.release
                item.changes = Rollout.changes(from: remote.manifest, to: version.manifest)
                item.redeye = try step.checkRemoteRedeye(connection)
            } catch let failure as HostDeploy.StepFailure {
                item.error = failure.message
            } catch {
                item.error = "\(error)"
            }
            return item
        }
        guard content else { return results }
        var diffs: [String: [ContentDiff]?] = [:]
        return try results.map { host in
            var host = host
            guard let current = host.current, current != host.target else { return host }
            if diffs[current] == nil { diffs[current] = .some(try version.contentDiff(fromRelease: current)) }
            host.content = diffs[current] ?? nil
            return host
        }
    }

    /// Paths added, changed or removed between a host's manifest and the new one.
    static func changes(from old: [UInt8]?, to new: Manifest) -> [String] {
        let before = old.flatMap { try? Manifest.parse($0, file: "remote") }
        var out: [String] = []
        for entry in new.entries {
            switch before?.entry(entry.path) {
            case nil: out.append("+ \(entry.path)")
            case let previous? where previous != entry: out.append("~ \(entry.path)")
            default: break
            }
        }
        for entry in before?.entries ?? [] where new.entry(entry.path) == nil { out.append("- \(entry.path)") }
        return out
    }

    // MARK: run

    /// Deploys every selected host (or, resuming, every host `resume` did not finish), recording the run in
    /// `journal` (the inventory) as it goes; without a journal nothing is recorded and no lock is taken.
    public func run(actor: String, journal: Journal?, resume: DeploymentRecord? = nil) throws -> DeploySummary {
        let started = ContinuousClock.now
        let role = try role
        let ref = try ref
        var targets = try targets()
        try checkLimits(targets)
        let version = try fetchVersion()
        // Said once the deploy is sure to start: a refusal (the role is locked) prints only why.
        let record = try openRecord(journal, actor: actor, role: role, ref: ref, targets: &targets, resume: resume)
        output(
            "deploying \(role.name) \(ref) (\(version.commit.short)) to \(targets.count) host\(targets.count == 1 ? "" : "s")"
        )
        let heartbeat = startHeartbeat(role: role.name, journal: journal)
        defer { heartbeat.cancel() }
        let allowed = (options.maxFail ?? role.maxFail).amount.of(resume == nil ? targets.count : max(targets.count, 1))
        var outcomes = deployHosts(targets, version: version, record: record, journal: journal, allowed: allowed)
        outcomes += notStarted(targets, reached: outcomes, deployment: record.deployment, journal: journal)
        return try finishRecord(
            outcomes, journal: journal, record: record, resumed: resume != nil, role: role.name, ref: ref,
            version: version, seconds: (ContinuousClock.now - started).inSeconds)
    }

    /// Stops the rollout as Ctrl-C or SIGTERM asks: no new host starts; hosts in flight finish (or roll back).
    /// The command line installs the signal handlers and calls this.
    public func interrupt(signal number: Int32) {
        progress.withLock { progress in
            if progress.stopReason?.isInterrupt != true { progress.stopReason = .interrupted(signal: number) }
        }
        output("interrupted: no new host starts; hosts in flight finish or roll back")
    }

    /// The deployment's record: its id, and for a resumed one what each host did before.
    struct OpenRecord {
        var deployment: Int64
        var previousAttempts: [String: HostOutcome]
    }

    /// The descriptor and thread limits against the hosts in flight at once (a window, or the largest batch).
    func checkLimits(_ targets: [DeployTarget]) throws {
        let inFlight = options.window ?? Dictionary(grouping: targets, by: \.batch).values.map(\.count).max() ?? 1
        try ResourceLimits.ensure(
            hostsInFlight: min(inFlight, targets.count), option: options.window == nil ? "the batch size" : "--window")
    }

    /// Takes the role's lock and records the deployment; resuming, adopts the dead run's lock and leaves out the
    /// hosts it finished.
    func openRecord(
        _ journal: Journal?, actor: String, role: Plans.Role, ref: String, targets: inout [DeployTarget],
        resume: DeploymentRecord?
    ) throws -> OpenRecord {
        guard let journal else { return OpenRecord(deployment: 0, previousAttempts: [:]) }
        if let resume {
            try journal.adoptLock(role: role.name, deployment: resume.id, owner: actor)
            let recorded = try journal.hosts(of: resume.id)
            let done = Set(recorded.filter { [.succeeded, .failed, .rolledBack].contains($0.state) }.map(\.host))
            targets = targets.filter { !done.contains($0.name) }
            output(
                "resuming deployment \(resume.id): \(done.count) host\(done.count == 1 ? "" : "s") done, \(targets.count) to go"
            )
            return OpenRecord(
                deployment: resume.id,
                previousAttempts: Dictionary(recorded.map { ($0.host, $0) }, uniquingKeysWith: { a, _ in a }))
        }
        try journal.acquireLock(role: role.name, owner: actor, message: options.message, staleAfter: 600)
        do {
            let recorded = DeployOptions.Recorded(
                hosts: options.hosts?.text, batch: options.batch?.steps.map(\.description), window: options.window,
                maxFail: options.maxFail?.amount.description, repository: role.bundleRepository)
            let previousRef = try journal.deployments(role: role.name, limit: 20).first { $0.state == .succeeded }?.ref
            let id = try journal.start(
                role: role.name, ref: ref, previousRef: previousRef, kind: options.kind, actor: actor,
                message: options.message, options: recorded, hosts: targets.map { ($0.name, $0.batch) })
            try journal.attachLock(role: role.name, deployment: id)
            return OpenRecord(deployment: id, previousAttempts: [:])
        } catch {
            _ = try? journal.releaseLock(role: role.name)
            throw error
        }
    }

    /// Deploys the hosts in a sliding window or batch by batch, recording each outcome and counting failures
    /// against the budget; stops starting hosts once a stop reason is set.
    func deployHosts(
        _ targets: [DeployTarget], version: BundleVersion, record: OpenRecord, journal: Journal?, allowed: Int
    ) -> [HostOutcome] {
        let deployment = record.deployment
        let total = targets.count
        let transfers = TransferPlans(version: version)
        let attempts = record.previousAttempts
        let deployOne: @Sendable (DeployTarget) -> HostOutcome? = { [self] target in
            guard currentStopReason() == nil else { return nil }
            var host = HostDeploy(
                target: target, version: version, deployment: deployment, settings: settings, journal: journal,
                log: { [output] name, line in output("[\(name)] \(printable(line))") })
            host.transfers = transfers
            host.previousAttempt = attempts[target.name]
            host.repair = options.kind == .repair
            let outcome = host.run()
            try? journal?.hostFinished(deployment, outcome)
            if outcome.state != .succeeded {
                progress.withLock { progress in
                    progress.failures += 1
                    if progress.failures > allowed && progress.stopReason == nil {
                        progress.stopReason = .failureBudget(allowed: allowed, hosts: total)
                    }
                }
            }
            return outcome
        }
        if let window = options.window {
            output("rolling with a window of \(window) hosts in flight")
            return parallelMap(targets, width: max(1, window), deployOne).compactMap { $0 }
        }
        var outcomes: [HostOutcome] = []
        let batches = Dictionary(grouping: targets, by: \.batch).sorted { $0.key < $1.key }
        for (number, hosts) in batches {
            guard currentStopReason() == nil else { break }
            output("batch \(number)/\(batches.last?.key ?? number): \(hosts.map(\.name).joined(separator: ", "))")
            outcomes += parallelMap(hosts, width: hosts.count, deployOne).compactMap { $0 }
        }
        return outcomes
    }

    /// Hosts that never started: skipped (left pending when interrupted, so `deploy resume` takes them).
    func notStarted(
        _ targets: [DeployTarget], reached outcomes: [HostOutcome], deployment: Int64, journal: Journal?
    ) -> [HostOutcome] {
        let reason = currentStopReason()
        let interrupted = reason?.isInterrupt == true
        let reached = Set(outcomes.map(\.host))
        return targets.filter { !reached.contains($0.name) }.map { target in
            var skipped = HostOutcome(host: target.name, batch: target.batch, state: interrupted ? .pending : .skipped)
            skipped.error = reason?.description
            // Never reached, so the release it runs is the one the last deploy left it on.
            skipped.releaseBefore = try? journal?.lastKnownRelease(host: target.name, role: options.role)
            if !interrupted { try? journal?.hostFinished(deployment, skipped) }
            return skipped
        }
    }

    /// The deployment's state from every host's outcome (a resumed run reports the whole deployment), recorded
    /// with the lock released (an interrupted run is resumed by `deploy resume`).
    func finishRecord(
        _ outcomes: [HostOutcome], journal: Journal?, record: OpenRecord, resumed: Bool, role: String, ref: String,
        version: BundleVersion, seconds: Double
    ) throws -> DeploySummary {
        let reason = currentStopReason()
        var all = outcomes
        if resumed, let journal {
            let fresh = Set(outcomes.map(\.host))
            all = try journal.hosts(of: record.deployment).filter { !fresh.contains($0.host) } + outcomes
        }
        let succeeded = all.filter { $0.state == .succeeded }.count
        let state = DeployState.of(succeeded: succeeded, of: all.count, interrupted: reason?.isInterrupt == true)
        if let journal {
            try? journal.finish(record.deployment, state: state)
            _ = try? journal.releaseLock(role: role)
        }
        return DeploySummary(
            deployment: journal == nil ? nil : record.deployment, role: role, ref: ref, release: version.commit.short,
            state: state, stoppedBecause: reason, hosts: all.sorted { ($0.batch, $0.host) < ($1.batch, $1.host) },
            seconds: seconds)
    }

    func currentStopReason() -> StopReason? { progress.withLock { $0.stopReason } }

    func startHeartbeat(role: String, journal: Journal?) -> any DispatchSourceTimer {
        let timer = DispatchSource.makeTimerSource(queue: .global())
        timer.schedule(deadline: .now() + 30, repeating: 30)
        timer.setEventHandler { journal?.heartbeat(role: role) }
        timer.resume()
        return timer
    }
}

/// `transform` over `items` on up to `width` threads at once, results in input order. A thread starts the next
/// item as soon as it finishes one (the sliding window).
func parallelMap<T: Sendable, R: Sendable>(
    _ items: [T], width: Int, _ transform: @escaping @Sendable (T) -> R
) -> [R] {
    // The next item to take, and the results so far.
    let state = Mutex<(next: Int, results: [R?])>((0, Array(repeating: nil, count: items.count)))
    let group = DispatchGroup()
    for _ in 0..<min(width, items.count) {
        group.enter()
        detachThread(stackSize: 1 << 20) {
            while true {
                let i = state.withLock { state in
                    defer { state.next += 1 }
                    return state.next
                }
                guard i < items.count else { break }
                let result = transform(items[i])
                state.withLock { $0.results[i] = result }
            }
            group.leave()
        }
    }
    group.wait()
    return state.withLock { $0.results.map { $0! } }
}

extension DeployTarget {
    /// How to reach one host of the plans: its address, and its `ssh_port` and `ssh_user` variables over the
    /// settings' defaults.
    public init(host: Plans.Host, plans: Plans, settings: SSHSettings) throws {
        guard let address = host.address else {
            throw DeployError("host \(host.name) has no address in the plans: a deploy cannot reach it")
        }
        let plan = plans.plan(for: host)
        var port = settings.port
        if let text = plan.vars["ssh_port"] {
            guard let p = Int(text), (1...65535).contains(p) else {
                throw DeployError("host \(host.name): ssh_port '\(text)' is not a port")
            }
            port = p
        }
        self.init(
            plan: plan, batch: 0, address: address, sshPort: port, sshUser: plan.vars["ssh_user"] ?? settings.user)
    }

    /// One SSH connection to the host, its key checked against the settings' known hosts.
    func connect(_ settings: SSHSettings) throws -> SSHConnection {
        try SSHConnection(
            host: address, port: sshPort, user: sshUser, hostKeys: settings.hostKeys,
            authentication: settings.authentication, timeout: settings.connectTimeout, through: settings.jump)
    }
}
