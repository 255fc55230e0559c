import Database
import Failures
import FoundationEssentials
import Glibc
import Inventory
import Plan
import Schema
import Synchronization
import Text

/// The deploy's record in the inventory: the `deployment` and `deployment_host` rows, written as the deploy goes
/// (so an interrupted run can be resumed from them), and the role's `deploy_lock`. Shared by the host workers:
/// every call holds one lock, because a database connection is used by one thread at a time.
// Unchecked: `db` is a database connection (a C handle, not Sendable) used only inside `locked`, one thread at a
// time; the compiler cannot see that rule.
public final class Journal: @unchecked Sendable {
    let inventory: InventoryConnection
    var db: any SQLConnection { inventory.db }
    var store: RecordStore { inventory.store }
    private let mutex = Mutex(())
    let clock: @Sendable () -> Date

    public init(inventory: InventoryConnection, clock: @escaping @Sendable () -> Date = { Date() }) {
        self.inventory = inventory
        self.clock = clock
    }

    /// The deploy's record for a deploy that writes: the inventory created or migrated to the schema (safe
    /// changes only), holding the plans' sites, roles and hosts (written in one transaction).
    public static func open(
        _ url: String, schema: DatabaseSchema, actor: String, plans: Plans,
        clock: @escaping @Sendable () -> Date = { Date() }
    ) throws -> Journal {
        let inventory = try InventoryConnection.open(url, schema: schema, actor: actor, .migrating, clock: clock)
        do {
            try inventory.db.exclusiveTransaction {
                _ = try InventorySync(plans: plans, store: inventory.store).run(prune: false)
            }
        } catch {
            inventory.close()
            throw error
        }
        return Journal(inventory: inventory, clock: clock)
    }

    /// The deploy's record as it is, for commands that read it or release a lock.
    public static func openExisting(
        _ url: String, schema: DatabaseSchema, actor: String, clock: @escaping @Sendable () -> Date = { Date() }
    ) throws -> Journal {
        Journal(
            inventory: try InventoryConnection.open(url, schema: schema, actor: actor, .existing, clock: clock),
            clock: clock)
    }

    public func close() { inventory.close() }

    /// The inventory's facts of every host (status, site, role, tags), for selecting hosts.
    public func hostFacts() throws -> [String: HostFacts] { try locked { try HostFactsReader.read(db) } }

    /// A deployment row's change, for the change log (before: the row as it was).
    func logDeployment(_ id: Int64, _ action: ChangeAction, before: Record?) throws {
        try store.recordChange("deployment", key: [String(id)], action: action, before: before)
    }

    func logHost(_ deployment: Int64, _ host: String, _ action: ChangeAction, before: Record?) throws {
        try store.recordChange("deployment_host", key: [String(deployment), host], action: action, before: before)
    }

    func now() -> SQLValue { .text(iso8601UTC(clock())) }

    func locked<T, Failure: Error>(_ body: () throws(Failure) -> T) throws(Failure) -> T {
        try mutex.withLock { _ throws(Failure) in try body() }
    }

    // MARK: deployments

    /// Records a new deployment and its hosts (pending, with their batch numbers); returns its id.
    func start(
        role: String, ref: String, previousRef: String?, kind: DeployKind, actor: String, message: String?,
        options: DeployOptions.Recorded, hosts: [(name: String, batch: Int)]
    ) throws -> Int64 {
        try locked {
            try db.exclusiveTransaction {
                let attrs = String(decoding: try JSONEncoder().encode(options), as: UTF8.self)
                let rows = try db.query(
                    """
                    INSERT INTO deployment (role, ref, previous_ref, kind, state, requested_by, message, started_at, attrs)
                    VALUES ($1, $2, $3, $4, 'running', $5, $6, $7, $8) RETURNING id
                    """,
                    [
                        .text(role), .text(ref), previousRef.map(SQLValue.text) ?? .null, .text(kind.rawValue),
                        .text(actor),
                        message.map(SQLValue.text) ?? .null, now(), .text(attrs),
                    ])
                guard let id = rows.first?.int("id") else {
                    throw DeployError("the inventory returned no deployment id")
                }
                let insert = try db.prepare(
                    "INSERT INTO deployment_host (deployment, host, batch, state) VALUES ($1, $2, $3, 'pending')")
                for host in hosts { try insert.run([.integer(id), .text(host.name), .integer(Int64(host.batch))]) }
                try logDeployment(id, .insert, before: nil)
                for host in hosts { try logHost(id, host.name, .insert, before: nil) }
                return id
            }
        }
    }

    func hostStarted(_ deployment: Int64, _ host: String) throws {
        try locked {
            _ = try db.query(
                "UPDATE deployment_host SET state = 'running', step = 'connect', error = NULL, started_at = $3, finished_at = NULL WHERE deployment = $1 AND host = $2",
                [.integer(deployment), .text(host), now()])
        }
    }

    /// What the host ran before this deployment touched it: what a resumed run rolls it back to.
    func hostInspected(_ deployment: Int64, _ host: String, releaseBefore: String?) throws {
        try locked {
            _ = try db.query(
                "UPDATE deployment_host SET release_before = $3 WHERE deployment = $1 AND host = $2",
                [.integer(deployment), .text(host), releaseBefore.map(SQLValue.text) ?? .null])
        }
    }

    func hostStep(_ deployment: Int64, _ host: String, _ step: HostStep) throws {
        try locked {
            _ = try db.query(
                "UPDATE deployment_host SET step = $3 WHERE deployment = $1 AND host = $2",
                [.integer(deployment), .text(host), .text(step.rawValue)])
        }
    }

    /// A host's outcome, one change log entry (its progress through the steps is not logged).
    func hostFinished(_ deployment: Int64, _ outcome: HostOutcome) throws {
        try locked {
            try db.exclusiveTransaction {
                let before = try store.get("deployment_host", key: [String(deployment), outcome.host])
                try writeHostOutcome(deployment, outcome)
                try logHost(deployment, outcome.host, .update, before: before)
            }
        }
    }

    func writeHostOutcome(_ deployment: Int64, _ outcome: HostOutcome) throws {
        do {
            _ = try db.query(
                """
                UPDATE deployment_host SET state = $3, step = $4, error = $5, release_before = $6, release_after = $7,
                    finished_at = $8, files_sent = $9, bytes_sent = $10, seconds = $11, step_seconds = $12
                WHERE deployment = $1 AND host = $2
                """,
                [
                    .integer(deployment), .text(outcome.host), .text(outcome.state.rawValue),
                    outcome.step.map { SQLValue.text($0.rawValue) } ?? .null, outcome.error.map(SQLValue.text) ?? .null,
                    outcome.releaseBefore.map(SQLValue.text) ?? .null, outcome.releaseAfter.map(SQLValue.text) ?? .null,
                    now(), .integer(Int64(outcome.filesSent)), .integer(outcome.bytesSent), .real(outcome.seconds),
                    outcome.stepSeconds.isEmpty
                        ? .null
                        : .text(String(decoding: try JSONEncoder().encode(outcome.stepSeconds), as: UTF8.self)),
                ])
        }
    }

    func finish(_ deployment: Int64, state: DeployState) throws {
        try locked {
            try db.exclusiveTransaction {
                let before = try store.get("deployment", key: [String(deployment)])
                _ = try db.query(
                    "UPDATE deployment SET state = $2, finished_at = $3 WHERE id = $1",
                    [.integer(deployment), .text(state.rawValue), now()])
                try logDeployment(deployment, .update, before: before)
            }
        }
    }

    /// The newest deployment of `role` that did not finish (running when its deployer died, or interrupted).
    public func unfinished(role: String?) throws -> DeploymentRecord? {
        try deployments(role: role, limit: 50).first { $0.state == .running || $0.state == .interrupted }
    }

    public func deployments(role: String?, limit: Int) throws -> [DeploymentRecord] {
        try locked {
            let rows = try db.query(
                """
                SELECT id, role, ref, previous_ref, kind, state, requested_by, message, started_at, finished_at, attrs
                FROM deployment WHERE ($1 IS NULL OR role = $1) ORDER BY id DESC LIMIT \(max(1, limit))
                """, [role.map(SQLValue.text) ?? .null])
            return rows.map { row in
                DeploymentRecord(
                    id: row.int("id") ?? 0, role: row.string("role"), ref: row.string("ref") ?? "",
                    previousRef: row.string("previous_ref"),
                    kind: DeployKind(rawValue: row.string("kind") ?? "") ?? .rolling,
                    state: row.string("state").flatMap(DeployState.init(rawValue:)) ?? .failed,
                    requestedBy: row.string("requested_by") ?? "",
                    message: row.string("message"), startedAt: row.string("started_at"),
                    finishedAt: row.string("finished_at"),
                    options: row.string("attrs").flatMap {
                        try? JSONDecoder().decode(DeployOptions.Recorded.self, from: Data($0.utf8))
                    },
                    hosts: [])
            }
        }
    }

    public func hosts(of deployment: Int64) throws -> [HostOutcome] {
        try locked {
            try db.query(
                """
                SELECT host, batch, state, step, error, release_before, release_after, started_at, finished_at,
                    files_sent, bytes_sent, seconds, step_seconds
                FROM deployment_host WHERE deployment = $1 ORDER BY batch, host
                """, [.integer(deployment)]
            ).map { row in
                var outcome = HostOutcome(
                    host: row.string("host") ?? "", batch: Int(row.int("batch") ?? 0),
                    state: HostOutcome.State(rawValue: row.string("state") ?? "") ?? .pending,
                    step: row.string("step").flatMap(HostStep.init(rawValue:)), error: row.string("error"),
                    releaseBefore: row.string("release_before"),
                    releaseAfter: row.string("release_after"), startedAt: row.string("started_at"),
                    finishedAt: row.string("finished_at"))
                outcome.filesSent = Int(row.int("files_sent") ?? 0)
                outcome.bytesSent = row.int("bytes_sent") ?? 0
                outcome.seconds = row.double("seconds") ?? 0
                outcome.stepSeconds =
                    row.string("step_seconds").flatMap {
                        try? JSONDecoder().decode([HostOutcome.StepTime].self, from: Data($0.utf8))
                    } ?? []
                return outcome
            }
        }
    }

    /// The release `host` ran when a deploy of `role` last finished with it (what a host that a stopped deploy
    /// skipped still runs), or nil when no deploy ever reached it.
    public func lastKnownRelease(host: String, role: String) throws -> String? {
        try locked {
            let rows = try db.query(
                """
                SELECT dh.state, dh.release_before, dh.release_after FROM deployment_host dh
                JOIN deployment d ON d.id = dh.deployment
                WHERE dh.host = $1 AND d.role = $2 AND dh.state IN ('succeeded', 'failed', 'rolled_back')
                ORDER BY dh.deployment DESC LIMIT 1
                """, [.text(host), .text(role)])
            guard let row = rows.first else { return nil }
            return row.string("state") == "succeeded" ? row.string("release_after") : row.string("release_before")
        }
    }

    /// The ref the role ran before its newest succeeded deploy (what `deploy rollback` goes back to).
    public func refBeforeLastSuccess(role: String) throws -> (current: String, previous: String)? {
        let done = try deployments(role: role, limit: 100).filter { $0.state == .succeeded }
        guard let last = done.first else { return nil }
        if let earlier = done.dropFirst().first(where: { $0.ref != last.ref }) { return (last.ref, earlier.ref) }
        return last.previousRef.map { (last.ref, $0) }
    }

    // MARK: locks

    /// Takes the role's deploy lock, or throws `DeployLocked` naming who holds it (and whether it looks stale).
    func acquireLock(role: String, owner: String, message: String?, staleAfter: TimeInterval) throws {
        try locked {
            try db.exclusiveTransaction {
                if let held = try lockRow(role) {
                    throw DeployLocked(lock: held, stale: isStale(held, staleAfter))
                }
                _ = try db.query(
                    "INSERT INTO deploy_lock (role, owner, message, acquired_at, heartbeat_at) VALUES ($1, $2, $3, $4, $4)",
                    [.text(role), .text(owner), message.map(SQLValue.text) ?? .null, now()])
            }
        }
    }

    /// Takes over the lock a dead run of `deployment` left (for resume).
    func adoptLock(role: String, deployment: Int64, owner: String) throws {
        try locked {
            try db.exclusiveTransaction {
                if let held = try lockRow(role), held.deployment != deployment {
                    throw DeployLocked(lock: held, stale: false)
                }
                _ = try db.query("DELETE FROM deploy_lock WHERE role = $1", [.text(role)])
                _ = try db.query(
                    "INSERT INTO deploy_lock (role, owner, message, deployment, acquired_at, heartbeat_at) VALUES ($1, $2, $3, $4, $5, $5)",
                    [
                        .text(role), .text(owner), .text("resuming deployment \(deployment)"), .integer(deployment),
                        now(),
                    ]
                )
            }
        }
    }

    func attachLock(role: String, deployment: Int64) throws {
        try locked {
            _ = try db.query(
                "UPDATE deploy_lock SET deployment = $2 WHERE role = $1", [.text(role), .integer(deployment)])
        }
    }

    func heartbeat(role: String) {
        locked {
            _ = try? db.query("UPDATE deploy_lock SET heartbeat_at = $2 WHERE role = $1", [.text(role), now()])
        }
    }

    /// Releases the role's lock; returns whether there was one.
    @discardableResult
    public func releaseLock(role: String) throws -> Bool {
        try locked {
            let existed = try lockRow(role) != nil
            _ = try db.query("DELETE FROM deploy_lock WHERE role = $1", [.text(role)])
            return existed
        }
    }

    public func locks() throws -> [DeployLock] {
        try locked {
            try db.query(
                "SELECT role, owner, message, deployment, acquired_at, heartbeat_at FROM deploy_lock ORDER BY role"
            )
            .map(DeployLock.init)
        }
    }

    func lockRow(_ role: String) throws -> DeployLock? {
        try db.query(
            "SELECT role, owner, message, deployment, acquired_at, heartbeat_at FROM deploy_lock WHERE role = $1",
            [.text(role)]
        ).first.map(DeployLock.init)
    }

    public func isStale(_ lock: DeployLock, _ staleAfter: TimeInterval) -> Bool {
        guard let beat = lock.heartbeatAt.flatMap(parseTimestamp) else { return false }
        return clock().timeIntervalSince(beat) > staleAfter
    }
}

/// A role's deploy lock as the inventory holds it.
public struct DeployLock: Sendable, Encodable {
    public var role: String
    public var owner: String
    public var message: String?
    public var deployment: Int64?
    public var acquiredAt: String?
    public var heartbeatAt: String?

    init(_ row: SQLRow) {
        role = row.string("role") ?? ""
        owner = row.string("owner") ?? ""
        message = row.string("message")
        deployment = row.int("deployment")
        acquiredAt = row.string("acquired_at")
        heartbeatAt = row.string("heartbeat_at")
    }

    enum CodingKeys: String, CodingKey {
        case role, owner, message, deployment
        case acquiredAt = "acquired_at"
        case heartbeatAt = "heartbeat_at"
    }
}

/// Another deploy holds the role.
public struct DeployLocked: ClassifiedError {
    public var failureKind: FailureKind { .locked }
    public var lock: DeployLock
    public var stale: Bool
    public var description: String {
        var text =
            "role \(lock.role) is being deployed by \(lock.owner) since \(lock.acquiredAt ?? "?")"
            + (lock.message.map { " (\($0))" } ?? "") + (lock.deployment.map { ", deployment \($0)" } ?? "")
        if stale {
            text +=
                "; the lock looks stale (no heartbeat since \(lock.heartbeatAt ?? "?")): if that deploy is dead, `redeye deploy resume \(lock.role)` continues it, or `redeye deploy lock release \(lock.role)` breaks the lock"
        }
        return text
    }
}

/// A deployment as recorded.
public struct DeploymentRecord: Sendable, Encodable {
    public var id: Int64
    public var role: String?
    public var ref: String
    public var previousRef: String?
    public var kind: DeployKind
    public var state: DeployState
    public var requestedBy: String
    public var message: String?
    public var startedAt: String?
    public var finishedAt: String?
    public var options: DeployOptions.Recorded?
    public var hosts: [HostOutcome]

    enum CodingKeys: String, CodingKey {
        case id, role, ref, kind, state, message, hosts
        case previousRef = "previous_ref"
        case requestedBy = "requested_by"
        case startedAt = "started_at"
        case finishedAt = "finished_at"
    }
}

/// A timestamp as either database returns it (ISO 8601 from SQLite, `2026-11-22 21:00:00+00` from PostgreSQL),
/// through the inventory's own timestamp normalization (offsets applied, UTC).
func parseTimestamp(_ text: String) -> Date? {
    guard let utc = try? ValueNormalizer.timestamp(text) else { return nil }
    return parseISO8601(utc)
}

extension DeployOptions {
    /// The options a recorded deployment ran with, to resume it exactly.
    public init(resuming record: DeploymentRecord, role: String, cacheDirectory: String) throws {
        self.init(role: role, cacheDirectory: cacheDirectory)
        ref = record.ref
        hosts = try record.options?.hosts.map { try HostSelection(parsing: $0) }
        batch = try record.options?.batch.map { try BatchPlan(parsing: $0.joined(separator: ",")) }
        window = record.options?.window
        maxFail = try record.options?.maxFail.map { try FailureBudget(parsing: $0) }
        kind = record.kind
    }
}
