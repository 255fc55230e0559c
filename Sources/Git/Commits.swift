import CGit2
import Text

/// A git object id (SHA-1), as 40 hex digits.
public struct ObjectID: Sendable, Hashable, CustomStringConvertible {
    var raw: git_oid

    init(_ raw: git_oid) {
        self.raw = raw
    }

    public init(hex: String) throws(GitError) {
        var oid = git_oid()
        guard git_oid_fromstr(&oid, hex) == 0 else {
            throw GitError(
                code: -1, errorClass: 0, message: "'\(hex)' is not an object id", operation: "parse object id")
        }
        raw = oid
    }

    public var hex: String {
        var copy = raw
        var buffer = [CChar](repeating: 0, count: 41)
        git_oid_tostr(&buffer, 41, &copy)
        return String(decoding: buffer.prefix(40).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    public var short: String { String(hex.prefix(12)) }
    public var description: String { hex }

    public static func == (a: ObjectID, b: ObjectID) -> Bool {
        var x = a.raw
        var y = b.raw
        return git_oid_equal(&x, &y) == 1
    }

    public func hash(into hasher: inout Hasher) { hasher.combine(hex) }
}

/// Who made a commit, and when.
public struct GitPerson: Sendable, Hashable {
    public var name: String
    public var email: String
    /// Seconds since the epoch.
    public var time: Int64

    public init(name: String, email: String, time: Int64) {
        self.name = name
        self.email = email
        self.time = time
    }

    /// Parses `Name <email>`.
    public init?(_ text: String, time: Int64) {
        guard let open = text.lastIndex(of: "<"), let close = text.lastIndex(of: ">"), open < close else { return nil }
        name = String(text[..<open]).trimmed(in: " \t")
        email = String(text[text.index(after: open)..<close])
        self.time = time
        if name.isEmpty || email.isEmpty { return nil }
    }
}

/// A commit as read from the repository.
public struct CommitInfo: Sendable {
    public var id: ObjectID
    public var message: String
    public var author: GitPerson
    public var committer: GitPerson
    public var parents: [ObjectID]
}

/// A file to commit: its contents and whether it is executable (git keeps only 644 and 755), or a
/// symlink (whose contents are its target).
public struct GitFile: Sendable, Hashable {
    public var contents: [UInt8]
    public var executable: Bool
    public var symlink: Bool

    public init(contents: [UInt8], executable: Bool = false, symlink: Bool = false) {
        self.contents = contents
        self.executable = executable
        self.symlink = symlink
    }

    var mode: UInt32 { symlink ? 0o120000 : executable ? 0o100755 : 0o100644 }
}

extension Repository {
    /// Opens the repository at `path`, creating it when missing (bare when the name ends in `.git`).
    public static func openOrCreate(_ path: String) throws(GitError) -> Repository {
        if let repo = try? open(path) { return repo }
        return try create(path, bare: path.hasSuffix(".git"))
    }

    /// The commit a ref, tag, branch or id names.
    public func resolveCommit(_ revision: String) throws(GitError) -> ObjectID {
        var object: OpaquePointer?
        try check(git_revparse_single(&object, handle, revision + "^{commit}"), "resolve '\(revision)'")
        defer { git_object_free(object) }
        return ObjectID(git_object_id(object).pointee)
    }

    /// Deletes a reference (`refs/heads/main`); nothing when it does not exist.
    public func deleteReference(_ name: String) throws(GitError) {
        var reference: OpaquePointer?
        let code = git_reference_lookup(&reference, handle, name)
        if code == GIT_ENOTFOUND.rawValue { return }
        _ = try check(code, "look up \(name)")
        defer { git_reference_free(reference) }
        _ = try check(git_reference_delete(reference), "delete \(name)")
    }

    /// The commit the branch points at, or nil before its first commit.
    public func branchTip(_ branch: String) throws(GitError) -> ObjectID? {
        var oid = git_oid()
        let code = git_reference_name_to_id(&oid, handle, "refs/heads/\(branch)")
        if code == GIT_ENOTFOUND.rawValue { return nil }
        try check(code, "read branch \(branch)")
        return ObjectID(oid)
    }

    public func commitInfo(_ id: ObjectID) throws(GitError) -> CommitInfo {
        var commit: OpaquePointer?
        var oid = id.raw
        try check(git_commit_lookup(&commit, handle, &oid), "read commit \(id.short)")
        defer { git_commit_free(commit) }
        func person(_ s: UnsafePointer<git_signature>) -> GitPerson {
            GitPerson(
                name: String(cString: s.pointee.name), email: String(cString: s.pointee.email),
                time: s.pointee.when.time)
        }
        let parents = (0..<git_commit_parentcount(commit)).compactMap {
            git_commit_parent_id(commit, $0).map { ObjectID($0.pointee) }
        }
        return CommitInfo(
            id: id, message: git_commit_message(commit).map { String(cString: $0) } ?? "",
            author: person(git_commit_author(commit)), committer: person(git_commit_committer(commit)), parents: parents
        )
    }

    /// Every file of a commit's tree, by path.
    public func files(at id: ObjectID) throws -> [String: GitFile] {
        var out: [String: GitFile] = [:]
        try forEachFile(at: id) { path, kind, blob in
            let bytes = try withBlob(blob) { Array($0) }
            out[path] = GitFile(contents: bytes, executable: kind == .executable, symlink: kind == .symlink)
        }
        return out
    }

    /// The SSH/GPG signature of a commit and the exact bytes it signs, or nil when the commit is unsigned.
    public func signature(of id: ObjectID) throws(GitError) -> (signature: String, signedData: [UInt8])? {
        var signature = git_buf()
        var signed = git_buf()
        var oid = id.raw
        let code = git_commit_extract_signature(&signature, &signed, handle, &oid, nil)
        if code == GIT_ENOTFOUND.rawValue { return nil }
        try check(code, "read the signature of \(id.short)")
        defer {
            git_buf_dispose(&signature)
            git_buf_dispose(&signed)
        }
        let text = String(decoding: UnsafeRawBufferPointer(start: signature.ptr, count: signature.size), as: UTF8.self)
        let data = Array(UnsafeRawBufferPointer(start: signed.ptr, count: signed.size))
        return (text, data)
    }

    /// The identity from git config (`user.name`, `user.email`), if configured.
    public func configuredPerson() -> GitPerson? {
        var signature: UnsafeMutablePointer<git_signature>?
        guard git_signature_default(&signature, handle) == 0, let signature else { return nil }
        defer { git_signature_free(signature) }
        return GitPerson(
            name: String(cString: signature.pointee.name), email: String(cString: signature.pointee.email),
            time: signature.pointee.when.time)
    }

    /// What ``commit(files:message:author:committer:branch:sign:ifUnchanged:)`` does with a tree equal to the tip's.
    public enum UnchangedTree: Sendable {
        case skip, commit
    }

    /// Commits `files` (the whole tree) on `branch`, with `parent` = the branch tip.
    ///
    /// - Parameters:
    ///   - sign: given the commit's exact bytes, returns an armored signature for its `gpgsig` header.
    ///   - ifUnchanged: what to do when the tree equals the tip's: nothing (the default), or commit it again
    ///     (to sign a tree that an unsigned commit holds).
    /// - Returns: the new commit, or nil when the tree equals the tip's and `ifUnchanged` is `.skip`.
    /// - Throws: ``GitError``, also when the branch moved while committing (someone else committed).
    public func commit(
        files: [String: GitFile], message: String, author: GitPerson, committer: GitPerson? = nil,
        branch: String = "main", sign: ((_ content: [UInt8]) throws -> String)? = nil,
        ifUnchanged: UnchangedTree = .skip
    ) throws -> ObjectID? {
        var index: OpaquePointer?
        try check(git_index_new(&index), "create an index")
        defer { git_index_free(index) }
        for (path, file) in files.sorted(by: { $0.key < $1.key }) {
            var blob = git_oid()
            try check(
                file.contents.withUnsafeBytes { git_blob_create_from_buffer(&blob, handle, $0.baseAddress, $0.count) },
                "store \(path)")
            var entry = git_index_entry()
            entry.mode = file.mode
            entry.id = blob
            let code = path.withCString { cPath in
                entry.path = cPath
                return git_index_add(index, &entry)
            }
            try check(code, "add \(path)")
        }
        var treeID = git_oid()
        try check(git_index_write_tree_to(&treeID, index, handle), "write the tree")
        var tree: OpaquePointer?
        try check(git_tree_lookup(&tree, handle, &treeID), "read the tree")
        defer { git_tree_free(tree) }

        let tip = try branchTip(branch)
        var parent: OpaquePointer?
        if let tip {
            var tipID = tip.raw
            try check(git_commit_lookup(&parent, handle, &tipID), "read \(branch)")
            if ifUnchanged == .skip, let parentTree = git_commit_tree_id(parent),
                git_oid_equal(parentTree, &treeID) == 1
            {
                git_commit_free(parent)
                return nil
            }
        }
        defer { git_commit_free(parent) }

        let authorSignature = try makeSignature(author)
        defer { git_signature_free(authorSignature) }
        let committerSignature = try makeSignature(committer ?? author)
        defer { git_signature_free(committerSignature) }
        var buffer = git_buf()
        var parents: [OpaquePointer?] = parent.map { [$0] } ?? []
        try check(
            git_commit_create_buffer(
                &buffer, handle, authorSignature, committerSignature, nil, message, tree, parents.count, &parents),
            "create the commit")
        defer { git_buf_dispose(&buffer) }
        let content = Array(UnsafeRawBufferPointer(start: buffer.ptr, count: buffer.size))
        var commitID = git_oid()
        let signature = try sign?(content)
        let text = String(decoding: content, as: UTF8.self)
        try check(git_commit_create_with_signature(&commitID, handle, text, signature, nil), "write the commit")
        // Move the branch only if it still points where we started (compare and swap).
        var reference: OpaquePointer?
        var tipID = tip?.raw ?? git_oid()
        let logMessage = "redeye: \(message.split(separator: "\n").first ?? "")"
        let code: Int32
        if tip == nil {
            code = git_reference_create(&reference, handle, "refs/heads/\(branch)", &commitID, 0, logMessage)
        } else {
            code = git_reference_create_matching(
                &reference, handle, "refs/heads/\(branch)", &commitID, 1, &tipID, logMessage)
        }
        try check(code, "update \(branch) (did someone else commit meanwhile?)")
        git_reference_free(reference)
        return ObjectID(commitID)
    }

    private func makeSignature(_ person: GitPerson) throws(GitError) -> UnsafeMutablePointer<git_signature>? {
        var signature: UnsafeMutablePointer<git_signature>?
        try check(
            git_signature_new(&signature, person.name, person.email, person.time, 0),
            "make a signature for \(person.email)")
        return signature
    }

    /// Commits of a branch or ref, newest first.
    public func log(_ revision: String, limit: Int = 50) throws(GitError) -> [CommitInfo] {
        var walk: OpaquePointer?
        try check(git_revwalk_new(&walk, handle), "walk history")
        defer { git_revwalk_free(walk) }
        var start = try resolveCommit(revision).raw
        try check(git_revwalk_push(walk, &start), "walk history")
        var out: [CommitInfo] = []
        var oid = git_oid()
        while out.count < limit, git_revwalk_next(&oid, walk) == 0 {
            out.append(try commitInfo(ObjectID(oid)))
        }
        return out
    }
}
