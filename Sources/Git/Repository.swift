import CGit2
import FoundationEssentials
import Glibc
import Synchronization

/// libgit2's global state, reference-counted by libgit2 itself: every ``Repository`` holds one reference.
enum GitRuntime {
    static func acquire() { git_libgit2_init() }
    static func release() { git_libgit2_shutdown() }

    /// libgit2 hashes every object it reads to check it against its id (strict hash verification, a
    /// process-wide option, on by default). `withoutHashVerification` turns it off while any of its calls runs.
    /// How many calls are reading without verification now.
    private static let unverifiedReaders = Mutex<Int>(0)

    static func withoutHashVerification<R>(_ body: () throws -> R) rethrows -> R {
        unverifiedReaders.withLock { readers in
            if readers == 0 { _ = cgit2_set_strict_hash_verification(0) }
            readers += 1
        }
        defer {
            unverifiedReaders.withLock { readers in
                readers -= 1
                if readers == 0 { _ = cgit2_set_strict_hash_verification(1) }
            }
        }
        return try body()
    }

    /// The linked libgit2's version, e.g. "1.5.1".
    static var version: String {
        var major: Int32 = 0
        var minor: Int32 = 0
        var revision: Int32 = 0
        git_libgit2_version(&major, &minor, &revision)
        return "\(major).\(minor).\(revision)"
    }
}

/// A git repository opened or created through libgit2; owns its `git_repository` handle.
public final class Repository {
    let handle: OpaquePointer

    private init(handle: OpaquePointer) {
        self.handle = handle
    }

    deinit {
        git_repository_free(handle)
        GitRuntime.release()
    }

    public static var libraryVersion: String {
        GitRuntime.acquire()
        defer { GitRuntime.release() }
        return GitRuntime.version
    }

    /// Opens an existing repository (bare or with a work tree) at `path`.
    public static func open(_ path: String) throws(GitError) -> Repository {
        GitRuntime.acquire()
        var repo: OpaquePointer?
        do {
            try check(git_repository_open(&repo, path), "open repository \(path)")
        } catch {
            GitRuntime.release()
            throw error
        }
        return Repository(handle: repo!)
    }

    /// Creates a repository whose first branch is `main`.
    public static func create(_ path: String, bare: Bool) throws(GitError) -> Repository {
        GitRuntime.acquire()
        var options = git_repository_init_options()
        git_repository_init_options_init(&options, UInt32(GIT_REPOSITORY_INIT_OPTIONS_VERSION))
        options.flags =
            UInt32(GIT_REPOSITORY_INIT_MKPATH.rawValue) | (bare ? UInt32(GIT_REPOSITORY_INIT_BARE.rawValue) : 0)
        var repo: OpaquePointer?
        let code = "main".withCString { branch in
            options.initial_head = branch
            return git_repository_init_ext(&repo, path, &options)
        }
        do {
            try check(code, "create repository \(path)")
        } catch {
            GitRuntime.release()
            throw error
        }
        return Repository(handle: repo!)
    }

    public var isBare: Bool { git_repository_is_bare(handle) == 1 }

    /// The branch HEAD points at, even before the first commit.
    public func headBranch() throws(GitError) -> String {
        var reference: OpaquePointer?
        try check(git_reference_lookup(&reference, handle, "HEAD"), "read HEAD")
        defer { git_reference_free(reference) }
        guard let target = git_reference_symbolic_target(reference) else { return "HEAD" }
        let name = String(cString: target)
        return name.hasPrefix("refs/heads/") ? String(name.dropFirst("refs/heads/".count)) : name
    }
}
