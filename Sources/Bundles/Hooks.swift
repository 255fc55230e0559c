import FileSystem
import FoundationEssentials
import Glibc
import Spawn

extension BundleInstaller {
    /// Runs a hook with `/bin/sh -c` in the release directory, with the minimal child environment (nothing of
    /// the caller's own: no database password, no agent socket), bounded by its timeout; whatever it started
    /// is killed when it ends, also what left its process group. Its output goes to a file (no pipe for
    /// children to hold open).
    func run(_ hook: Hook, name: String, release: String) throws {
        progress("running the \(name) hook: \(hook.run)")
        let directory = releasesDirectory + "/" + release
        let state = try Directory.open(stateDirectory)
        let log = "hook-\(getpid()).log"
        try state.removeFile(log)
        defer { try? state.removeFile(log) }
        // The directory and the command travel as arguments, never spliced into shell text.
        let spec = ProcessSpec(
            "/bin/sh", ["/bin/sh", "-c", "cd -- \"$0\" || exit 125; exec /bin/sh -c \"$1\"", directory, hook.run],
            environment: childEnvironment([
                "REDEYE_RELEASE": release, "REDEYE_RELEASE_DIR": directory, "REDEYE_ROOT": root,
            ]),
            output: stateDirectory + "/" + log)
        let termination: Termination
        do {
            termination = try runBounded(spec, timeout: .seconds(hook.timeoutSeconds))
        } catch {
            throw BundleError("cannot start the \(name) hook: \(error)")
        }
        if termination == .timedOut {
            throw BundleError("the \(name) hook did not finish within \(hook.timeoutSeconds)s and was killed")
        }
        guard termination.succeeded else {
            let output = (try? state.read(log, limit: 1 << 20)).map { String(decoding: $0, as: UTF8.self) } ?? ""
            throw BundleError("the \(name) hook failed (\(termination)): \(output.suffix(500))")
        }
    }
}
