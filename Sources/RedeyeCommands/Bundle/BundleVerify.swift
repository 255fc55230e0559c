import ArgumentParser
import Bundles
import FoundationEssentials
import Git
import Glibc
import Net
import SSH
import Service
import Signing

extension BundleCommand {
    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "verify",
            abstract:
                "Check that a directory and its manifest agree exactly, or that a committed version is whole and its tag signed.",
            discussion: """
                A directory: refused is anything on disk the manifest does not name, anything missing, a wrong \
                mode or content, a world-writable file, a setuid/setgid bit the manifest does not declare, a \
                path with '..', an absolute path, a symlink that escapes the bundle.

                A version (--repo and --tag): the tagged commit's tree must agree with its manifest (every \
                sha256 checked), and with --allowed-signers the tag must carry an SSH signature (namespace \
                "git") by a key that file trusts at the tag's time and now: tags signed by `redeye bundle \
                commit --sign-key` or by `git tag -s` with gpg.format=ssh.

                EXAMPLES:
                  redeye bundle verify ./web
                  redeye bundle verify ./web --json
                  redeye bundle verify --repo web.git --tag v1652 --allowed-signers allowed_signers
                """ + ExitStatus.section(ExitStatus.notFound, ExitStatus.untrusted))

        @Argument(help: "The bundle directory.") var directory: String?
        @Option(help: "A bundle repository (path) to check a version of, with --tag.") var repo: String?
        @Option(help: "The version's tag, with --repo.") var tag: String?
        @Option(
            name: .customLong("allowed-signers"),
            help: ArgumentHelp("Require the tag to be signed by a key this file trusts.", valueName: "file"))
        var allowedSigners: String?
        @Flag(help: "Print the findings as JSON.") var json = false

        func validate() throws {
            if directory != nil, repo != nil || tag != nil {
                throw ValidationError("give a directory, or --repo and --tag, not both")
            }
            if directory == nil, repo == nil || tag == nil {
                throw ValidationError("give a bundle directory, or --repo and --tag")
            }
            if allowedSigners != nil, tag == nil {
                throw ValidationError("--allowed-signers checks a tag's signature: give --repo and --tag")
            }
        }

        struct VersionReport: Encodable {
            var valid: Bool
            var tag: String
            var commit: String?
            var paths: Int?
            var signed: Bool?
            var signer: [String]?
            var key: String?
            var findings: String?
        }

        func run() throws {
            try reportingErrors {
                if let repo, let tag {
                    try verifyVersion(repo: repo, tag: tag)
                    return
                }
                guard let directory else { return }
                do {
                    let (manifest, _) = try BundleRepository.load(directory: directory)
                    if json {
                        print(#"{"valid": true, "paths": \#(manifest.entries.count)}"#)
                    } else {
                        print(
                            "\(directory): the tree and the manifest agree (\(counted(manifest.entries.count, "path")))"
                        )
                    }
                } catch let error as BundleError {
                    if json { print("{\"valid\": false, \"findings\": \(jsonString(error.message))}") }
                    printError(error.message)
                    throw ExitCode(ExitStatus.failure)
                }
            }
        }

        func verifyVersion(repo: String, tag: String) throws {
            let signers = try allowedSigners.map { try AllowedSigners.load(path: $0) }
            let repository = try BundleRepository(path: repo, create: false)
            var report = VersionReport(valid: false, tag: tag)
            guard (try? repository.repository.resolveCommit("refs/tags/" + tag)) != nil else {
                report.findings = "there is no tag '\(tag)'"
                if json { try printJSON(report) }
                printError("redeye: \(repo): there is no tag '\(tag)'")
                throw ExitCode(ExitStatus.notFound)
            }
            var signedCommit: ObjectID?
            // The signature first: nothing of an untrusted version is read.
            if let signers {
                do {
                    let verified = try repository.verifyTag(tag, allowedSigners: signers)
                    report.signed = true
                    signedCommit = verified.commit
                    report.signer = verified.principals
                    report.key = "\(verified.key)"
                } catch let error as BundleError {
                    report.findings = error.message
                    if json { try printJSON(report) }
                    printError("redeye: \(repo): \(error.message)")
                    throw ExitCode(ExitStatus.untrusted)
                }
            }
            do {
                let version = try BundleVersion.fetch(
                    repo, ref: signedCommit?.hex ?? "refs/tags/" + tag, cache: "", hostKeys: HostKeyPolicy(files: []),
                    sshKey: nil,
                    verifyContent: true)
                report.valid = true
                report.commit = version.commit.hex
                report.paths = version.manifest.entries.count
            } catch let error as BundleError {
                report.findings = error.message
                if json { try printJSON(report) }
                printError("redeye: \(repo): \(error.message)")
                throw ExitCode(ExitStatus.failure)
            }
            if json {
                try printJSON(report)
            } else {
                let signed = report.signer.map { " and signed by \($0.joined(separator: ", "))" } ?? ""
                print(
                    "\(repo) \(tag) (\(report.commit!.prefix(12))): the tree and the manifest agree (\(counted(report.paths!, "path")))\(signed)"
                )
            }
        }
    }
}
