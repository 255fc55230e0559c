import Foundation
import Glibc
import TLS

/// A test certificate authority made with the openssl command line, and certificates it (or nobody) signs.
public struct TestCA: Sendable {
    public let dir: String
    public var certificate: String { dir + "/ca.pem" }
    var key: String { dir + "/ca.key" }

    public init(in parent: String, name: String = "ca") throws {
        dir = parent + "/" + name
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try Self.openssl([
            "req", "-x509", "-new", "-nodes", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-keyout", key, "-out", certificate, "-subj", "/CN=Redeye Test CA \(name)", "-days", "3",
        ])
        try "".write(toFile: dir + "/index.txt", atomically: true, encoding: .utf8)
        try "1000\n".write(toFile: dir + "/serial", atomically: true, encoding: .utf8)
        try """
        [ca]
        default_ca = test
        [test]
        database = \(dir)/index.txt
        new_certs_dir = \(dir)
        serial = \(dir)/serial
        default_md = sha256
        policy = anything
        copy_extensions = copy
        unique_subject = no
        [anything]
        commonName = supplied

        """.write(toFile: dir + "/ca.cnf", atomically: true, encoding: .utf8)
    }

    /// A server certificate and key (`NAME.pem`, `NAME.key`) for `names` (DNS names and IP addresses), valid
    /// from `notBefore` to `notAfter` (openssl's YYYYMMDDHHMMSSZ; default: from yesterday for two days).
    public func issue(_ name: String, for names: [String], notBefore: String? = nil, notAfter: String? = nil) throws
        -> (certificate: String, key: String)
    {
        let base = dir + "/" + name
        let san = names.map { TLSClient.isIPAddress($0) ? "IP:\($0)" : "DNS:\($0)" }.joined(separator: ",")
        try Self.openssl([
            "req", "-new", "-nodes", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-keyout",
            base + ".key", "-out", base + ".csr", "-subj", "/CN=\(names.first ?? name)", "-addext",
            "subjectAltName=\(san)",
        ])
        let day: TimeInterval = 86_400
        try Self.openssl([
            "ca", "-batch", "-notext", "-config", dir + "/ca.cnf", "-cert", certificate, "-keyfile", key, "-in",
            base + ".csr", "-out", base + ".pem", "-startdate", notBefore ?? Self.stamp(Date() - day), "-enddate",
            notAfter ?? Self.stamp(Date() + 2 * day),
        ])
        return (base + ".pem", base + ".key")
    }

    /// A certificate for `names` that signs itself (no CA).
    public static func selfSigned(in dir: String, _ name: String, for names: [String]) throws
        -> (certificate: String, key: String)
    {
        let base = dir + "/" + name
        let san = names.map { TLSClient.isIPAddress($0) ? "IP:\($0)" : "DNS:\($0)" }.joined(separator: ",")
        try openssl([
            "req", "-x509", "-new", "-nodes", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-keyout",
            base + ".key", "-out", base + ".pem", "-subj", "/CN=\(names.first ?? name)", "-days", "2", "-addext",
            "subjectAltName=\(san)",
        ])
        return (base + ".pem", base + ".key")
    }

    static func stamp(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMddHHmmss'Z'"
        return formatter.string(from: date)
    }

    static func openssl(_ arguments: [String]) throws {
        let result = try runTool("openssl", arguments)
        guard result.status == 0 else {
            throw TestSetupError(description: "openssl \(arguments.prefix(2).joined(separator: " ")): \(result.stderr)")
        }
    }
}

/// A real git server over https on 127.0.0.1: `git http-backend` (git's own smart-HTTP CGI) behind Python's
/// ssl module, serving the repositories under `root`; with `token`, every request must carry it as the password
/// of HTTP basic authentication. Stopped (and its files removed) by `stop()`.
public final class TestHTTPSGit: @unchecked Sendable {
    public let port: Int
    public let root: String
    let dir: String
    let daemon: Daemon

    public init(root: String, certificate: String, key: String, token: String? = nil) throws {
        self.root = root
        dir = try makeTemporaryDirectory()
        port = try freeLoopbackPort()
        let script = repositoryRoot + "/scripts/https-git-server"
        if let token { try token.write(toFile: dir + "/token", atomically: true, encoding: .utf8) }
        daemon = try Daemon(
            "/usr/bin/python3",
            [script, root, certificate, key, String(port), token == nil ? "" : dir + "/token", dir + "/requests.log"])
        for _ in 0..<250 {
            if acceptsConnections(port) { return }
            usleep(20_000)
        }
        daemon.stop()
        throw TestSetupError(description: "the https git server did not start on 127.0.0.1:\(port)")
    }

    /// `https://HOST:PORT/NAME` for a repository under the root.
    public func url(_ name: String, host: String = "127.0.0.1") -> String { "https://\(host):\(port)/\(name)" }

    /// The request lines the server answered, with their status (to check what a client asked).
    public var requests: [String] {
        ((try? String(contentsOfFile: dir + "/requests.log", encoding: .utf8)) ?? "").split(separator: "\n").map(
            String.init)
    }

    public func stop() {
        daemon.stop()
        try? FileManager.default.removeItem(atPath: dir)
    }

}
