import Database
import FileSystem
import FoundationEssentials
import Glibc
import Inventory
import Net
import Plan
import Schema
import Text

/// Where a pass's record went.
public enum BootRecording: String, Sendable, Codable {
    /// Written to the inventory.
    case recorded
    /// The inventory could not be reached (or refused it): kept on the host, delivered on a later pass.
    case queued
    /// No inventory is configured: nothing to record into.
    case unconfigured
}

/// Writes boot records into the inventory, and keeps those it could not write on the host until it can.
///
/// A booting host must not become invisible because the inventory was busy: a storm of hosts rebooting at once
/// can exhaust the server's connections. A record is written in one transaction; on a failure of the connection
/// or a lock it is tried again with jittered backoff until `retryFor` has passed, and then queued under the
/// agent's state directory. Every record carries the pass's id, so a record delivered twice (a commit whose
/// answer was lost) is written once.
struct BootRecorder {
    var layout: BootLayout
    var url: String
    var schemaDirectory: String
    var retryFor: Swift.Duration
    var clock: @Sendable () -> Date
    var sleep: @Sendable (Swift.Duration) -> Void
    var log: (String) -> Void

    /// The queue of records not yet delivered, one file per pass.
    var queueDirectory: String { layout.stateDirectory + "/unrecorded" }

    /// What one queued record holds: the pass's report (plans sync and host status are not replayed: a later
    /// pass has newer ones).
    struct Queued: Codable {
        var report: BootReport
    }

    /// Records `report` (after any queued records), retrying while the inventory is unreachable or busy; queues it
    /// when that does not succeed. Returns nil when recorded, else why not.
    func record(_ report: BootReport, _ trusted: TrustedPlans?) -> String? {
        let started = ContinuousClock.now
        var pause: Swift.Duration = .milliseconds(100)
        var generator = SystemRandomNumberGenerator()
        var attempt = 0
        while true {
            attempt += 1
            do {
                let inventory = try InventoryConnection.open(
                    url,
                    schema: try SchemaLoader().load(
                        builtInWith: FileManager.default.fileExists(atPath: schemaDirectory) ? schemaDirectory : nil),
                    actor: "redeye boot (\(report.mac ?? "no MAC"))", .existing, clock: clock)
                defer { inventory.close() }
                let store = inventory.store
                try deliverQueue(store)
                try write(report, trusted, store, syncPlans: true)
                return nil
            } catch {
                let elapsed = ContinuousClock.now - started
                guard Self.isTransient(error), elapsed + pause < retryFor else {
                    let why = "cannot record the boot in the inventory \(url) (\(attempt) attempts): \(error)"
                    do {
                        try enqueue(report)
                        return why + "; kept in \(queueDirectory), to be recorded by the next pass"
                    } catch {
                        return why + "; and cannot keep it on this host either: \(error)"
                    }
                }
                // Full jitter: hosts that failed together do not come back together.
                let wait = Swift.Duration.milliseconds(
                    Int64.random(in: pause.wholeMilliseconds / 2...pause.wholeMilliseconds, using: &generator))
                log("report: the inventory is unavailable (\(error)); retrying in \(wait)")
                sleep(wait)
                pause = min(pause * 2, .seconds(5))
            }
        }
    }

    /// Failures that another try can cure: no connection (too many clients, server restarting), a lock or a
    /// serialization conflict.
    static func isTransient(_ error: any Error) -> Bool {
        guard let error = error as? DatabaseError else { return false }
        switch error.kind {
        case .connection, .busy: return true
        default: return false
        }
    }

    func enqueue(_ report: BootReport) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        try Directory.open(queueDirectory, create: 0o700).writeAtomically(
            report.id + ".json", Array(try encoder.encode(Queued(report: report))), mode: 0o600)
    }

    /// The queued records, oldest first.
    func queued() throws -> [(name: String, record: Queued)] {
        guard FileManager.default.fileExists(atPath: queueDirectory) else { return [] }
        let directory = try Directory.open(queueDirectory)
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        var found: [(String, Queued)] = []
        for name in try directory.names() where name.hasSuffix(".json") && !name.hasPrefix(".") {
            let bytes = try directory.read(name, limit: 4 << 20)
            do {
                found.append((name, try decoder.decode(Queued.self, from: Data(bytes))))
            } catch {
                log("warning: \(queueDirectory)/\(name) is not a boot record (\(error)); left as it is")
            }
        }
        return found.sorted { $0.1.report.startedAt < $1.1.report.startedAt }
    }

    /// Writes every queued record, each in its transaction, and removes it from the queue once committed.
    func deliverQueue(_ store: RecordStore) throws {
        let pending = try queued()
        guard !pending.isEmpty else { return }
        let directory = try Directory.open(queueDirectory)
        for (name, queued) in pending {
            try write(queued.report, nil, store, syncPlans: false)
            try directory.removeFile(name)
            log("report: delivered the queued record of the pass at \(iso8601UTC(queued.report.startedAt))")
        }
    }

    /// Writes one pass's record in one transaction: the plans' records of this host and its status (a live pass
    /// only), the MAC address and the boot row. A record whose id is already there is not written again.
    func write(_ report: BootReport, _ trusted: TrustedPlans?, _ store: RecordStore, syncPlans: Bool) throws {
        guard let mac = report.mac else { return }
        let db = store.db
        try db.exclusiveTransaction {
            if !(try store.list("boot", where: [("boot_id", report.id)], limit: 1)).isEmpty { return }
            if syncPlans, let trusted, let host = report.host {
                _ = try InventorySync(plans: trusted.plans, store: store).run(only: [host])
                _ = try store.put("host", [("name", host), ("status", report.succeeded ? "active" : "failed")])
            }
            // Only a pass that read trusted plans and found no host there enlists: a pass that failed before
            // (plans unreachable, untrusted) knows nothing about the machine, and a rogue DHCP server must not be
            // able to make a planned host appear as a new, unassigned one.
            if report.host == nil, report.state == .enlisted {
                let name = "discovered-" + mac.replacing(":", with: "")
                if try store.get("host", key: [name]) == nil {
                    let seen = report.interfaces.map { "\($0.name) \($0.mac)" }.joined(separator: ", ")
                    _ = try store.put(
                        "host",
                        [
                            ("name", name), ("status", "discovered"),
                            (
                                "description",
                                "enlisted by redeye boot at \(iso8601UTC(report.startedAt)): boot interface \(report.interface ?? "?") \(mac); interfaces \(seen)"
                            ),
                        ])
                }
            }
            _ = try store.put("mac_address", [("mac", mac), ("last_seen", iso8601UTC(report.startedAt))])
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            struct Facts: Encodable {
                var interface: String?
                var interfaceReason: String?
                var interfaces: [NetworkInterface]
                var rejectedHints: [String]
                var warnings: [String]
                var signer: String?
                enum CodingKeys: String, CodingKey {
                    case interface, interfaces, warnings, signer
                    case interfaceReason = "interface_reason"
                    case rejectedHints = "rejected_hints"
                }
            }
            let facts = Facts(
                interface: report.interface, interfaceReason: report.interfaceReason, interfaces: report.interfaces,
                rejectedHints: report.rejectedHints, warnings: report.warnings, signer: report.plans?.signer)
            _ = try store.put(
                "boot",
                [
                    ("boot_id", report.id), ("mac", mac), ("host", report.host), ("state", report.state.rawValue),
                    ("plans_url", report.plans?.url), ("plans_source", report.plans?.source),
                    ("plans_commit", report.plans?.commit), ("role", report.role), ("ref", report.ref),
                    ("release", report.release), ("step", report.step?.rawValue), ("error", report.error),
                    ("steps", String(decoding: try encoder.encode(report.steps), as: UTF8.self)),
                    ("facts", String(decoding: try encoder.encode(facts), as: UTF8.self)),
                    ("started_at", iso8601UTC(report.startedAt)),
                    ("finished_at", iso8601UTC(report.finishedAt ?? clock())),
                ])
        }
    }
}
