import Digest
import Dispatch
import FoundationEssentials
import Glibc
import InstallRoot
import SSH
import Synchronization
import Text
import Threads

/// Puts a `redeye` executable on hosts over SSH, so that deploys can reach them: a host without a compatible
/// `redeye` is refused by a deploy before its drain. Per host, over one connection: ask the installed one's
/// version; unless it is this one's already, send the file by SFTP to a new name beside the destination,
/// check its SHA-256 there, make it executable and rename it over the destination (a host never runs half a
/// file), then ask the new one's version.
///
/// With a Debian package instead (`Payload.debianPackage`), the package goes by SFTP into a new private
/// directory on the host (mktemp -d), is checked the same way, and is installed with apt-get, which brings its
/// Depends from the host's archive (dpkg -i where there is no apt-get); the directory is removed either way.
public struct RedeyeBootstrap: Sendable {
    /// What the bytes are.
    public enum Payload: Sendable, Equatable {
        /// The redeye executable itself, renamed into place at `destination`.
        case executable
        /// A Debian package of redeye (its file name, `redeye_0.1.0-1_amd64.deb`), installed by the host's apt.
        case debianPackage(fileName: String)
    }

    /// The executable or package to install, as bytes (read once for every host).
    public var executable: [UInt8]
    public var payload = Payload.executable
    /// Where redeye is on the hosts once installed: an absolute path (the package's /usr/bin/redeye).
    public var destination: String
    /// Install even where a compatible version answers already.
    public var force = false
    public var settings: SSHSettings
    /// Hosts worked on at once.
    public var window = 10

    public init(executable: [UInt8], destination: String, settings: SSHSettings) {
        self.executable = executable
        self.destination = destination
        self.settings = settings
    }

    public enum Outcome: String, Sendable, Encodable {
        /// The executable was installed (or replaced an incompatible one).
        case installed
        /// A compatible version answered already; nothing was sent.
        case current
        case failed
    }

    public struct HostResult: Sendable, Encodable {
        public var host: String
        public var outcome: Outcome
        /// What `DESTINATION --version` answered before (nil: nothing there) and after.
        public var before: String?
        public var after: String?
        public var message: String
    }

    /// Works on every target, `window` at a time; one result per target, in the targets' order.
    public func run(_ targets: [DeployTarget], log: @escaping @Sendable (String) -> Void) -> [HostResult] {
        let digest = SHA256Hasher.hex(executable)
        let results = Mutex([HostResult?](repeating: nil, count: targets.count))
        let slots = DispatchSemaphore(value: max(1, window))
        let group = DispatchGroup()
        for (index, target) in targets.enumerated() {
            slots.wait()
            group.enter()
            detachThread {
                defer {
                    slots.signal()
                    group.leave()
                }
                let result = install(on: target, digest: digest)
                log("\(target.name): \(result.message)")
                results.withLock { $0[index] = result }
            }
        }
        group.wait()
        return results.withLock { $0 }.compactMap { $0 }
    }

    func install(on target: DeployTarget, digest: String) -> HostResult {
        var result = HostResult(host: target.name, outcome: .failed, message: "")
        do {
            let ssh = try target.connect(settings)
            result.before = try version(ssh)
            if let before = result.before, RedeyeVersion.isCompatible(before), !force {
                result.outcome = .current
                result.message = "\(destination) is redeye \(before) already; nothing sent"
                return result
            }
            if case .debianPackage(let fileName) = payload {
                try installPackage(ssh, fileName: fileName, digest: digest)
                return try checked(ssh, result)
            }
            let temporary = destination + ".redeye-new-" + UUID().uuidString.lowercased().prefix(12)
            do {
                try send(ssh, to: temporary, mode: 0o700, digest: digest)
                let quoted = shellQuote(temporary)
                let moved = try ssh.run(
                    "chmod 0755 \(quoted) && mv -f \(quoted) \(shellQuote(destination))", timeout: .seconds(30),
                    outputLimit: 4096)
                guard moved.status == 0 else {
                    throw BootstrapFailure(
                        message:
                            "cannot put it at \(destination): \(String(decoding: moved.stderr.prefix(300), as: UTF8.self))"
                    )
                }
            } catch {
                _ = try? ssh.run("rm -f " + shellQuote(temporary), timeout: .seconds(10), outputLimit: 1024)
                throw error
            }
            return try checked(ssh, result)
        } catch {
            result.message = "\(error)"
        }
        return result
    }

    /// The result once the destination answers a compatible version.
    func checked(_ ssh: SSHConnection, _ result: HostResult) throws -> HostResult {
        var result = result
        result.after = try version(ssh)
        guard let after = result.after, RedeyeVersion.isCompatible(after) else {
            let hint =
                payload == .executable
                ? ": its libraries may be missing on the host (install the redeye package instead)" : ""
            throw BootstrapFailure(
                message:
                    "installed, but `\(destination) --version` answers \(result.after.map { "'\($0)'" } ?? "nothing")\(hint)"
            )
        }
        result.outcome = .installed
        result.message =
            "installed redeye \(after) at \(destination)" + (payload == .executable ? "" : " from the package")
            + (result.before.map { " (was \($0))" } ?? "")
        return result
    }

    /// Sends the bytes by SFTP to `path` (a name nobody else knows), then checks their SHA-256 there.
    func send(_ ssh: SSHConnection, to path: String, mode: Int32, digest: String) throws {
        let file = try ssh.sftp().open(forWriting: path, mode: mode)
        var offset = 0
        while offset < executable.count {
            let end = min(executable.count, offset + (1 << 20))
            try file.write(Array(executable[offset..<end]))
            offset = end
        }
        file.close()
        let check = try ssh.run("sha256sum " + shellQuote(path), timeout: .seconds(60), outputLimit: 4096)
        let theirs = String(decoding: check.stdout.prefix(64), as: UTF8.self)
        guard check.status == 0, theirs == digest else {
            throw BootstrapFailure(
                message:
                    "the file sent does not have the SHA-256 it was sent with (\(theirs.isEmpty ? "sha256sum failed" : theirs))"
            )
        }
    }

    /// The package into a new directory only root can read (mktemp -d), checked, installed by apt-get (its
    /// Depends from the host's archive; dpkg -i where there is no apt-get); the directory removed either way.
    func installPackage(_ ssh: SSHConnection, fileName: String, digest: String) throws {
        let made = try ssh.run("mktemp -d /var/tmp/redeye-package.XXXXXXXXXX", timeout: .seconds(30), outputLimit: 4096)
        let directory = String(decoding: made.stdout, as: UTF8.self).trimmed()
        guard made.status == 0, directory.hasPrefix("/var/tmp/redeye-package."),
            directory.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "'") })
        else {
            throw BootstrapFailure(
                message: "cannot make a directory for the package under /var/tmp: "
                    + printable(String(decoding: made.stderr.prefix(300), as: UTF8.self)))
        }
        defer { _ = try? ssh.run("rm -rf " + shellQuote(directory), timeout: .seconds(30), outputLimit: 1024) }
        let package = directory + "/" + fileName
        try send(ssh, to: package, mode: 0o600, digest: digest)
        let quoted = shellQuote(package)
        let installed = try ssh.run(
            "if command -v apt-get >/dev/null 2>&1; then DEBIAN_FRONTEND=noninteractive apt-get install -y -q "
                + "--no-install-recommends \(quoted); else dpkg -i \(quoted); fi",
            timeout: .seconds(900), outputLimit: 1 << 20)
        guard installed.status == 0 else {
            let said = String(decoding: installed.stderr.suffix(600), as: UTF8.self)
            throw BootstrapFailure(
                message: "the package did not install (exit \(installed.status)): \(printable(said).trimmed())")
        }
    }

    /// What the destination's `--version` answers, nil when there is nothing there that runs.
    func version(_ ssh: SSHConnection) throws -> String? {
        let answer = try ssh.run(shellQuote(destination) + " --version", timeout: .seconds(30), outputLimit: 4096)
        guard answer.status == 0 else { return nil }
        let text = printable(String(decoding: answer.stdout.prefix(100), as: UTF8.self))
            .trimmed()
        return text.isEmpty ? nil : text
    }
}

struct BootstrapFailure: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}
