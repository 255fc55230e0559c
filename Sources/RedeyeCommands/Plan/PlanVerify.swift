import ArgumentParser
import FoundationEssentials
import Git
import Glibc
import Plan
import Signing

extension PlanCommand {
    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "verify",
            abstract: "Verify that a plans commit is SSH-signed by a trusted key (exit 6 when it is not).",
            discussion: """
                The allowed-signers file is git's format: `principals [namespaces="git"] [valid-after=…] [valid-before=…] KEYTYPE KEY`. \
                Refused: an unsigned commit, a malformed or truncated signature, another namespace, a key not in the \
                file or outside its validity at the commit's time or now, a signature that does not match the \
                content, and a branch's commit whose signed message names another branch (or none).

                EXAMPLES:
                  redeye plan verify --repo plans.git --ref main --allowed-signers /etc/redeye/allowed_signers
                  redeye plan verify --repo plans.git --ref v12 --allowed-signers allowed_signers --json
                """ + ExitStatus.section(6))

        @OptionGroup var repoOption: RepositoryOption
        @Option(help: "The commit, tag or branch to verify.") var ref: String = "main"
        @Flag(help: "Print the result as JSON.") var json = false
        @OptionGroup(title: "Global Options") var global: GlobalOptions

        func run() throws {
            try reportingErrors {
                let settings = try global.settings(extra: repoOption.flag)
                guard let allowedSigners = settings.text(.allowedSigners) else {
                    throw ValidationError(
                        "no allowed-signers file: pass --allowed-signers or set plans.allowed_signers in redeye.yaml")
                }
                let signers = try AllowedSigners.load(path: allowedSigners)
                let repository = try PlanRepository(path: try repoOption.path(settings), create: false)
                do {
                    // A branch's commit must also name that branch in its signed message.
                    let isBranch = (try? repository.repository.resolveCommit("refs/heads/\(ref)")) != nil
                    let result = try repository.verify(ref, allowedSigners: signers, branch: isBranch ? ref : nil)
                    if json {
                        print(
                            "{\"verified\": true, \"commit\": \"\(result.commit.hex)\", \"principals\": [\(result.principals.map { "\"\($0)\"" }.joined(separator: ", "))], \"key\": \"\(result.key.fingerprint)\"}"
                        )
                    } else {
                        print(
                            "good signature on \(result.commit.short) by \(result.principals.joined(separator: ", ")) (\(result.key))"
                        )
                    }
                } catch let error as SigningError {
                    if json { print("{\"verified\": false, \"reason\": \(jsonString(error.message))}") }
                    printError("redeye: not trusted: \(error.message)")
                    throw ExitCode(ExitStatus.untrusted)
                }
            }
        }
    }
}
