import Bundles
import Database
import Foundation
import Glibc
import SSH
import TestSupport
import Testing

@testable import Deploy

@Suite struct TransferPlanTests {
    @Test func journalTimestampsReadAsISO8601DateFormatterWritesThem() {
        let formatter = ISO8601DateFormatter()
        for seconds in [0, 951_782_400, 1_609_459_199, 1_700_000_000.25, 1_795_397_480.999] {
            let date = Date(timeIntervalSince1970: seconds)
            #expect(iso8601UTC(date) == formatter.string(from: date))
        }
    }

    /// Hosts that run the same release get the same plan (worked out once): the changed file only, and a
    /// manifest delta that turns their manifest into the new one. A host with nothing gets everything.
    @Test func hostsOnOneReleaseShareOnePlan() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let source = dir + "/web"
        let repo = dir + "/web.git"
        try FileManager.default.createDirectory(atPath: source, withIntermediateDirectories: true)
        chmod(source, 0o755)
        func commit(_ tag: String, _ files: [String: String]) throws {
            for (name, content) in files {
                try content.write(toFile: source + "/" + name, atomically: false, encoding: .utf8)
                chmod(source + "/" + name, 0o644)
            }
            #expect(try runRedeye(["bundle", "init", source]).status == 0)
            let committed = try runRedeye([
                "bundle", "commit", source, "--repo", repo, "--tag", tag, "--author", "Ops <ops@example.org>",
            ])
            #expect(committed.status == 0, "\(committed.stderr)")
        }
        try commit("v1", ["a.txt": "same\n", "b.txt": "old\n", "c.txt": "also the same\n"])
        try commit("v2", ["b.txt": "new\n"])
        let v1 = try BundleVersion.fetch(
            repo, ref: "v1", cache: dir + "/cache1", hostKeys: HostKeyPolicy(files: []), sshKey: nil)
        let v2 = try BundleVersion.fetch(
            repo, ref: "v2", cache: dir + "/cache2", hostKeys: HostKeyPolicy(files: []), sshKey: nil,
            verifyContent: true)
        let plans = TransferPlans(version: v2)
        let first = plans.plan(remote: v1.manifestBytes)
        let second = plans.plan(remote: v1.manifestBytes)
        let changed = try #require(v2.manifest.entry("b.txt")?.sha256)
        #expect(first.needed == [changed])
        #expect(second.needed == first.needed && second.manifestInput == first.manifestInput)
        #expect(try ManifestDelta.apply(first.manifestInput, to: v1.manifestBytes) == v2.manifestBytes)
        let bare = plans.plan(remote: nil)
        #expect(Set(bare.needed) == Set(v2.manifest.entries.compactMap(\.sha256)))
        #expect(bare.manifestInput == v2.manifestBytes)
    }
}
