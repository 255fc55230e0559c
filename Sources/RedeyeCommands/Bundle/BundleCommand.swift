import ArgumentParser
import Bundles
import FoundationEssentials
import Git
import Glibc
import Net
import Service

struct BundleCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bundle",
        abstract: "Least-bit deployment bundles: describe, verify, version in git, install, roll back, audit.",
        discussion: """
            A bundle is a directory plus redeye-bundle.yaml, which names every path with its kind, mode, owner, \
            group and sha256, and nothing else. See docs/bundles.md.

            EXAMPLES:
              redeye bundle init ./web --owner root --group web
              redeye bundle commit ./web --repo /srv/redeye/bundles/web.git --tag v1652 -m "release 1652"
              redeye bundle install --repo /srv/redeye/bundles/web.git --ref v1652 --root /opt/web
              redeye bundle rollback --root /opt/web
            """ + ExitStatus.section(7, 12),
        subcommands: [
            Init.self, Verify.self, Commit.self, Log.self, Diff.self, Install.self, Apply.self, Rollback.self,
            Status.self, Audit.self,
        ]
    )

}

/// `--user`/`--group` as the installer's accounts (validation makes them come together).
func accounts(user: String?, group: String?) -> InstallAccounts? {
    guard let user, let group else { return nil }
    return InstallAccounts(user: user, group: group)
}
