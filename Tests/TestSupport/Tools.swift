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
        // The socket exists once bound, a moment before the agent listens: wait until `ssh-add -l` reaches it
        // (exit 2 is "cannot connect").
        for _ in 0..<250 {
            if FileManager.default.fileExists(atPath: socket),
                try runTool("ssh-add", ["-l"], environment: ["SSH_AUTH_SOCK": socket]).status != 2
            {
                return
            }
            usleep(20_000)
        }
        daemon.stop()
        throw TestSetupError(description: "ssh-agent did not start")
    }

    public func add(_ keyPath: String) throws {
        let result = try runTool("ssh-add", [keyPath], environment: ["SSH_AUTH_SOCK": socket])
        guard result.status == 0 else { throw TestSetupError(description: "ssh-add failed: \(result.stderr)") }
    }

    public func stop() { daemon.stop() }

    deinit { stop() }
}
