import ArgumentParser
import Bundles
import Database
import Deploy
import Failures
import FileSystem
import FoundationEssentials
import Git
import Glibc
import Plan
import SSH
import Schema
import Settings
import TLS
import Text
import YAML

/// The options every operator command accepts: where the settings file is, and a flag for each setting it
/// holds. A flag wins over its `REDEYE_*` variable, which wins over `redeye.yaml`, which wins over the default.
struct GlobalOptions: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "The settings file (default: $REDEYE_CONFIG, else the nearest redeye.yaml at or above the working directory).",
            valueName: "file"))
    var config: String?
    @Flag(name: .customLong("no-config"), help: "Read no settings file.") var noConfig = false
    @Option(help: ArgumentHelp("The plans directory (plans.dir; default Plans).", valueName: "dir"))
    var plans: String?
    @Option(
        help: ArgumentHelp(
            "Directory of schema files on top of the built-in schema (inventory.schema): a file named like a built-in one replaces it, others add tables or extend them (`extend:`).",
            valueName: "dir"))
    var schema: String?
    @Option(
        help: ArgumentHelp(
            "Inventory database (inventory.url, $REDEYE_DB): sqlite:PATH or postgres://USER@HOST:PORT/DB (password from PGPASSWORD or ~/.pgpass). Default: the plans' site inventory, else sqlite:inventory.db.",
            valueName: "url"))
    var db: String?
    @Option(
        help: ArgumentHelp(
            "SSH private key, ed25519 or ECDSA (ssh.identity; default: ssh-agent through $SSH_AUTH_SOCK).",
            valueName: "file"))
    var identity: String?
    @Option(
        help: ArgumentHelp(
            "known_hosts file, repeatable (ssh.known_hosts; default ~/.ssh/known_hosts and /etc/ssh/ssh_known_hosts).",
            valueName: "file"))
    var knownHosts: [String] = []
    @Option(help: ArgumentHelp("SSH user (ssh.user; default root).", valueName: "user")) var sshUser: String?
    @Option(help: ArgumentHelp("SSH port (ssh.port; default 22).", valueName: "port")) var sshPort: String?
    @Option(
        help: ArgumentHelp(
            "Reach every host through this bastion, as ssh -J (ssh.jump; its host key checked the same way).",
            valueName: "[user@]host[:port]"))
    var jump: String?
    @Option(
        help: ArgumentHelp("Seconds to wait for a host to answer (ssh.connect_timeout; default 10).", valueName: "s"))
    var connectTimeout: String?
    @Option(help: ArgumentHelp("The redeye executable on the hosts (deploy.remote_redeye).", valueName: "path"))
    var remoteRedeye: String?
    @Option(
        help: ArgumentHelp(
            "Where bundle repositories are fetched to (deploy.cache; default ~/.cache/redeye/bundles).",
            valueName: "dir"))
    var cache: String?
    @Option(
        help: ArgumentHelp(
            "Sign plans commits with this key: OpenSSH private key, or KEY.pub held by ssh-agent (plans.sign_key).",
            valueName: "file"))
    var signKey: String?
    @Option(
        help: ArgumentHelp(
            "The allowed-signers file plans are verified against (plans.allowed_signers); setting it makes signing required.",
            valueName: "file"))
    var allowedSigners: String?
    @Option(
        help: ArgumentHelp(
            "CA certificates (PEM) that https:// git servers are checked against (git.ca_file; default: the system store).",
            valueName: "file"))
    var caFile: String?
    @Option(
        help: ArgumentHelp(
            "A file holding the token for https:// git servers that ask for one (git.token_file; default: $REDEYE_GIT_TOKEN). Never give a token on the command line.",
            valueName: "file"))
    var tokenFile: String?

    /// The flags given, by the setting each one sets.
    var flags: [Setting: (name: String, values: [String])] {
        var given: [Setting: (name: String, values: [String])] = [:]
        let single: [(Setting, String, String?)] = [
            (.plans, "plans", plans), (.schema, "schema", schema), (.inventory, "db", db),
            (.identity, "identity", identity), (.sshUser, "ssh-user", sshUser), (.sshPort, "ssh-port", sshPort),
            (.jump, "jump", jump), (.connectTimeout, "connect-timeout", connectTimeout),
            (.remoteRedeye, "remote-redeye", remoteRedeye), (.cache, "cache", cache), (.signKey, "sign-key", signKey),
            (.allowedSigners, "allowed-signers", allowedSigners), (.caFile, "ca-file", caFile),
            (.tokenFile, "token-file", tokenFile),
        ]
        for (setting, name, value) in single { if let value { given[setting] = (name, [value]) } }
        if !knownHosts.isEmpty { given[.knownHosts] = ("known-hosts", knownHosts) }
        return given
    }

    /// The effective settings, with `extra` flags of the command itself (such as `plan commit --repo`).
    func settings(extra: [Setting: (name: String, values: [String])] = [:]) throws -> Settings {
        let environment = ProcessInfo.processInfo.environment
        let choice: Settings.FileChoice =
            if noConfig {
                .none
            } else if let path = config ?? environment["REDEYE_CONFIG"].flatMap({ $0.isEmpty ? nil : $0 }) {
                .explicit(path)
            } else {
                .search(from: FileManager.default.currentDirectoryPath)
            }
        return try Settings(
            flags: flags.merging(extra) { $1 }, environment: environment, file: choice,
            workingDirectory: FileManager.default.currentDirectoryPath, home: userHomeDirectory())
    }

    func loadSchema() throws -> DatabaseSchema {
        try SchemaLoader().load(builtInWith: try settings().text(.schema))
    }

    func plansDirectory() throws -> String { try settings().text(.plans) ?? "Plans" }

    func loadPlans() throws -> Plans { try PlanLoader().load(directory: try plansDirectory()) }

    /// The inventory: a flag, variable or setting, else the plans' site inventory, else the default.
    func inventoryURL(plans: Plans? = nil) throws -> String {
        try settings().text(.inventory) ?? plans?.defaults.inventory ?? DatabaseURL.defaultURL
    }

    func openDatabase(create: Bool = true) throws -> any SQLConnection {
        try Database.openDatabase(DatabaseURL(try inventoryURL()), create: create)
    }

    /// For commands that only read: a SQLite file that does not exist yet reads as an empty database
    /// (so `schema plan` shows everything `migrate` would create) and is not created.
    func openForReading() throws -> any SQLConnection {
        let parsed = try DatabaseURL(try inventoryURL())
        if case .sqlite(let path) = parsed, path != ":memory:", !FileManager.default.fileExists(atPath: path) {
            return try SQLiteConnection(path: ":memory:")
        }
        return try Database.openDatabase(parsed, create: false)
    }

    func cacheDirectory() throws -> String {
        try settings().text(.cache) ?? userHomeDirectory() + "/.cache/redeye/bundles"
    }

    /// The host keys to trust: the configured known_hosts files, else the system's.
    func hostKeys() throws -> HostKeyPolicy {
        let files = try settings().paths(.knownHosts)
        return files.isEmpty ? HostKeyPolicy() : HostKeyPolicy(files: files)
    }

    /// How git remotes are reached over https://: the configured CA file and token.
    func httpsTransport() throws -> HTTPSTransport {
        let settings = try self.settings()
        return try https(caFile: settings.text(.caFile), tokenFile: settings.text(.tokenFile))
    }

    /// How deploys reach the hosts.
    func sshSettings() throws -> SSHSettings {
        let settings = try self.settings()
        let user = settings.text(.sshUser) ?? "root"
        var jump: JumpHost?
        if let text = settings.text(.jump) {
            do {
                jump = try JumpHost(parsing: text, defaultUser: user)
            } catch {
                throw ValidationError("\(settings[.jump]!.source): \(error.message)")
            }
        }
        let files = settings.paths(.knownHosts)
        var ssh = SSHSettings(
            user: user, port: settings.number(.sshPort) ?? 22,
            authentication: settings.text(.identity).map { .keyFile($0) } ?? .agent(socket: nil),
            hostKeys: files.isEmpty ? HostKeyPolicy() : HostKeyPolicy(files: files),
            connectTimeout: .seconds(settings.number(.connectTimeout) ?? 10),
            remoteRedeye: settings.text(.remoteRedeye) ?? "redeye", jump: jump)
        ssh.tlsTrust = TLSTrust(caFile: settings.text(.caFile))
        return ssh
    }
}

/// How git remotes are reached over https://: `caFile` (else the system store), and the token from `tokenFile`,
/// else from $REDEYE_GIT_TOKEN (a token is never an argument: argv is visible to every user of the machine).
func https(caFile: String?, tokenFile: String?) throws -> HTTPSTransport {
    let trust = TLSTrust(caFile: caFile)
    if let tokenFile { return try HTTPSTransport(trust: trust, tokenFile: tokenFile) }
    let token = ProcessInfo.processInfo.environment["REDEYE_GIT_TOKEN"].flatMap { $0.isEmpty ? nil : $0 }
    return HTTPSTransport(trust: trust, token: token)
}

/// The author of a commit a command makes, stamped now: `--author 'Name <email>'` when given (anything else is
/// refused, not replaced), else the repository's git config identity.
func commitAuthor(_ author: String?, configured repository: Repository) throws -> GitPerson {
    let now = Int64(Date().timeIntervalSince1970)
    if let author {
        guard let parsed = GitPerson(author, time: now) else {
            throw ValidationError("--author must look like 'Name <email>'")
        }
        return parsed
    }
    guard var configured = repository.configuredPerson() else {
        throw ValidationError("no author: pass --author 'Name <email>' or set git config user.name and user.email")
    }
    configured.time = now
    return configured
}

/// Columns padded to their widest cell.
func table(_ rows: [[String]]) -> String {
    guard let first = rows.first else { return "" }
    let widths = (0..<first.count).map { c in rows.map { $0[c].count }.max() ?? 0 }
    return rows.map { row in
        zip(row, widths).map { $0.padded(to: $1) }.joined(separator: "  ")
            .trimmingTrailingSpaces()
    }.joined(separator: "\n")
}

/// "1 host", "3 hosts": a count with its noun.
func counted(_ count: Int, _ noun: String, plural: String? = nil) -> String {
    "\(count) " + (count == 1 ? noun : plural ?? noun + "s")
}

/// Writes a line to standard error.
func printError(_ message: String) {
    let line = Array((message.hasSuffix("\n") ? message : message + "\n").utf8)
    // Nothing more to do when standard error itself cannot be written.
    line.withUnsafeBytes { try? writeAll(STDERR_FILENO, $0, display: "standard error") }
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
        printError("redeye: \(counted(issues.count, "error")) in the \(noun)")
    }
    throw ExitCode(ExitStatus.failure)
}
