import Bundles
import Foundation
import Git
import TestSupport
import Testing

/// https:// bundle repositories are refused, because this platform's libgit2 does not check server certificates.
@Suite(.serialized) struct HTTPSTests {
    @Test func httpsRepositoriesAreRefusedBeforeAnyConnection() throws {
        let world = try InstallWorld()
        defer { world.remove() }
        let error = failure { _ = try world.installer.install(repository: "https://127.0.0.1:1/web.git", ref: "v1") }
        #expect(error?.contains("accepts any https server certificate") == true, "\(error ?? "installed!")")
        #expect(world.installer.currentRelease() == nil)
    }
}
