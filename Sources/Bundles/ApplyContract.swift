import FileSystem
import FoundationEssentials
import Glibc
import InstallRoot
import Service

/// The deploy-to-host contract, one typed thing on both ends: what a deploy asks of `redeye bundle apply` on a
/// host (`ApplyRequest`, whose `arguments` are the command line), how it exits (`ApplyExit`) and what it
/// answers on standard output (`ApplyReport`, JSON).
public struct ApplyRequest: Sendable, Equatable {
    /// The `redeye` binary on the host.
    public var redeye: String
    public var root: String
    /// Where the deploy staged the content the host lacked.
    public var objects: String
    public var commit: String
    public var ref: String
    public var repository: String
    public var keep: Int
    /// The accounts the plans give the role's files to.
    public var accounts: InstallAccounts?
    /// Restart the role's services once `current` has moved, in the same command.
    public var restart: RestartRequest?
    /// When the release is current already: audit it and rewrite what changed (`deploy --repair`).
    public var repair = false

    public init(
        redeye: String, root: String, objects: String, commit: String, ref: String, repository: String, keep: Int,
        accounts: InstallAccounts? = nil, restart: RestartRequest?, repair: Bool = false
    ) {
        self.redeye = redeye
        self.root = root
        self.objects = objects
        self.commit = commit
        self.ref = ref
        self.repository = repository
        self.keep = keep
        self.accounts = accounts
        self.restart = restart
        self.repair = repair
    }

    /// The command line, program first; the deploy quotes each word for the remote shell.
    public var arguments: [String] {
        var words = [
            redeye, "bundle", "apply", "--root", root, "--objects", objects, "--commit", commit, "--ref", ref,
            "--repository", repository, "--keep", String(keep), "--json",
        ]
        if let accounts { words += ["--user", accounts.user, "--group", accounts.group] }
        if let restart { words += ["--restart"] + restart.arguments }
        if repair { words.append("--repair") }
        return words
    }
}

/// The services of a role: systemd units, or the run command where systemd is not running.
public struct RestartRequest: Sendable, Equatable {
    public var units: [String]
    public var run: String?

    public init(units: [String], run: String?) {
        self.units = units
        self.run = run
    }

    /// `--unit U… [--run CMD]`, as `bundle apply --restart` and `service restart` take them.
    public var arguments: [String] {
        units.flatMap { ["--unit", $0] } + (run.map { ["--run", $0] } ?? [])
    }
}

/// The host's other commands a deploy runs: back to a release, and the role's services.
public enum HostCommand: Sendable, Equatable {
    /// `bundle rollback --root ROOT --to ID`.
    case rollback(root: String, to: String)
    /// `service restart --root ROOT --unit U… [--run CMD]`.
    case restartServices(root: String, RestartRequest)
    /// `service stop --root ROOT`.
    case stopServices(root: String)

    /// The command line after the `redeye` program.
    public var arguments: [String] {
        switch self {
        case .rollback(let root, let id): ["bundle", "rollback", "--root", root, "--to", id]
        case .restartServices(let root, let restart): ["service", "restart", "--root", root] + restart.arguments
        case .stopServices(let root): ["service", "stop", "--root", root]
        }
    }
}

/// How `redeye bundle apply` exits.
public enum ApplyExit: Int32, Sendable {
    /// Installed and switched (and restarted, when asked); the report says how.
    case switched = 0
    /// Content was neither staged nor on the host; the report lists it, nothing was switched.
    case missingContent = 7
    /// Switched, but the restart failed; the report says why.
    case restartFailed = 12
    /// The command line was not understood.
    case usage = 64
    /// The shell found no such program.
    case notInstalled = 127
}

/// What `redeye bundle apply --json` answers: one flat object, the install's outcome with the restart's and the
/// missing content's keys beside it.
public struct ApplyReport: Sendable, Codable, Equatable {
    public var release: String?
    public var commit: String?
    public var ref: String?
    public var previous: String?
    public var alreadyCurrent: Bool?
    public var filesWritten: Int?
    public var filesLinked: Int?
    public var bytesWritten: Int64?
    /// What the restart said it did, or why it failed.
    public var services: String?
    public var restartError: String?
    public var restartSeconds: Double?
    /// Content hashes the host needs sent (exit 7).
    public var missing: [String]?
    /// With `--repair`: what the audit found changed in the current release, now rewritten (empty: intact).
    public var repaired: [String]?

    public init() {}

    public init(_ outcome: BundleInstaller.Outcome) {
        release = outcome.release
        commit = outcome.commit
        ref = outcome.ref
        previous = outcome.previous
        alreadyCurrent = outcome.alreadyCurrent
        filesWritten = outcome.filesWritten
        filesLinked = outcome.filesLinked
        bytesWritten = outcome.bytesWritten
        repaired = outcome.repaired
    }

    enum CodingKeys: String, CodingKey {
        case release, commit, ref, previous, services, missing, repaired
        case alreadyCurrent = "already_current"
        case filesWritten = "files_written"
        case filesLinked = "files_linked"
        case bytesWritten = "bytes_written"
        case restartError = "restart_error"
        case restartSeconds = "restart_seconds"
    }
}

extension BundleInstaller {
    /// The receiving end of a deploy: reads the manifest (whole, or a delta against the current release's),
    /// installs from the staged content, and restarts the services once `current` has moved when asked.
    /// Returns how the command exits and what it answers; throws only what is not part of the contract (a
    /// refused or failed install).
    public func apply(
        _ request: ApplyRequest, manifestInput input: [UInt8], clock: () -> ContinuousClock.Instant = { .now }
    ) throws -> (ApplyExit, ApplyReport) {
        var installer = self
        if let accounts = request.accounts { installer.accounts = accounts }
        return try installer.applying(request, manifestInput: input, clock: clock)
    }

    func applying(
        _ request: ApplyRequest, manifestInput input: [UInt8], clock: () -> ContinuousClock.Instant
    ) throws -> (ApplyExit, ApplyReport) {
        var manifest = input
        if ManifestDelta.isDelta(input) {
            let current = try currentRelease().map { try manifestBytes(ofRelease: $0) }
            manifest = try ManifestDelta.apply(input, to: current ?? [])
        }
        let outcome: Outcome
        do {
            outcome = try apply(
                manifestBytes: manifest, objects: request.objects, commit: request.commit, ref: request.ref,
                repository: request.repository, repair: request.repair)
        } catch let missing as MissingContent {
            var report = ApplyReport()
            report.missing = missing.sha256
            return (.missingContent, report)
        }
        var report = ApplyReport(outcome)
        // A current release left as it was needs no restart: nothing the services read has changed.
        let unchanged = outcome.alreadyCurrent && (outcome.repaired ?? []).isEmpty
        guard let restart = request.restart, !unchanged else { return (.switched, report) }
        let started = clock()
        do {
            report.services = try ServiceManager(layout: layout).restart(units: restart.units, run: restart.run)
        } catch {
            report.restartError = "\(error)"
        }
        let elapsed = clock() - started
        report.restartSeconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        return (report.restartError == nil ? .switched : .restartFailed, report)
    }
}
