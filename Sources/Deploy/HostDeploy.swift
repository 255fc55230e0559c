import Bundles
import FoundationEssentials
import Glibc
import InstallRoot
import Net
import SSH
import Synchronization
import Text

/// What a host has now, read over SFTP without changing anything.
struct RemoteState {
    var release: String?
    var manifest: [UInt8]?
    /// Where `current` points when that is no release of ours (put there by hand, or by something else).
    var strayCurrent: String?
}

/// What to send a host that runs a given manifest: the content hashes it lacks, and the manifest as the host's
/// installer reads it (a delta against the one it has). Worked out once per distinct manifest found on the hosts
/// and shared by the host workers: the hosts of a role mostly run one release, and parsing its manifest and
/// diffing it against the new one per host was most of what a host cost the deployer beyond SSH itself.
final class TransferPlans: Sendable {
    struct Plan: Sendable {
        var needed: [String]
        var manifestInput: [UInt8]
    }

    let version: BundleVersion
    /// The plans worked out so far, by the remote manifest they are for (at most 16: a fleet on many releases
    /// still works).
    private let plans = Mutex<[(remote: [UInt8]?, plan: Plan)]>([])

    init(version: BundleVersion) {
        self.version = version
    }

    func plan(remote: [UInt8]?) -> Plan {
        plans.withLock { plans in
            if let known = plans.first(where: { $0.remote == remote }) { return known.plan }
            let plan = Plan(
                needed: HostDeploy.needed(version.manifest, remote: remote),
                manifestInput: remote.map { ManifestDelta.make(from: $0, to: version.manifestBytes) }
                    ?? version.manifestBytes)
            if plans.count == 16 { plans.removeFirst() }
            plans.append((remote, plan))
            return plan
        }
    }
}

/// Deploys one host, step by step, over one SSH connection:
/// connect → lock → inspect → drain → send → switch → restart → health → undrain → unlock.
/// A failure after the switch switches the host back to its previous release, restarts and undrains it.
struct HostDeploy {
    let target: DeployTarget
    let version: BundleVersion
    let deployment: Int64
    let settings: SSHSettings
    let journal: Journal?
    let log: @Sendable (String, String) -> Void
    /// Through a jump host, HTTP and TCP checks go from the host itself: this machine cannot reach it directly.
    var health: HealthChecker { HealthChecker(fromHost: settings.jump != nil, trust: settings.tlsTrust) }
    /// Shared by the hosts of one rollout; a host on its own works its plan out itself.
    var transfers: TransferPlans?

    var root: String { target.plan.install.root }
    var layout: InstallLayout { InstallLayout(root: root) }
    var redeye: String { settings.remoteRedeye }
    var release: String { version.commit.short }

    /// How this host fared in the run of the same deployment that stopped before finishing it (`deploy resume`).
    var previousAttempt: HostOutcome?
    /// `deploy --repair`: a host already on the release has what drifted in it rewritten.
    var repair = false

    struct StepFailure: Error {
        var step: HostStep
        var message: String
    }

    /// Connects within the configured timeout, checking the host key strictly.
    func connect() throws -> SSHConnection { try target.connect(settings) }

    /// The release a host runs and its manifest (for `--plan`, and before sending).
    static func inspect(_ connection: SSHConnection, root: String) throws -> RemoteState {
        let layout = InstallLayout(root: root)
        let sftp = try connection.sftp()
        // A name Redeye never makes is no release of ours (and is never printed or stored as one).
        guard let link = try sftp.readlink(layout.current) else { return RemoteState(release: nil, manifest: nil) }
        guard let id = InstallLayout.releaseID(currentLink: link) else {
            return RemoteState(release: nil, manifest: nil, strayCurrent: printable(String(link.prefix(200))))
        }
        return RemoteState(
            release: id, manifest: try sftp.read(layout.release(id) + "/" + Manifest.fileName, limit: 64 << 20))
    }

    /// The content hashes of `manifest` the host lacks, judged by its current manifest.
    static func needed(_ manifest: Manifest, remote: [UInt8]?) -> [String] {
        let had = Set(
            (remote.flatMap { try? Manifest.parse($0, file: "remote") }?.entries ?? []).compactMap(\.sha256))
        var out: [String] = []
        var seen = Set<String>()
        for entry in manifest.entries where entry.kind == .file {
            if let sha = entry.sha256, !had.contains(sha), seen.insert(sha).inserted { out.append(sha) }
        }
        return out
    }

    /// The host's `redeye` must speak this deployer's contract; asked before anything changes on the host (a
    /// host without it would fail at the switch, after its drain). Returns the version it answered.
    @discardableResult
    func checkRemoteRedeye(_ ssh: SSHConnection) throws -> String {
        let result = try ssh.run(shellQuote(redeye) + " --version", timeout: .seconds(30), outputLimit: 4096)
        let answer = printable(String(decoding: result.stdout.prefix(100), as: UTF8.self))
            .trimmed()
        if result.status == 127 {
            throw StepFailure(
                step: .inspect,
                message:
                    "`\(redeye)` is not installed on the host (install the redeye package there, or point --remote-redeye at it)"
            )
        }
        guard result.status == 0, RedeyeVersion.isCompatible(answer) else {
            throw StepFailure(
                step: .inspect,
                message:
                    "the host's `\(redeye)` answered \(result.status == 0 ? "version '\(answer)'" : "exit \(result.status)"), which does not speak this deployer's contract (\(RedeyeVersion.current)): upgrade it first"
            )
        }
        return answer
    }

    /// Whether the run that stopped left this host switched to the release without finishing it: it was past
    /// the switch (by the journal) and the host is on the release it was not on before.
    func leftUnfinished(_ remote: RemoteState) -> Bool {
        guard let previousAttempt, previousAttempt.state == .running, let step = previousAttempt.step else {
            return false
        }
        return step.mayHaveSwitched && remote.release == release && previousAttempt.releaseBefore != release
    }

    /// Where one host's deploy is: its step and how long each took, and what a failure must undo.
    final class Progress {
        var step = HostStep.connect
        var stepStarted = ContinuousClock.now
        var timings: [(HostStep, Double)] = []
        var lockHeld = false
        var drained = false
        /// A failure leaves the host drained: it has no healthy release to go back to (a failed repair).
        var keepDrained = false
        var switched = false
        let entered: (HostStep) -> Void

        init(entered: @escaping (HostStep) -> Void) { self.entered = entered }

        /// `secondsAgo`: the next step began that long ago (a step the host ran within the previous command).
        func enter(_ next: HostStep, secondsAgo: Double = 0) {
            let began = ContinuousClock.now - .milliseconds(Int((secondsAgo * 1000).rounded()))
            timings.append((step, (began - stepStarted).inSeconds))
            stepStarted = began
            step = next
            entered(next)
        }

        func stepTimes() -> [HostOutcome.StepTime] {
            (timings + [(step, (ContinuousClock.now - stepStarted).inSeconds)]).map {
                HostOutcome.StepTime(step: $0.0, seconds: ($0.1 * 1000).rounded() / 1000)
            }
        }
    }

    /// Connect, lock, inspect; then finish what a stopped run left, or nothing, or upgrade; unlock. A failure
    /// past the switch goes back to the release before.
    func run() -> HostOutcome {
        let started = ContinuousClock.now
        var outcome = HostOutcome(host: target.name, batch: target.batch, state: .running)
        try? journal?.hostStarted(deployment, target.name)
        let progress = Progress { [journal, deployment, target] next in
            try? journal?.hostStep(deployment, target.name, next)
        }
        var connection: SSHConnection?
        do {
            log(
                target.name,
                "connecting to \(target.sshUser)@\(target.address):\(target.sshPort)"
                    + (settings.jump.map { " through \($0)" } ?? ""))
            let ssh = try connect()
            connection = ssh
            progress.enter(.lock)
            try lockHost(ssh)
            progress.lockHeld = true
            progress.enter(.inspect)
            let remote = try HostDeploy.inspect(ssh, root: root)
            let unfinished = leftUnfinished(remote)
            // What the host ran before this deployment: by the journal when the stopped run had switched it.
            outcome.releaseBefore = unfinished ? previousAttempt?.releaseBefore : remote.release
            try? journal?.hostInspected(deployment, target.name, releaseBefore: outcome.releaseBefore)
            if unfinished || remote.release != release || repair { try checkRemoteRedeye(ssh) }
            if unfinished {
                try finishStoppedRun(ssh, progress, &outcome)
            } else if remote.release == release, repair {
                try repairRelease(ssh, progress, &outcome)
            } else if remote.release == release {
                log(target.name, "already runs \(version.ref) (\(release)); nothing to do")
                outcome.releaseAfter = release
            } else {
                try upgrade(ssh, remote, progress, &outcome)
            }
            progress.enter(.unlock)
            try? unlockHost(ssh)
            outcome.state = .succeeded
            outcome.step = .done
            outcome.bytesSent = ssh.payloadBytesSent
        } catch {
            failed(error, connection, progress, &outcome)
        }
        outcome.stepSeconds = progress.stepTimes()
        outcome.seconds = (ContinuousClock.now - started).inSeconds
        return outcome
    }

    /// The run that stopped switched this host and did not see it healthy: its services are restarted, checked
    /// and undrained now, or it goes back to what it ran before.
    func finishStoppedRun(_ ssh: SSHConnection, _ progress: Progress, _ outcome: inout HostOutcome) throws {
        log(
            target.name,
            "the stopped run left it on \(release) at \(previousAttempt?.step?.rawValue ?? "?"); finishing: restart, health check, undrain"
        )
        progress.switched = true
        progress.drained = target.plan.hooks.drain != nil
        outcome.releaseAfter = release
        progress.enter(.restart)
        try restart(ssh)
        try checkAndUndrain(ssh, progress)
    }

    /// Drain, send what the host lacks, switch (the host's installer switches completely or not at all),
    /// restart, health checks, undrain.
    func upgrade(_ ssh: SSHConnection, _ remote: RemoteState, _ progress: Progress, _ outcome: inout HostOutcome)
        throws
    {
        if let drain = target.plan.hooks.drain {
            progress.enter(.drain)
            progress.drained = true
            try hook(ssh, drain, step: .drain)
        }
        progress.enter(.send)
        let staging = layout.staging(deployment: deployment)
        let transfer = (transfers ?? TransferPlans(version: version)).plan(remote: remote.manifest)
        let (files, bytes) = try send(transfer.needed, to: staging, over: ssh)
        outcome.filesSent = files
        log(
            target.name,
            "sent \(files) of \(version.manifest.entries.filter { $0.kind == .file }.count) files (\(bytes) bytes); the rest is on the host"
        )
        progress.enter(.switch)
        let applied = try apply(ssh, staging: staging, manifestInput: transfer.manifestInput)
        progress.switched = true
        outcome.filesSent += applied.extraFiles
        outcome.releaseAfter = release
        log(target.name, "switched \(root)/current to \(release) (\(version.ref))")
        progress.enter(.restart, secondsAgo: applied.restartSeconds)
        if let failure = applied.restartError { throw StepFailure(step: .restart, message: failure) }
        if let services = applied.services { log(target.name, services) }
        try checkAndUndrain(ssh, progress)
    }

    /// `deploy --repair` on a host that runs the release: its installer audits it and rewrites what changed, in
    /// a fresh copy swapped in whole, asking for the content it no longer has intact. Only when something was
    /// rewritten are the services drained, restarted, checked and undrained. A host whose health check then
    /// fails stays drained: its drifted copy is gone and the release it runs is the one asked for.
    func repairRelease(_ ssh: SSHConnection, _ progress: Progress, _ outcome: inout HostOutcome) throws {
        outcome.releaseAfter = release
        progress.enter(.send)
        let staging = layout.staging(deployment: deployment)
        _ = try send([], to: staging, over: ssh)
        progress.enter(.repair)
        let applied = try apply(ssh, staging: staging, manifestInput: version.manifestBytes, repair: true)
        outcome.filesSent += applied.extraFiles
        let findings = applied.repaired ?? []
        // A run that stopped after repairing (or while restarting) left the services unchecked.
        let unfinished =
            previousAttempt?.state == .running
            && (previousAttempt?.step.map { [.repair, .drain, .restart, .health, .undrain].contains($0) } ?? false)
        guard !findings.isEmpty || unfinished else {
            log(target.name, "\(release) matches its manifest; nothing to repair")
            return
        }
        if findings.isEmpty {
            log(target.name, "the stopped run repaired \(release); finishing: restart, health check, undrain")
        } else {
            let shown = findings.prefix(3).joined(separator: "; ") + (findings.count > 3 ? "; …" : "")
            log(
                target.name,
                "repaired \(findings.count) finding\(findings.count == 1 ? "" : "s") in \(release): \(shown)")
        }
        progress.keepDrained = true
        if let drain = target.plan.hooks.drain {
            progress.enter(.drain)
            progress.drained = true
            try hook(ssh, drain, step: .drain)
        }
        progress.enter(.restart)
        try restart(ssh)
        try checkAndUndrain(ssh, progress)
    }

    /// A failed host: the step and why; past the switch it goes back to the release before, else it is
    /// undrained; its lock is released.
    func failed(_ error: any Error, _ connection: SSHConnection?, _ progress: Progress, _ outcome: inout HostOutcome) {
        let message = printable((error as? StepFailure)?.message ?? "\(error)")
        outcome.state = .failed
        outcome.step = (error as? StepFailure)?.step ?? progress.step
        outcome.error = message
        log(target.name, "failed at \(outcome.step!.rawValue): \(message)")
        guard let ssh = connection else { return }
        if progress.switched {
            outcome.state = recover(ssh, previous: outcome.releaseBefore, outcome: &outcome)
        } else if progress.drained && progress.keepDrained {
            outcome.error =
                message + " (left drained: the repaired release is the one asked for, with nothing to go back to)"
        } else if progress.drained {
            try? hook(ssh, target.plan.hooks.undrain, step: .undrain)
        }
        if progress.lockHeld { try? unlockHost(ssh) }
        outcome.bytesSent = ssh.payloadBytesSent
    }

    /// The tail every switched host goes through: its health checks, then undrain.
    func checkAndUndrain(_ ssh: SSHConnection, _ progress: Progress) throws {
        progress.enter(.health)
        if let failure = health.check(target.plan.monitors, on: ssh, log: { log(target.name, $0) }) {
            throw StepFailure(step: .health, message: failure)
        }
        if progress.drained {
            progress.enter(.undrain)
            try hook(ssh, target.plan.hooks.undrain, step: .undrain)
            progress.drained = false
        }
    }

    /// After a failure past the switch: back to the previous release, restart, undrain.
    func recover(_ ssh: SSHConnection, previous: String?, outcome: inout HostOutcome) -> HostOutcome.State {
        guard let previous else {
            log(target.name, "no previous release to return to; stopping its services")
            _ = try? ssh.run(remote(.stopServices(root: root)), timeout: .seconds(60))
            outcome.releaseAfter = release
            outcome.error =
                (outcome.error ?? "")
                + " (no previous release to return to: left on \(release) with its services stopped)"
            return .failed
        }
        do {
            let result = try ssh.run(remote(.rollback(root: root, to: previous)), timeout: .seconds(120))
            guard result.status == 0 else {
                throw StepFailure(
                    step: .rollback, message: result.errorOutput.trimmed())
            }
            try restart(ssh)
            if target.plan.hooks.drain != nil { try hook(ssh, target.plan.hooks.undrain, step: .undrain) }
            outcome.releaseAfter = previous
            log(target.name, "rolled back to \(previous)")
            return .rolledBack
        } catch {
            let message = (error as? StepFailure)?.message ?? "\(error)"
            outcome.error = (outcome.error ?? "") + "; rollback failed: \(printable(message))"
            log(target.name, "rollback failed: \(message)")
            return .failed
        }
    }

    // MARK: steps

    /// The host's own lock: a file created exclusively under the install root, naming the deployment. A lock left
    /// by this same deployment (a resumed run) is taken over.
    func lockHost(_ ssh: SSHConnection) throws {
        let sftp = try ssh.sftp()
        let lock = layout.deployLock
        let owner = Array("deployment \(deployment)\n".utf8)
        do {
            if !sftp.exists(layout.state) {
                var path = ""
                for component in layout.state.split(separator: "/") {
                    path += "/" + component
                    try sftp.mkdir(path, mode: 0o755)
                }
            }
            try sftp.create(lock, owner)
        } catch {
            guard let held = try sftp.read(lock) else { throw error }
            guard held == owner else {
                throw StepFailure(
                    step: .lock,
                    message:
                        "\(lock) is held by \(String(decoding: held, as: UTF8.self).trimmed()): another deploy is working on this host"
                )
            }
        }
    }

    func unlockHost(_ ssh: SSHConnection) throws {
        try ssh.sftp().unlink(layout.deployLock)
    }

    /// Runs a drain or undrain hook on the host, bounded by the role's hook timeout.
    func hook(_ ssh: SSHConnection, _ command: String?, step: HostStep) throws {
        guard let command else { return }
        let name = step.rawValue
        log(target.name, "\(name): \(command)")
        let result = try ssh.run(command, timeout: target.plan.hooks.timeout.standard, outputLimit: 1 << 20)
        guard result.status == 0 else {
            let output = (result.errorOutput + result.output).trimmed()
            throw StepFailure(step: step, message: "the \(name) hook exited \(result.status): \(output.suffix(300))")
        }
    }

    /// Uploads the content the host lacks into `staging` as one pack file (`ObjectPack`): one SFTP file instead
    /// of one per object, written in pieces of about 1 MiB.
    func send(_ shas: [String], to staging: String, over ssh: SSHConnection, name: String = "objects") throws -> (
        Int, Int64
    ) {
        let sftp = try ssh.sftp()
        let incoming = layout.incoming
        try sftp.mkdir(incoming, mode: 0o700)
        // Staging of other deployments: left by a deployer that died between sending and switching (this one
        // holds the host's deploy lock, so no other deploy is using it). Each holds only pack files.
        for name in (try? sftp.list(incoming)) ?? [] where name.hasPrefix("deploy-") && incoming + "/" + name != staging
        {
            let stale = incoming + "/" + name
            for file in (try? sftp.list(stale)) ?? [] { try? sftp.unlink(stale + "/" + file) }
            if (try? sftp.rmdir(stale)) != nil { log(target.name, "removed \(stale), left by an earlier deploy") }
        }
        try sftp.mkdir(staging, mode: 0o700)
        guard !shas.isEmpty else { return (0, 0) }
        let path = "\(staging)/\(name).pack"
        if sftp.exists(path) { try sftp.unlink(path) }  // a partial upload of an interrupted run
        let file = try sftp.open(forWriting: path)
        defer { file.close() }
        var buffer: [UInt8] = []
        buffer.reserveCapacity(1 << 20)
        var bytes: Int64 = 0
        for sha in shas {
            let content = try version.content(sha256: sha)
            buffer += ObjectPack.header(sha256: sha, size: content.count)
            buffer += content
            bytes += Int64(content.count)
            if buffer.count >= 1 << 20 {
                try file.write(buffer)
                buffer.removeAll(keepingCapacity: true)
            }
        }
        if !buffer.isEmpty { try file.write(buffer) }
        return (shas.count, bytes)
    }

    /// What the host's installer did: files sent again on its request, and the restart it ran after switching.
    struct Applied {
        var extraFiles = 0
        /// With a repair: what the host's audit found changed, now rewritten.
        var repaired: [String]?
        var restartSeconds: Double = 0
        var services: String?
        var restartError: String?
    }

    /// The request for the host's installer: the staged content, and the role's services to restart (a repair
    /// restarts them itself, after the drain).
    func applyRequest(staging: String, repair: Bool = false) -> ApplyRequest {
        ApplyRequest(
            redeye: redeye, root: root, objects: staging, commit: version.commit.hex, ref: version.ref,
            repository: version.url, keep: target.plan.install.keep,
            accounts: InstallAccounts(user: target.plan.install.user, group: target.plan.install.group),
            restart: repair ? nil : RestartRequest(units: target.plan.services, run: target.plan.run), repair: repair)
    }

    /// Runs the host's installer on the staged content and, in the same remote command, restarts the role's
    /// services once `current` has moved; sends what it reports missing (drifted files) once more. Throws only
    /// when the release was not switched. A host that exits 0 without its report has not shown that it switched:
    /// that is a failure of the switch, never a success.
    func apply(_ ssh: SSHConnection, staging: String, manifestInput input: [UInt8], repair: Bool = false) throws
        -> Applied
    {
        let command = applyRequest(staging: staging, repair: repair).arguments.map(shellQuote).joined(separator: " ")
        var applied = Applied()
        // At most two runs: once more after sending content the host found missing.
        for attempt in 1...2 {
            let result = try ssh.run(command, input: input, timeout: .seconds(3600), outputLimit: 1 << 20)
            let report = try? JSONDecoder().decode(ApplyReport.self, from: Data(result.stdout))
            switch ApplyExit(rawValue: result.status) {
            case .switched?, .restartFailed?:
                guard let report, report.release == version.commit.short || report.commit == version.commit.hex
                else {
                    throw StepFailure(
                        step: .switch,
                        message:
                            "the host's installer exited \(result.status) without a report naming \(release); not counted as switched"
                    )
                }
                applied.restartSeconds = report.restartSeconds ?? 0
                applied.services = report.services
                applied.repaired = report.repaired.map { $0.prefix(1000).map(printable) }
                if result.status == ApplyExit.restartFailed.rawValue {
                    applied.restartError = report.restartError ?? "the restart failed"
                }
                return applied
            case .missingContent? where attempt == 1 && report?.missing != nil:
                let missing = report?.missing ?? []
                let files = missing.count == 1 ? "1 more file" : "\(missing.count) more files"
                log(target.name, "the host lacks \(files) (changed on the host since); sending them")
                applied.extraFiles = try send(missing, to: staging, over: ssh, name: "retry").0
            case .notInstalled?:
                throw StepFailure(
                    step: .switch,
                    message:
                        "`\(redeye)` is not installed on the host (install redeye there, or point --remote-redeye at it)"
                )
            default:
                let message =
                    result.errorOutput.split(separator: "\n").last { $0.hasPrefix("redeye: ") }
                    .map { String($0.dropFirst("redeye: ".count)) } ?? result.errorOutput
                let said = message.trimmed()
                throw StepFailure(
                    step: .switch, message: said.isEmpty ? "the host's installer exited \(result.status)" : said)
            }
        }
        throw StepFailure(step: .switch, message: "the host still lacked content after it was sent again")
    }

    /// A command of the host's redeye, quoted for its shell.
    func remote(_ command: HostCommand) -> String {
        ([redeye] + command.arguments).map(shellQuote).joined(separator: " ")
    }

    /// Restarts the role's services (systemd units, or its run command where systemd is not running).
    func restart(_ ssh: SSHConnection) throws {
        let services = RestartRequest(units: target.plan.services, run: target.plan.run)
        let result = try ssh.run(remote(.restartServices(root: root, services)), timeout: .seconds(300))
        guard result.status == 0 else {
            throw StepFailure(
                step: .restart, message: result.errorOutput.trimmed())
        }
        log(target.name, result.output.trimmed())
    }
}
