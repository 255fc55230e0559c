import Foundation
import Spawn
import Testing

/// The one process spawner: exit statuses, both output streams, bounds in time and bytes, and the environment.
@Suite struct SpawnTests {
    func shell(_ script: String) -> ProcessSpec { ProcessSpec("/bin/sh", ["/bin/sh", "-c", script]) }

    @Test func collectsBothStreamsAndTheExitStatus() throws {
        let (termination, output) = try runCollecting(shell("echo out; echo err >&2; exit 3"), timeout: .seconds(10))
        #expect(termination == .exited(3))
        #expect(String(decoding: output, as: UTF8.self) == "out\nerr\n")
    }

    @Test func aProgramPastItsTimeIsKilled() throws {
        let started = ContinuousClock.now
        let (termination, _) = try runCollecting(shell("sleep 30"), timeout: .milliseconds(200))
        #expect(termination == .timedOut)
        #expect(ContinuousClock.now - started < .seconds(20))
    }

    @Test func outputIsKeptToItsBoundAndTheProgramNotBlocked() throws {
        let (termination, output) = try runCollecting(
            shell("head -c 3000000 /dev/zero"), timeout: .seconds(30), limit: 1000)
        #expect(termination == .exited(0))
        #expect(output.count == 1000)
    }

    @Test func theEnvironmentIsTheMinimalOne() throws {
        // A variable of this process's own (never PGPASSWORD itself: the PostgreSQL tests beside need it).
        setenv("REDEYE_TEST_PARENT_SECRET", "hunter2", 1)
        let (_, output) = try runCollecting(shell("env"), timeout: .seconds(10))
        let env = String(decoding: output, as: UTF8.self)
        #expect(!env.contains("hunter2") && env.contains("LANG=C.UTF-8"), "\(env)")
    }
}
