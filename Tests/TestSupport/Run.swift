import Foundation

/// What a command printed and how it exited.
public struct CommandResult: Sendable {
    public var status: Int32
    public var stdout: String
    public var stderr: String
}

/// The `redeye` binary built next to the test bundle.
public let redeyeBinary: String = {
    let besideTests = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent(
        "redeye"
    ).path
    if FileManager.default.isExecutableFile(atPath: besideTests) { return besideTests }
    return repositoryRoot + "/.build/debug/redeye"
}()

/// Runs `redeye` with arguments, in `directory`, with extra environment variables; waits for it to exit.
/// No `REDEYE_*` setting from the test's own environment is passed on.
public func runRedeye(_ arguments: [String], in directory: String? = nil, environment: [String: String] = [:]) throws
    -> CommandResult
{
    let inherited = ProcessInfo.processInfo.environment.keys.filter { $0.hasPrefix("REDEYE_") }
    return try runProcess(redeyeBinary, arguments, in: directory, environment: environment, removing: inherited)
}

/// Runs a program, feeding `input` on standard input, and collects its output and exit status.
public func runProcess(
    _ executable: String, _ arguments: [String], input: [UInt8] = [], in directory: String? = nil,
    environment: [String: String] = [:], removing: [String] = []
) throws -> CommandResult {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
    var env = ProcessInfo.processInfo.environment
    for key in removing { env.removeValue(forKey: key) }
    for (k, v) in environment { env[k] = v }
    process.environment = env
    let stdin = Pipe()
    let out = Pipe()
    let err = Pipe()
    process.standardInput = stdin
    process.standardOutput = out
    process.standardError = err
    try process.run()
    stdin.fileHandleForWriting.write(Data(input))
    try stdin.fileHandleForWriting.close()
    // Read both pipes to the end before waiting, so a chatty child cannot block on a full pipe.
    let group = DispatchGroup()
    nonisolated(unsafe) var errData = Data()
    group.enter()
    DispatchQueue.global().async {
        errData = err.fileHandleForReading.readDataToEndOfFile()
        group.leave()
    }
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    group.wait()
    process.waitUntilExit()
    return CommandResult(
        status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
        stderr: String(decoding: errData, as: UTF8.self))
}
