import Foundation
import Glibc

/// A real OpenSSH server on 127.0.0.1 for one test: its own host key, config, authorized key and free port.
/// `stop()` (or deinit) kills it.
public final class TestSSHD: @unchecked Sendable {
    public let directory: String
    public let port: Int
    /// The private key authorized to log in (as root); its public key is `userKey + ".pub"`.
    public let userKey: String
    /// A known_hosts file with this server's key, as `[127.0.0.1]:PORT ssh-ed25519 …`.
    public let knownHosts: String
    private let daemon: Daemon

    /// On 127.0.0.1 at a free port; or, with `namespace`, inside that network namespace on `address`:22
    /// (authorizing `authorizedKey` when given, else a key of its own).
    public init(namespace: String? = nil, address: String = "127.0.0.1", authorizedKey: String? = nil) throws {
        directory = try makeTemporaryDirectory()
        try FileManager.default.createDirectory(atPath: "/run/sshd", withIntermediateDirectories: true)
        let hostKey = try generateSSHKey(in: directory, name: "host_key")
        if let authorizedKey {
            userKey = authorizedKey
        } else {
            userKey = try generateSSHKey(in: directory, name: "user_key")
        }
        try FileManager.default.copyItem(atPath: userKey + ".pub", toPath: directory + "/authorized_keys")
        port = namespace == nil ? try freeLoopbackPort() : 22
        let config = """
            Port \(port)
            ListenAddress \(address)
            HostKey \(hostKey)
            PidFile \(directory)/sshd.pid
            AuthorizedKeysFile \(directory)/authorized_keys
            PubkeyAuthentication yes
            PasswordAuthentication no
            KbdInteractiveAuthentication no
            UsePAM no
            PermitRootLogin prohibit-password
            StrictModes no
            SetEnv SHLVL=1
            MaxStartups 100
            Subsystem sftp internal-sftp

            """
        try config.write(toFile: directory + "/sshd_config", atomically: true, encoding: .utf8)
        let publicKey = try String(contentsOfFile: hostKey + ".pub", encoding: .utf8).split(separator: " ").prefix(2)
            .joined(separator: " ")
        knownHosts = directory + "/known_hosts"
        let place = port == 22 ? address : "[\(address)]:\(port)"
        try "\(place) \(publicKey)\n".write(toFile: knownHosts, atomically: true, encoding: .utf8)
        let sshd = ["/usr/sbin/sshd", "-D", "-f", directory + "/sshd_config", "-E", directory + "/sshd.log"]
        if let namespace {
            daemon = try Daemon("/usr/sbin/ip", ["netns", "exec", namespace] + sshd)
        } else {
            daemon = try Daemon(sshd[0], Array(sshd.dropFirst()))
        }
        // Wait (bounded) until it listens (in a namespace, the log says so: it cannot be probed from here).
        for _ in 0..<250 {
            if namespace == nil ? acceptsConnections(port) : listening { return }
            guard daemon.isRunning else { break }
            usleep(20_000)
        }
        stop()
        throw TestSetupError(description: "sshd did not start on \(address):\(port): \(log)")
    }

    /// What sshd logged.
    public var log: String { (try? String(contentsOfFile: directory + "/sshd.log", encoding: .utf8)) ?? "" }

    private var listening: Bool { log.contains("Server listening on") }

    deinit { stop() }

    public func stop() {
        daemon.stop()
        try? FileManager.default.removeItem(atPath: directory)
    }

}

/// A port the kernel just gave out and took back (free, barring a race with another process).
public func freeLoopbackPort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    let bound = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard bound == 0 else { throw TestSetupError(description: "cannot find a free port") }
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
    }
    return Int(UInt16(bigEndian: address.sin_port))
}

/// Whether something accepts TCP connections on 127.0.0.1:port.
public func acceptsConnections(_ port: Int) -> Bool {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = UInt16(port).bigEndian
    return withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
        }
    }
}
