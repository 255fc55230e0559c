import Database
import FoundationEssentials
import Glibc
import Schema

/// The one way a job opens the inventory: the schema it reads the database by, the connection, and the store
/// that writes through the schema and the change log on behalf of one actor.
public struct InventoryConnection {
    /// How the job finds the database.
    public enum Opening: Sendable {
        /// As it is: a SQLite file must exist, nothing is migrated (reads, boot records, lock commands).
        case existing
        /// Created when missing and brought to the schema by its safe changes (a deploy that records itself).
        /// A destructive change is refused, as `schema migrate` refuses it.
        case migrating
    }

    public let schema: DatabaseSchema
    public let db: any SQLConnection
    public let store: RecordStore

    public init(db: any SQLConnection, schema: DatabaseSchema, actor: String, clock: @escaping @Sendable () -> Date) {
        self.schema = schema
        self.db = db
        self.store = RecordStore(schema: schema, db: db, actor: actor, clock: clock)
    }

    public static func open(
        _ url: String, schema: DatabaseSchema, actor: String, _ opening: Opening,
        clock: @escaping @Sendable () -> Date = { Date() }
    ) throws -> InventoryConnection {
        let db = try openDatabase(DatabaseURL(url), create: opening == .migrating)
        do {
            if opening == .migrating { _ = try Migrator(schema: schema, actor: actor, clock: clock).migrate(db) }
        } catch {
            db.close()
            throw error
        }
        return InventoryConnection(db: db, schema: schema, actor: actor, clock: clock)
    }

    public func close() { db.close() }
}
