import CSSH2
import Database
import Foundation
import Git
import SSH
import Testing

@Suite struct WrapperTests {
    /// A transaction inside a transaction is a savepoint of it: an inner failure undoes only the inner writes,
    /// an outer failure undoes everything (one logical record, one transaction).
    @Test func nestedTransactionsAreSavepoints() throws {
        let db = try SQLiteConnection(path: ":memory:")
        try db.execute("CREATE TABLE t (v INTEGER)")
        struct Refused: Error {}
        try db.exclusiveTransaction {
            #expect(db.inTransaction)
            try db.execute("INSERT INTO t VALUES (1)")
            #expect(throws: Refused.self) {
                try db.exclusiveTransaction {
                    try db.execute("INSERT INTO t VALUES (2)")
                    throw Refused()
                }
            }
            try db.exclusiveTransaction { try db.execute("INSERT INTO t VALUES (3)") }
        }
        #expect(!db.inTransaction)
        #expect(try db.query("SELECT v FROM t ORDER BY v").map { $0.int("v") } == [1, 3])
        #expect(throws: Refused.self) {
            try db.exclusiveTransaction {
                try db.exclusiveTransaction { try db.execute("INSERT INTO t VALUES (4)") }
                throw Refused()
            }
        }
        #expect(try db.query("SELECT v FROM t ORDER BY v").map { $0.int("v") } == [1, 3])
    }

    @Test func libgit2CreatesAndOpensRepositoriesOnMain() throws {
        let dir = NSTemporaryDirectory() + "redeye-git-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let created = try Repository.create(dir + "/plans.git", bare: true)
        #expect(created.isBare)
        #expect(try created.headBranch() == "main")
        let opened = try Repository.open(dir + "/plans.git")
        #expect(opened.isBare)
        #expect(Repository.libraryVersion.hasPrefix("1."))
    }

    /// A blob whose stored content no longer matches its id: libgit2 refuses it, except inside
    /// `withContentBlob` (whose callers check the bytes against a SHA-256 of their own), and refuses it again
    /// after that returns.
    @Test func contentBlobsSkipLibgit2sHashCheckOnlyWhileTheyAreRead() throws {
        let dir = NSTemporaryDirectory() + "redeye-git-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let corrupt = """
            import subprocess, sys, zlib
            d = sys.argv[1]
            subprocess.run(["git", "init", "-q", d], check=True)
            open(d + "/f", "w").write("good\\n")
            subprocess.run(["git", "-C", d, "add", "f"], check=True)
            blob = subprocess.run(["git", "-C", d, "rev-parse", ":f"], check=True, capture_output=True, text=True)
            oid = blob.stdout.strip()
            path = f"{d}/.git/objects/{oid[:2]}/{oid[2:]}"
            subprocess.run(["chmod", "u+w", path], check=True)
            open(path, "wb").write(zlib.compress(b"blob 5\\0evil\\n"))
            print(oid)
            """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        process.arguments = ["-c", corrupt, dir]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        let hex = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let repository = try Repository.open(dir)
        let id = try ObjectID(hex: hex)
        #expect(throws: (any Error).self) { try repository.withBlob(id) { Array($0) } }
        #expect(try repository.withContentBlob(id) { Array($0) } == Array("evil\n".utf8))
        #expect(throws: (any Error).self) { try repository.withBlob(id) { Array($0) } }
    }

    @Test func libgit2ErrorsCarryTheLibraryMessage() {
        do {
            _ = try Repository.open("/nonexistent/redeye/repo")
            Issue.record("expected an error")
        } catch {
            #expect(error.code < 0)
            #expect(error.operation == "open repository /nonexistent/redeye/repo")
            #expect(error.message.contains("No such file or directory"), "libgit2's own words: \(error.message)")
        }
    }

    @Test func libssh2SessionListsEd25519HostKeys() throws {
        let session = try SSHSession()
        let hostKeys = try session.supportedAlgorithms(LIBSSH2_METHOD_HOSTKEY)
        #expect(hostKeys.contains("ssh-ed25519"))
        #expect(SSHSession.libraryVersion.hasPrefix("1."))
    }

    @Test func sqliteErrorsAreTyped() throws {
        let db = try SQLiteConnection(path: ":memory:")
        try db.execute("CREATE TABLE t (a INTEGER PRIMARY KEY, b TEXT UNIQUE)")
        try db.execute("INSERT INTO t (b) VALUES ('x')")
        do {
            try db.execute("INSERT INTO t (b) VALUES ('x')")
            Issue.record("expected an error")
        } catch {
            #expect(error.kind == .constraint(.unique))
            #expect(error.table == "t" && error.columns == ["b"])
        }
        #expect(throws: DatabaseError.self) { try SQLiteConnection(path: "/nonexistent/dir/x.db", create: true) }
    }

    @Test(arguments: [
        "postgres://redeye:secret@127.0.0.1/x", "postgresql://redeye@127.0.0.1/x?sslmode=disable&password=secret",
        "postgres://redeye@127.0.0.1/x?pass%77ord=secret", "postgres://redeye@127.0.0.1/x?%70assword=secret",
        "postgres://redeye%3Asecret@127.0.0.1/x", "postgres://redeye@127.0.0.1/x?PASSWORD=secret",
    ])
    func postgresURLWithPasswordIsRefused(_ url: String) {
        do {
            _ = try DatabaseURL(url)
            Issue.record("expected an error")
        } catch {
            #expect(error.description.contains("PGPASSWORD or ~/.pgpass"))
            #expect(!error.description.contains("secret"))
        }
    }

    @Test func urlsWithoutPasswordsAreAccepted() throws {
        #expect(try DatabaseURL("postgres://redeye@127.0.0.1:5432/inv?options=-csearch_path%3Dx").dialect == .postgres)
        #expect(try DatabaseURL("sqlite:inventory.db") == .sqlite(path: "inventory.db"))
        #expect(throws: DatabaseError.self) { try DatabaseURL("mysql://x") }
    }

    @Test func unreachablePostgresIsAConnectionError() {
        do {
            _ = try PostgresConnection(conninfo: "postgres://redeye@127.0.0.1:1/x?connect_timeout=2")
            Issue.record("expected an error")
        } catch {
            #expect(error.kind == .connection)
            #expect(error.message.hasPrefix("cannot connect to PostgreSQL"))
        }
    }
}
