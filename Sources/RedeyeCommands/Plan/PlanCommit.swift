import ArgumentParser
import Bundles
import FoundationEssentials
import Git
import Glibc
import Plan
import SSH
import Settings
import Signing

extension PlanCommand {
    struct Commit: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "commit",
            abstract: "Validate the plans and commit them to a git repository, optionally SSH-signed.",
            discussion: """
                The repository (bare when its name ends in .git) is created on first use. The commit holds the \
                whole plans tree on branch main. An invalid plan is never committed; unchanged plans make no \
                commit. --sign-key takes an ed25519 or ECDSA private key in OpenSSH format, or a public key \
                (KEY.pub) whose private half ssh-agent holds; the signature is git's SSH format (gpgsig, \
                namespace git), which `git verify-commit` accepts with gpg.format=ssh.

                Each role's bundle ref is resolved to its commit (and its manifest's SHA-256) and pinned in \
                pins.yaml, written into the commit and beside the plans: boot and deploy refuse any other commit \
                under that ref (a moved tag, a force-pushed branch, another mirror). Committing again re-pins; \
                --no-pin commits without pins.

                EXAMPLES:
                  redeye plan commit --repo plans.git -m "add web05"
                  redeye plan commit --repo plans.git -m "web to v1653" --sign-key ~/.ssh/id_ed25519
                  redeye plan commit --repo plans.git -m "x" --sign-key ~/.ssh/id_ed25519.pub --author "Ops <ops@example.org>"
                """ + ExitStatus.section())

        @OptionGroup var repoOption: RepositoryOption
        @Option(name: .shortAndLong, help: "The commit message.") var message: String
        @Option(
            help: ArgumentHelp(
                "Author as 'Name <email>' (default: git config user.name/user.email).", valueName: "author"))
        var author: String?
        @Option(help: "The branch to commit to.") var branch: String = "main"
        @Flag(
            name: .customLong("no-pin"),
            help: "Do not pin the roles' bundles (boot and deploy then take each ref as the bundle server has it).")
        var noPin = false
        @OptionGroup(title: "Global Options") var global: GlobalOptions
        @Flag(help: "Print the result as JSON.") var json = false

        /// Each role's bundle ref resolved to its commit and manifest digest, as the bundle server has them now.
        func resolvePins() throws -> [String: Plans.Pin] {
            let plans = try global.loadPlans()
            let cache = try global.cacheDirectory()
            let hostKeys = try global.hostKeys()
            let identity = try global.settings().text(.identity)
            let https = try global.httpsTransport()
            var pins: [String: Plans.Pin] = [:]
            for role in plans.roles.values.sorted(by: { $0.name < $1.name }) {
                let version: BundleVersion
                do {
                    version = try BundleVersion.fetch(
                        role.bundleRepository, ref: role.bundleRef,
                        cache: cache + "/" + InventorySync.bundleName(role.bundleRepository) + ".git",
                        hostKeys: hostKeys, sshKey: identity, https: https)
                } catch {
                    throw PinFailure(
                        description:
                            "cannot pin role \(role.name)'s bundle \(role.bundleRepository) @ \(role.bundleRef): \(error) (give --no-pin to commit without pins); nothing was committed"
                    )
                }
                pins[role.name] = Plans.Pin(repository: role.bundleRepository, ref: role.bundleRef, pin: version.pin)
            }
            return pins
        }

        func run() throws {
            try reportingErrors {
                let settings = try global.settings(extra: repoOption.flag)
                let repo = try repoOption.path(settings)
                let signKey = settings.text(.signKey)
                if signKey == nil, settings.signingPolicy == .required {
                    throw SigningRequired(source: settings[.signing]?.source ?? .builtIn)
                }
                let signer = try signKey.map { try loadSigner(keyPath: $0) }
                let pins = noPin ? nil : try resolvePins()
                let directory = try global.plansDirectory()
                let repository = try PlanRepository(path: repo, create: true)
                let person = try commitAuthor(author, configured: repository.repository)
                let committed = try repository.commit(
                    directory: directory, message: message, author: person, signer: signer, branch: branch,
                    pins: pins)
                // The pins beside the plans too, so that a deploy from this directory holds the same commits.
                if let pins {
                    try Data(Plans.pinsFile(pins)).write(
                        to: URL(fileURLWithPath: directory + "/" + Plans.pinsFileName), options: .atomic)
                    if !json {
                        for (role, pin) in pins.sorted(by: { $0.key < $1.key }) {
                            print("pinned \(role): \(pin.ref) = \(pin.pin.commit.prefix(12))")
                        }
                    }
                }
                guard let id = committed else {
                    if json {
                        print(#"{"committed": false}"#)
                    } else {
                        print("nothing to commit: the plans are unchanged on \(branch)")
                    }
                    return
                }
                if json {
                    print(
                        "{\"committed\": true, \"commit\": \"\(id.hex)\", \"signed\": \(signer != nil), \"pinned\": \(pins != nil)}"
                    )
                } else {
                    print(
                        "committed \(id.short) to \(repo) (\(branch))"
                            + (signer.map { ", signed by \($0.publicKey)" } ?? ", unsigned"))
                }
            }
        }
    }
}

/// An unsigned commit refused because the settings require signed plans.
struct SigningRequired: Error, CustomStringConvertible {
    var source: SettingSource

    var description: String {
        let why =
            source == .builtIn
            ? "an allowed-signers file is configured, so plans must be signed"
            : "plans.signing is required (\(source))"
        return "\(why): give --sign-key or set plans.sign_key; nothing was committed"
    }
}

/// A role's bundle that could not be resolved to a pin.
struct PinFailure: Error, CustomStringConvertible {
    var description: String
}
