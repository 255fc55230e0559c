import Database
import Foundation

/// The database engines every inventory behaviour is tested against.
public enum Engine: String, CaseIterable, Sendable, CustomStringConvertible {
    case sqlite, postgres
    public var description: String { rawValue }
}

public struct TestSetupError: Error, CustomStringConvertible {
    public var description: String
    public init(description: String) { self.description = description }
}

/// A fresh, empty database for one test: a SQLite file in a temporary directory, or a PostgreSQL schema of
/// its own on the test server (`REDEYE_TEST_POSTGRES`, started by `make test`). `remove()` deletes it.
public final class TestDatabase: @unchecked Sendable {
    public let engine: Engine
    /// A URL Redeye accepts (`sqlite:PATH`, `postgres://…?options=-csearch_path=…`).
    public let url: String
    public let directory: String
    private let schemaName: String?

    public init(_ engine: Engine) throws {
        self.engine = engine
        directory = try makeTemporaryDirectory()
        switch engine {
        case .sqlite:
            url = "sqlite:\(directory)/inventory.db"
            schemaName = nil
        case .postgres:
            guard let base = ProcessInfo.processInfo.environment["REDEYE_TEST_POSTGRES"] else {
                throw TestSetupError(
                    description: "PostgreSQL tests need REDEYE_TEST_POSTGRES and PGPASSWORD: run them with `make test`")
            }
            let name = "t_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(16)
            let admin = try PostgresConnection(conninfo: base)
            try admin.execute("CREATE SCHEMA \(name)")
            admin.close()
            schemaName = String(name)
            url = base + "?options=-csearch_path%3D\(name)"
        }
    }

    /// The SQLite file's path (SQLite only).
    public var path: String { "\(directory)/inventory.db" }

    public func open() throws -> any SQLConnection {
        try openDatabase(DatabaseURL(url))
    }

    /// A fingerprint of everything in the database: every table's definition and rows. Equal before and
    /// after a refused operation means nothing changed. For SQLite it is the file's bytes.
    public func snapshot() throws -> String {
        switch engine {
        case .sqlite:
            guard let data = FileManager.default.contents(atPath: path) else { return "<no file>" }
            return data.base64EncodedString()
        case .postgres:
            let db = try open()
            defer { db.close() }
            var out = ""
            let tables = try db.query(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() ORDER BY 1")
            for t in tables {
                let name = t.string("table_name") ?? ""
                out += "table \(name)\n"
                for c in try db.query(
                    "SELECT column_name, data_type, is_nullable, column_default FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position",
                    [.text(name)])
                {
                    out += "  \(c.values.map(\.description).joined(separator: " "))\n"
                }
                for c in try db.query(
                    "SELECT conname, pg_get_constraintdef(oid) AS d FROM pg_constraint WHERE conrelid = $1::regclass ORDER BY 1",
                    [.text(quoteIdentifier(name))])
                {
                    out += "  \(c.values.map(\.description).joined(separator: " "))\n"
                }
                for r in try db.query("SELECT t::text AS row FROM \(quoteIdentifier(name)) AS t ORDER BY 1") {
                    out += "  row \(r.string("row") ?? "")\n"
                }
            }
            return out
        }
    }

    public func remove() {
        if let schemaName, let base = ProcessInfo.processInfo.environment["REDEYE_TEST_POSTGRES"],
            let admin = try? PostgresConnection(conninfo: base)
        {
            try? admin.execute("DROP SCHEMA \(schemaName) CASCADE")
            admin.close()
        }
        try? FileManager.default.removeItem(atPath: directory)
    }
}

/// A new empty directory under the system's temporary directory.
public func makeTemporaryDirectory() throws -> String {
    let path = NSTemporaryDirectory() + "redeye-test-" + UUID().uuidString
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

/// Writes files (relative path → contents) under a directory, creating folders.
public func writeFiles(_ files: [String: String], under directory: String) throws {
    for (path, contents) in files {
        let full = directory + "/" + path
        try FileManager.default.createDirectory(
            atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try contents.write(toFile: full, atomically: true, encoding: .utf8)
    }
}

/// The repository's root, found from this file's location.
public let repositoryRoot: String = {
    var url = URL(fileURLWithPath: #filePath)
    for _ in 0..<3 { url.deleteLastPathComponent() }
    return url.path
}()
