import Foundation
import TestSupport
import Testing

/// https health checks through Redeye's TLS client: a deploy trusts the configured CA (`--ca-file`), refuses a
/// server it cannot verify (and rolls the host back), and skips verification only where the plans say
/// `tls_skip_verify`, saying so.
@Suite(.serialized) struct HTTPSHealthTests {
    @Test func httpsHealthChecksVerifyTheServerUnlessThePlansSayOtherwise() throws {
        let fleet = try Fleet(hosts: 1)
        defer { fleet.remove() }
        let ca = try TestCA(in: fleet.dir)
        let served = fleet.dir + "/srv"
        try FileManager.default.createDirectory(atPath: served, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: fleet.repo, toPath: served + "/web.git")
        let server = try TestHTTPSGit(
            root: served, certificate: try ca.issue("server", for: ["127.0.0.1"]).certificate,
            key: ca.dir + "/server.key")
        defer { server.stop() }
        func monitor(skipVerify: Bool) -> String {
            "{name: tls, http: \"https://127.0.0.1:\(server.port)/web.git/HEAD\", expect: 200, body: \"ref:\", interval: 100ms, timeout: 2s, retries: 1\(skipVerify ? ", tls_skip_verify: true" : "")}"
        }

        try fleet.writePlans(extraMonitor: monitor(skipVerify: false))
        let verified = try fleet.deploy(["web", "--ref", "v1", "--yes", "--ca-file", ca.certificate])
        #expect(verified.status == 0, "\(verified.stderr)")
        #expect(server.requests.contains("GET /web.git/HEAD 200"), "\(server.requests)")
        #expect(try fleet.current("web01") == fleet.release("v1"))

        // Without the CA the check cannot pass: the host goes back to v1.
        let refused = try fleet.deploy(["web", "--ref", "v2", "--yes"])
        #expect(refused.status != 0)
        #expect(refused.stderr.contains("is not trusted: unable to get local issuer certificate"), "\(refused.stderr)")
        #expect(try fleet.current("web01") == fleet.release("v1"))

        // The plans may waive verification for a check; the deploy says so each time.
        try fleet.writePlans(extraMonitor: monitor(skipVerify: true))
        let waived = try fleet.deploy(["web", "--ref", "v2", "--yes"])
        #expect(waived.status == 0, "\(waived.stderr)")
        #expect(
            waived.stderr.contains("certificate is not verified (tls_skip_verify in the plans)"), "\(waived.stderr)")
        #expect(try fleet.current("web01") == fleet.release("v2"))

        // tls_skip_verify on a check that is not https is a located error.
        try fleet.writePlans(
            extraMonitor: "{name: plain, http: \"http://127.0.0.1:1/\", tls_skip_verify: true}")
        let validated = try runRedeye(["plan", "validate", "--plans", fleet.plans, "--no-config"])
        #expect(validated.status != 0)
        #expect(validated.stderr.contains("tls_skip_verify is for https:// checks only"), "\(validated.stderr)")
        #expect(validated.stderr.contains("web.yaml:"), "\(validated.stderr)")
    }
}
