import Bundles
import Database
import FoundationEssentials
import Glibc
import InstallRoot
import Inventory
import Net
import Plan
import Schema
import Service
import Text

/// What `redeye boot` is told: where the host's files are, how to find and follow the plans, where to report.
public struct BootOptions: Sendable {
    public var layout: BootLayout
    /// The DHCP option carrying the plans URL (a private-use code, 224–254).
    public var optionCode = 224
    /// An explicit plans URL (still only trusted when signed).
    public var plansURL: String?
    /// The branch or tag of the plans repository to follow.
    public var plansRef = "main"
    /// The inventory; default: the plans' `inventory:`, else `/etc/redeye/inventory.url` in the image.
    public var inventory: String?
    /// The schema the inventory was made from (the image ships it).
    public var schemaDirectory: String
    /// How long to keep retrying while the plans server or the network is down.
    public var retryFor: Swift.Duration = .seconds(300)
    /// How long to keep retrying while the inventory is unreachable or busy before keeping the record on the host.
    public var recordRetryFor: Swift.Duration = .seconds(60)
    /// Whether to ask DNS when no lease holds the option.
    public var useDNS = true
    public var environment: [String: String] = [:]

    public init(layout: BootLayout, schemaDirectory: String? = nil) {
        self.layout = layout
        self.schemaDirectory = schemaDirectory ?? layout.path("/usr/share/redeye/schema")
    }
}

/// One step of a boot as reported: what it did and how long it took.
public struct StepReport: Sendable, Codable {
    public enum Outcome: String, Sendable, Codable { case ok, failed }
    public var name: BootStep
    public var outcome: Outcome
    public var seconds: Double
    public var detail: String
}

/// The outcome of one boot pass, as written to `/run/redeye/status.json` and recorded in the inventory.
public struct BootReport: Sendable, Codable {
    public struct PlansInfo: Sendable, Codable {
        public var url: String
        public var source: String
        public var origin: String
        public var commit: String
        public var signer: String
    }

    /// This pass's id: a record delivered twice (a commit whose answer was lost) is written once.
    public var id = UUID().uuidString.lowercased()
    public var state = BootState.running
    /// Whether the inventory has this pass's record (nil until the report step).
    public var recording: BootRecording?
    public var host: String?
    public var role: String?
    public var mac: String?
    public var interface: String?
    public var interfaceReason: String?
    public var plans: PlansInfo?
    public var ref: String?
    public var release: String?
    public var previousRelease: String?
    /// The step that failed, and why.
    public var step: BootStep?
    public var error: String?
    public var warnings: [String] = []
    public var rejectedHints: [String] = []
    public var steps: [StepReport] = []
    public var interfaces: [NetworkInterface] = []
    public var startedAt: Date
    public var finishedAt: Date?

    enum CodingKeys: String, CodingKey {
        case id, state, recording, host, role, mac, interface, plans, ref, release, step, error, warnings, steps
        case interfaces
        case interfaceReason = "interface_reason"
        case previousRelease = "previous_release"
        case rejectedHints = "rejected_hints"
        case startedAt = "started_at"
        case finishedAt = "finished_at"
    }

    public var succeeded: Bool { state == .installed || state == .unchanged }

    /// The last pass's report from a status file, nil when there is none.
    public static func read(statusFile: String) throws -> BootReport? {
        guard let data = FileManager.default.contents(atPath: statusFile) else { return nil }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return try decoder.decode(BootReport.self, from: data)
    }
}

/// The steps of a pass as they happen (a reference, so step bodies can also fill the report).
final class StepRecorder {
    var list: [StepReport] = []
}

/// Boot → Learn → Install → Run: one pass of the agent on a host.
public struct BootAgent {
    public var options: BootOptions
    public var clock: @Sendable () -> Date = { Date() }
    public var sleep: @Sendable (Swift.Duration) -> Void = blockingSleep
    /// Progress for an operator, one line per event.
    public var log: (String) -> Void

    public init(options: BootOptions, log: @escaping (String) -> Void) {
        self.options = options
        self.log = log
    }

    var layout: BootLayout { options.layout }

    /// Runs one pass and reports it (status file, inventory). Never throws: every failure is in the report.
    public func run() -> BootReport {
        let steps = StepRecorder()
        var report = BootReport(startedAt: clock())
        var trusted: TrustedPlans?
        do {
            try pass(&report, &trusted, steps)
        } catch let error as BootError {
            fail(&report, step: error.step, error.description)
        } catch {
            fail(&report, step: steps.list.last?.name ?? .boot, "\(error)")
        }
        report.steps = steps.list
        report.finishedAt = clock()
        timed(steps, .report) {
            var notes: [String] = []
            let (recording, warning) = recordInInventory(report, trusted)
            report.recording = recording
            if let warning {
                report.warnings.append(warning)
                log("warning: \(warning)")
                notes.append(warning)
            } else {
                notes.append("recorded in the inventory")
            }
            do {
                try writeStatus(report)
                notes.append("status in \(layout.statusFile)")
            } catch {
                report.warnings.append("\(error)")
                log("warning: \(error)")
            }
            return notes.joined(separator: "; ")
        }
        report.steps = steps.list
        return report
    }

    func fail(_ report: inout BootReport, step: BootStep, _ message: String) {
        report.state = .failed
        report.step = step
        report.error = message
        log("failed at \(step): \(message)")
    }

    /// Runs `body` as a step: logged, timed and reported.
    @discardableResult
    func timed<T>(_ steps: StepRecorder, _ step: BootStep, _ body: () throws -> (T, String)) rethrows -> T {
        let start = ContinuousClock.now
        do {
            let (value, detail) = try body()
            steps.list.append(
                StepReport(name: step, outcome: .ok, seconds: (ContinuousClock.now - start).inSeconds, detail: detail))
            log("\(step.rawValue): \(detail)")
            return value
        } catch {
            steps.list.append(
                StepReport(
                    name: step, outcome: .failed, seconds: (ContinuousClock.now - start).inSeconds, detail: "\(error)")
            )
            throw error
        }
    }

    /// A step that cannot fail.
    func timed(_ steps: StepRecorder, _ step: BootStep, _ body: () -> String) {
        timed(steps, step) { ((), body()) }
    }

    /// One pass, step by step: each step is timed and reported; a step that throws ends the pass.
    func pass(_ report: inout BootReport, _ trusted: inout TrustedPlans?, _ steps: StepRecorder) throws {
        let (interface, discovery) = try timed(steps, .learn) { try learn(&report) }
        let plans = try timed(steps, .fetch) { () throws -> (TrustedPlans, String) in
            let plans = try fetchTrusted(discovery.hints)
            return (
                plans,
                "plans \(plans.commit.short) from \(plans.hint.url) (\(plans.hint.source)), signed by \(plans.signer)"
            )
        }
        trusted = plans
        report.plans = .init(
            url: plans.hint.url, source: plans.hint.source, origin: plans.hint.origin, commit: plans.commit.hex,
            signer: plans.signer)
        guard let plan = identify(plans, interface, &report, steps) else { return }
        let installer = try timed(steps, .install) { try install(plan, &report) }
        registerMonitors(plan, plans, mac: interface.mac, &report, steps)
        try timed(steps, .run) { () throws -> ((), String) in ((), try runServices(plan, installer, report.state)) }
        try fetcherFor().remember(plans)
    }

    /// Learn: the interfaces, the boot interface and where the plans are (leases, DNS, command line, image).
    func learn(_ report: inout BootReport) throws -> ((NetworkInterface, Discovery), String) {
        let interfaces = try InterfaceReader(sysfs: layout.sysfs).interfaces()
        report.interfaces = interfaces
        let commandLine = KernelCommandLine.read(layout.cmdline)
        let discovery = PlansDiscovery(
            layout: layout, optionCode: options.optionCode, explicitURL: options.plansURL,
            environment: options.environment, commandLine: commandLine,
            dns: options.useDNS ? DNSDiscovery(resolvConf: layout.resolvConf) : nil
        ).discover()
        for problem in discovery.rejected {
            report.rejectedHints.append(problem.description)
            log("ignoring a plans hint: \(problem)")
        }
        let (interface, reason) = try bootInterface(
            interfaces, commandLine: commandLine, leaseInterface: discovery.leaseInterface)
        report.interface = interface.name
        report.interfaceReason = reason
        report.mac = interface.mac
        guard !discovery.hints.isEmpty else {
            var message =
                "no plans URL found: no DHCP option \(options.optionCode) in any lease, no DNS record, no redeye.plans= on the kernel command line, no \(layout.imageDefaultURL)"
            if !discovery.rejected.isEmpty {
                message += "; rejected: " + discovery.rejected.map(\.description).joined(separator: "; ")
            }
            throw BootError(step: .learn, message)
        }
        let hints = discovery.hints.map { "\($0.url) (\($0.source))" }.joined(separator: ", ")
        return (
            (interface, discovery), "boot interface \(interface.name) \(interface.mac) (\(reason)); plans at \(hints)"
        )
    }

    /// Identify: this machine's plan, by the boot interface's MAC and then the others'; nil (enlisted) when no
    /// host of the plans has any of them.
    func identify(
        _ plans: TrustedPlans, _ interface: NetworkInterface, _ report: inout BootReport, _ steps: StepRecorder
    ) -> HostPlan? {
        let macs = [interface.mac] + report.interfaces.map(\.mac).filter { $0 != interface.mac }
        guard let host = macs.lazy.compactMap({ plans.plans.host($0) }).first else {
            report.state = .enlisted
            timed(steps, .identify) {
                "no host in plans \(plans.commit.short) has MAC \(macs.joined(separator: " or ")): enlisting this machine for an operator to give it a role"
            }
            return nil
        }
        let plan = plans.plans.plan(for: host)
        report.host = plan.name
        report.role = plan.role
        report.ref = plan.bundle.ref
        timed(steps, .identify) {
            "this is \(plan.name), role \(plan.role) (\(plan.bundle.ref)"
                + (plan.bundle.pin.map { ", pinned to \($0.commit.prefix(12)))" } ?? ")")
        }
        if plan.bundle.pin == nil {
            let warning =
                "role \(plan.role)'s bundle is not pinned by the signed plans: \(plan.bundle.ref) is taken as the bundle server has it (commit the plans with `redeye plan commit` to pin it)"
            report.warnings.append(warning)
            log("warning: \(warning)")
        }
        return plan
    }

    /// Install: the role's bundle at its (pinned) ref under its install root, as its install accounts.
    func install(_ plan: HostPlan, _ report: inout BootReport) throws -> (BundleInstaller, String) {
        let root = plan.install.root
        guard root.hasPrefix("/"), !root.contains("{{"), !root.split(separator: "/").contains("..") else {
            throw BootError(step: .install, "install root '\(root)' of role \(plan.role) is not an absolute path")
        }
        var installer = BundleInstaller(
            root: root, prefix: layout.root.isEmpty ? "/" : layout.root, keep: plan.install.keep, clock: clock,
            progress: { log("install: \($0)") })
        installer.knownHosts = [layout.knownHosts]
        installer.accounts = InstallAccounts(user: plan.install.user, group: plan.install.group)
        installer.sshKey = FileManager.default.fileExists(atPath: layout.sshKey) ? layout.sshKey : nil
        installer.https = try layout.https(for: plan.bundle.repository, step: .install)
        let outcome: BundleInstaller.Outcome
        do {
            outcome = try installer.install(
                repository: plan.bundle.repository, ref: plan.bundle.ref, pin: plan.bundle.pin)
        } catch {
            throw BootError(step: .install, "\(plan.bundle.repository) @ \(plan.bundle.ref): \(error)")
        }
        report.release = outcome.release
        report.previousRelease = outcome.previous
        report.state = outcome.alreadyCurrent ? .unchanged : .installed
        let detail =
            outcome.alreadyCurrent
            ? "release \(outcome.release) (\(plan.bundle.ref)) is already current under \(root)"
            : "release \(outcome.release) (\(plan.bundle.ref)) installed under \(root): \(outcome.filesWritten) file\(outcome.filesWritten == 1 ? "" : "s") written"
                + (outcome.previous.map { ", \(outcome.filesLinked) unchanged from \($0)" } ?? "")
        return (installer, detail)
    }

    /// Monitors: file_sd, the Consul definition and agent; never fatal (a problem is a warning).
    func registerMonitors(
        _ plan: HostPlan, _ plans: TrustedPlans, mac: String, _ report: inout BootReport, _ steps: StepRecorder
    ) {
        let registration = MonitorRegistration(layout: layout, spec: plans.plans.defaults.monitoring).register(
            .init(plan: plan, mac: mac, plansCommit: plans.commit.hex, release: report.release ?? ""))
        timed(steps, .monitors) {
            registration.done.isEmpty
                ? "no monitoring configured in the plans" : registration.done.joined(separator: "; ")
        }
        for problem in registration.problems {
            report.warnings.append(problem)
            log("warning: \(problem)")
        }
    }

    /// Run: the role's services, restarted after a new release, started if not running when unchanged.
    func runServices(_ plan: HostPlan, _ installer: BundleInstaller, _ state: BootState) throws -> String {
        let services = ServiceManager(layout: installer.layout)
        do {
            return state == .unchanged
                ? try services.ensureRunning(units: plan.services, run: plan.run)
                : try services.restart(units: plan.services, run: plan.run)
        } catch {
            throw BootError(step: .run, "\(error)")
        }
    }

    func fetcherFor() -> PlansFetcher { PlansFetcher(layout: layout, ref: options.plansRef) }

    /// Tries each hint in turn; while every failure is the network's or the server's, waits (100 ms doubling
    /// to 5 s) and tries again until `retryFor` has passed. Fails closed on untrusted plans.
    func fetchTrusted(_ hints: [PlansHint]) throws(BootError) -> TrustedPlans {
        let fetcher = fetcherFor()
        let deadline = ContinuousClock.now.advanced(by: options.retryFor)
        var pause: Swift.Duration = .milliseconds(100)
        while true {
            var failures: [PlansFetcher.Failure] = []
            for hint in hints {
                switch fetcher.fetch(hint) {
                case .success(let plans): return plans
                case .failure(let failure):
                    log("\(failure.error.step): \(failure.error)")
                    failures.append(failure)
                }
            }
            let retryable = failures.contains { if case .unreachable = $0 { true } else { false } }
            let message = failures.map(\.error.description).joined(separator: "; ")
            guard retryable, ContinuousClock.now.advanced(by: pause) < deadline else {
                let step: BootStep = failures.contains { $0.error.step == .verify } ? .verify : .fetch
                throw BootError(step: step, (failures.count > 1 ? "no trusted plans: " : "") + message)
            }
            log("fetch: retrying in \(pause)")
            sleep(pause)
            pause = min(pause * 2, .seconds(5))
        }
    }

    func writeStatus(_ report: BootReport) throws(BootError) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        do {
            try writeAtomically(try encoder.encode(report), to: layout.statusFile)
        } catch let error as BootError {
            throw error
        } catch {
            throw BootError(step: .report, "cannot encode the status: \(error)")
        }
    }

    // MARK: inventory

    /// Records the pass (and, for an unknown machine, enlists it), with the records of earlier passes that
    /// could not be written then. Returns where the record went, and a warning when it is not in the inventory.
    func recordInInventory(_ report: BootReport, _ trusted: TrustedPlans?) -> (BootRecording, String?) {
        let fromImage = (try? String(contentsOfFile: layout.path("/etc/redeye/inventory.url"), encoding: .utf8))?
            .trimmed()
        guard let url = options.inventory ?? trusted?.plans.defaults.inventory ?? fromImage, !url.isEmpty else {
            return (
                .unconfigured,
                "no inventory configured (plans `inventory:`, --inventory or /etc/redeye/inventory.url): boot not recorded"
            )
        }
        guard report.mac != nil else { return (.unconfigured, "no MAC address learned: boot not recorded") }
        let recorder = BootRecorder(
            layout: layout, url: url, schemaDirectory: options.schemaDirectory, retryFor: options.recordRetryFor,
            clock: clock, sleep: sleep, log: log)
        guard let problem = recorder.record(report, trusted) else { return (.recorded, nil) }
        return (.queued, problem)
    }
}
