import ArgumentParser
import Bundles
import Database
import Failures
import Foundation
import Schema
import YAML

/// Options every command that reads the schema shares.
struct SchemaOptions: ParsableArguments {
    @Option(
        name: .long,
        help: ArgumentHelp(
            "Directory of schema files (*.yaml) on top of the built-in schema: a file named like a built-in one replaces it, others add tables or extend them (`extend:`). Default: the built-in schema alone.",
            valueName: "dir"))
    var schema: String?

    func load() throws -> DatabaseSchema {
        try SchemaLoader().load(builtInWith: schema)
    }
}

/// Options every command that opens the inventory shares.
struct DatabaseOptions: ParsableArguments {
    @Option(
        name: .long,
        help: ArgumentHelp(
            "Inventory database: sqlite:PATH or postgres://USER@HOST:PORT/DB (password from PGPASSWORD or ~/.pgpass). Default: $REDEYE_DB, else sqlite:inventory.db.",
            valueName: "url"))
    var db: String?

    var url: String { db ?? ProcessInfo.processInfo.environment["REDEYE_DB"] ?? DatabaseURL.defaultURL }

    func open(create: Bool = true) throws -> any SQLConnection {
        try openDatabase(DatabaseURL(url), create: create)
    }

    /// For commands that only read: a SQLite file that does not exist yet reads as an empty database
    /// (so `schema plan` shows everything `migrate` would create) and is not created.
    func openForReading() throws -> any SQLConnection {
        let parsed = try DatabaseURL(url)
        if case .sqlite(let path) = parsed, path != ":memory:", !FileManager.default.fileExists(atPath: path) {
            return try SQLiteConnection(path: ":memory:")
        }
        return try openDatabase(parsed, create: false)
    }
}

/// Writes a line to standard error.
func printError(_ message: String) {
    FileHandle.standardError.write(Data((message.hasSuffix("\n") ? message : message + "\n").utf8))
}

/// Runs a command body, turning Redeye's errors into one clear message on stderr and an exit status.
func reportingErrors(_ body: () throws -> Void) throws {
    do {
        try body()
    } catch let error as ExitCode {
        throw error
    } catch let error as CleanExit {
        throw error
    } catch let error as ClassifiedError where error.failureKind != .failure {
        printError("redeye: \(error)")
        throw ExitCode(ExitStatus.of(error.failureKind))
    } catch let error as ValidationError {
        throw error
    } catch let error as BundleInstaller.MissingContent {
        throw error
    } catch {
        printError("redeye: error: \(error)")
        throw ExitCode(ExitStatus.failure)
    }
}

/// Pretty, key-sorted JSON for scripts.
func printJSON<T: Encodable>(_ value: T) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    encoder.dateEncodingStrategy = .iso8601
    print(String(decoding: try encoder.encode(value), as: UTF8.self))
}

/// Who is running the command, for history records.
func currentActor() -> String {
    let env = ProcessInfo.processInfo.environment
    if let user = env["SUDO_USER"] ?? env["USER"], !user.isEmpty { return user }
    if let pw = getpwuid(getuid()), let name = pw.pointee.pw_name { return String(cString: name) }
    return "uid \(getuid())"
}

/// Reports input problems found by a `validate` command, as text on stderr or as JSON on stdout, and exits 1.
func failValidation(
    _ issues: [(location: SourceLocation?, path: String, message: String)], text: String, noun: String, json: Bool
) throws -> Never {
    if json {
        struct Issue: Encodable {
            var file: String?
            var line: Int?
            var column: Int?
            var path: String
            var message: String
        }
        struct Failure: Encodable {
            var valid = false
            var errors: [Issue]
        }
        try printJSON(
            Failure(
                errors: issues.map {
                    Issue(
                        file: $0.location?.file, line: $0.location?.line, column: $0.location?.column, path: $0.path,
                        message: $0.message)
                }))
    } else {
        printError(text)
        printError("redeye: \(issues.count) error\(issues.count == 1 ? "" : "s") in the \(noun)")
    }
    throw ExitCode(ExitStatus.failure)
}
