import Foundation

/// Runs a program looked up on PATH (git, ssh-keygen, …), feeding `input`; returns its exit status and output.
@discardableResult
public func runTool(
    _ program: String, _ arguments: [String], input: [UInt8] = [], in directory: String? = nil,
    environment: [String: String] = [:]
) throws -> CommandResult {
    try runProcess("/usr/bin/env", [program] + arguments, input: input, in: directory, environment: environment)
}

/// Generates an SSH key pair with ssh-keygen; returns the private key's path (the public key is PATH.pub).
public func generateSSHKey(in directory: String, name: String, type: String = "ed25519", passphrase: String = "")
    throws -> String
{
    let path = directory + "/" + name
    let result = try runTool("ssh-keygen", ["-q", "-t", type, "-N", passphrase, "-C", "\(name)@test", "-f", path])
    guard result.status == 0 else { throw TestSetupError(description: "ssh-keygen failed: \(result.stderr)") }
    return path
}

/// An ssh-agent of the test's own, on a socket in `directory`; `stop()` kills it.
public final class TestAgent: @unchecked Sendable {
    public let socket: String
    private let daemon: Daemon

    public init(directory: String) throws {
        socket = directory + "/agent.sock"
        daemon = try Daemon("/usr/bin/ssh-agent", ["-D", "-a", socket])
        for _ in 0..<100 where !FileManager.default.fileExists(atPath: socket) { usleep(20_000) }
        guard FileManager.default.fileExists(atPath: socket) else {
            daemon.stop()
            throw TestSetupError(description: "ssh-agent did not start")
        }
    }

    public func add(_ keyPath: String) throws {
        let result = try runTool("ssh-add", [keyPath], environment: ["SSH_AUTH_SOCK": socket])
        guard result.status == 0 else { throw TestSetupError(description: "ssh-add failed: \(result.stderr)") }
    }

    public func stop() { daemon.stop() }

    deinit { stop() }
}
