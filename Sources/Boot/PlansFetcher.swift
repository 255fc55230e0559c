import Bundles
import FileSystem
import FoundationEssentials
import Git
import Glibc
import Plan
import SSH
import Signing
import Text

/// Plans fetched from a hint and trusted: the commit, who signed it, the plans it holds.
public struct TrustedPlans: Sendable {
    public var hint: PlansHint
    public var commit: ObjectID
    public var signer: String
    public var committedAt: Int64
    public var plans: Plans
}

/// Fetches the plans repository into the host's cache through libgit2 and trusts a commit only when its SSH
/// signature verifies against the image's allowed signers, and when it is not older than the newest commit
/// this host trusted before (a replayed old, signed commit would roll the host back).
public struct PlansFetcher: Sendable {
    public var layout: BootLayout
    /// The branch or tag of the plans repository to follow.
    public var ref: String

    /// The most one fetch reads (bytes) before a signature is checked: plans are small.
    public var fetchLimit = 64 << 20
    /// Now, for the signers' validity.
    public var clock: @Sendable () -> Date

    public init(layout: BootLayout, ref: String, clock: @escaping @Sendable () -> Date = { Date() }) {
        self.layout = layout
        self.ref = ref
        self.clock = clock
    }

    /// The outcome of one attempt at one hint.
    public enum Failure: Error, Sendable {
        /// The server or network failed (worth retrying).
        case unreachable(BootError)
        /// What was fetched must not be used (no retry helps).
        case untrusted(BootError)

        public var error: BootError {
            switch self {
            case .unreachable(let e), .untrusted(let e): e
            }
        }
    }

    public func fetch(_ hint: PlansHint) -> Result<TrustedPlans, Failure> {
        let allowedSigners: AllowedSigners
        do {
            allowedSigners = try AllowedSigners.load(path: layout.allowedSigners)
        } catch {
            return .failure(
                .untrusted(
                    BootError(
                        step: .verify,
                        "cannot read the image's trust root \(layout.allowedSigners): \(error) — without it no plans are trusted"
                    )))
        }
        // Each attempt fetches into a quarantine of its own, which becomes the plans cache only once trusted:
        // what a refused hint sent is removed, never kept.
        let state: Directory
        let repository: PlanRepository
        let quarantine = "plans.incoming.git"
        do {
            state = try Directory.open(layout.stateDirectory, create: 0o755)
            try state.removeTree(quarantine)
            repository = try PlanRepository(path: layout.stateDirectory + "/" + quarantine, create: true)
        } catch {
            return .failure(
                .unreachable(BootError(step: .fetch, "cannot open the plans cache \(layout.plansCache): \(error)")))
        }
        let result = fetch(hint, into: repository, allowedSigners: allowedSigners)
        do {
            if case .success = result {
                let old = "plans.old-\(UInt32.random(in: 0...UInt32.max)).git"
                if state.status("plans.git") != nil { try state.rename("plans.git", to: old) }
                try state.rename(quarantine, to: "plans.git")
                try state.removeTree(old)
            } else {
                try state.removeTree(quarantine)
            }
        } catch {
            return .failure(.unreachable(BootError(step: .fetch, "cannot keep the plans cache: \(error)")))
        }
        return result
    }

    func fetch(
        _ hint: PlansHint, into repository: PlanRepository, allowedSigners: AllowedSigners
    ) -> Result<TrustedPlans, Failure> {
        let key = FileManager.default.fileExists(atPath: layout.sshKey) ? layout.sshKey : nil
        let transport = SSHTransport(policy: HostKeyPolicy(files: [layout.knownHosts]), privateKey: key)
        let url = hint.url.hasPrefix("/") ? "file://" + hint.url : hint.url
        let https: HTTPSTransport
        do {
            https = try layout.https(for: url, step: .fetch)
        } catch {
            return .failure(.untrusted(error))
        }
        do {
            try repository.repository.fetchAll(from: url, ssh: transport, https: https, limit: fetchLimit)
        } catch {
            switch error.cause {
            case .notFound:
                return .failure(
                    .untrusted(BootError(step: .fetch, "\(hint.url): no plans repository there: \(error.message)")))
            case .refused:
                return .failure(.untrusted(BootError(step: .fetch, "\(hint.url): \(error.message)")))
            case .other:
                return .failure(.unreachable(BootError(step: .fetch, "cannot fetch \(hint.url): \(error.message)")))
            }
        }
        // The branch, never a tag of the same name standing in for it; a tag only where there is no branch.
        let commit: ObjectID
        if let branch = try? repository.repository.resolveCommit("refs/heads/\(ref)") {
            commit = branch
        } else if let tag = try? repository.repository.resolveCommit("refs/tags/\(ref)") {
            commit = tag
        } else {
            return .failure(.untrusted(BootError(step: .fetch, "\(hint.url) has no branch or tag '\(ref)'")))
        }
        let verification: PlanRepository.Verification
        do {
            verification = try repository.verify(
                commit.hex, allowedSigners: allowedSigners, branch: ref, now: clock())
        } catch {
            return .failure(
                .untrusted(
                    BootError(
                        step: .verify,
                        "refusing the plans from \(hint.url) (\(hint.source), \(hint.origin)): \(error); trusted signers are in \(layout.allowedSigners)"
                    )))
        }
        let info: CommitInfo
        let plans: Plans
        do {
            info = try repository.repository.commitInfo(commit)
            plans = try repository.plans(at: commit.hex).1
        } catch {
            return .failure(
                .untrusted(BootError(step: .verify, "the signed plans commit \(commit.short) is not valid: \(error)")))
        }
        switch notBefore() {
        case .failure(let error): return .failure(.untrusted(error))
        case .success(let floor?) where info.committer.time < floor:
            return .failure(
                .untrusted(
                    BootError(
                        step: .verify,
                        "refusing \(commit.short) from \(hint.url): it was signed at \(info.committer.time), before the image's floor \(floor) (\(layout.plansNotBefore)): an old signed commit is not trusted on a fresh host"
                    )))
        case .success: break
        }
        if let (previous, time) = lastTrusted(), previous != commit.hex, info.committer.time < time {
            return .failure(
                .untrusted(
                    BootError(
                        step: .verify,
                        "refusing \(commit.short) from \(hint.url): it is older than plans commit \(previous.prefix(12)) this host already trusted (a replayed commit would roll the host back)"
                    )))
        }
        return .success(
            TrustedPlans(
                hint: hint, commit: commit, signer: verification.principals.joined(separator: ","),
                committedAt: info.committer.time, plans: plans))
    }

    /// Remembers `plans` as the newest trusted commit.
    public func remember(_ plans: TrustedPlans) throws(BootError) {
        try writeAtomically(Data("\(plans.commit.hex) \(plans.committedAt)\n".utf8), to: layout.trustedPlans)
    }

    /// The image's floor for plans commits (seconds since 1970, in `plans.not-before` of the trust root), nil
    /// where the image has none; a file that is there but unreadable trusts nothing.
    func notBefore() -> Result<Int64?, BootError> {
        guard FileManager.default.fileExists(atPath: layout.plansNotBefore) else { return .success(nil) }
        guard let text = try? String(contentsOfFile: layout.plansNotBefore, encoding: .utf8),
            let floor = Int64(text.trimmed())
        else {
            return .failure(
                BootError(
                    step: .verify,
                    "\(layout.plansNotBefore) is not a number of seconds since 1970: no plans are trusted until it is"))
        }
        return .success(floor)
    }

    func lastTrusted() -> (String, Int64)? {
        guard let text = try? String(contentsOfFile: layout.trustedPlans, encoding: .utf8) else { return nil }
        let words = text.split(whereSeparator: \.isWhitespace)
        guard words.count == 2, let time = Int64(words[1]) else { return nil }
        return (String(words[0]), time)
    }
}
