import CGit2
import Glibc

/// A tag of a repository: annotated (with tagger and message) or lightweight.
public struct TagInfo: Sendable {
    public var name: String
    public var commit: ObjectID
    public var message: String?
    public var tagger: GitPerson?
}

extension Repository {
    /// Every tag with the commit it names, sorted by name.
    public func tags() throws(GitError) -> [TagInfo] {
        var names = git_strarray()
        try check(git_tag_list(&names, handle), "list tags")
        defer { git_strarray_dispose(&names) }
        var out: [TagInfo] = []
        for i in 0..<names.count {
            guard let cName = names.strings[i] else { continue }
            let name = String(cString: cName)
            let commit = try resolveCommit("refs/tags/" + name)
            var info = TagInfo(name: name, commit: commit, message: nil, tagger: nil)
            var object: OpaquePointer?
            if git_revparse_single(&object, handle, "refs/tags/" + name) == 0 {
                if git_object_type(object) == GIT_OBJECT_TAG {
                    info.message = git_tag_message(object).map { String(cString: $0) }
                    if let t = git_tag_tagger(object) {
                        info.tagger = GitPerson(
                            name: String(cString: t.pointee.name), email: String(cString: t.pointee.email),
                            time: t.pointee.when.time)
                    }
                }
                git_object_free(object)
            }
            out.append(info)
        }
        return out.sorted { $0.name < $1.name }
    }

    /// Calls `body` for every file of a commit's tree with its blob id, without reading the blob.
    public func forEachFile(
        at id: ObjectID, _ body: (_ path: String, _ kind: GitFileKind, _ blob: ObjectID) throws -> Void
    ) throws {
        var commit: OpaquePointer?
        var oid = id.raw
        try check(git_commit_lookup(&commit, handle, &oid), "read commit \(id.short)")
        defer { git_commit_free(commit) }
        var tree: OpaquePointer?
        try check(git_commit_tree(&tree, commit), "read the tree of \(id.short)")
        defer { git_tree_free(tree) }
        try walk(tree, prefix: "", body)
    }

    private func walk(_ tree: OpaquePointer?, prefix: String, _ body: (String, GitFileKind, ObjectID) throws -> Void)
        throws
    {
        // libgit2 reads a tree that holds one name twice (`git fsck`'s duplicateEntries), such as a symlink and
        // a directory both called `a`: whoever reads it by path would see one and get the other.
        var names = Set<String>()
        for i in 0..<git_tree_entrycount(tree) {
            guard let entry = git_tree_entry_byindex(tree, i) else { continue }
            let leaf = String(cString: git_tree_entry_name(entry))
            let name = prefix + leaf
            guard names.insert(leaf).inserted, !leaf.isEmpty, leaf != ".", leaf != "..", !leaf.contains("/") else {
                throw GitError(
                    code: -1, errorClass: 0, message: "the tree holds '\(name)' twice or under a name git refuses",
                    operation: "read the tree of \(prefix.isEmpty ? "the commit" : String(prefix.dropLast()))")
            }
            switch git_tree_entry_type(entry) {
            case GIT_OBJECT_TREE:
                var subtree: OpaquePointer?
                try check(git_tree_lookup(&subtree, handle, git_tree_entry_id(entry)), "read \(name)")
                defer { git_tree_free(subtree) }
                try walk(subtree, prefix: name + "/", body)
            case GIT_OBJECT_BLOB:
                let mode = git_tree_entry_filemode(entry)
                let kind: GitFileKind =
                    mode == GIT_FILEMODE_LINK ? .symlink : mode == GIT_FILEMODE_BLOB_EXECUTABLE ? .executable : .regular
                try body(name, kind, ObjectID(git_tree_entry_id(entry).pointee))
            default:
                continue
            }
        }
    }

    /// Calls `body` with a blob's bytes, as `withBlob`, without libgit2 hashing them to check the blob's id: for
    /// content the caller checks itself against a stronger hash (a bundle manifest's SHA-256), where the SHA-1
    /// with collision detection libgit2 uses would only double the reading cost. While this runs, no other
    /// thread's reads are checked either (libgit2's option is process-wide), so callers read nothing else then.
    public func withContentBlob<R>(_ id: ObjectID, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        try GitRuntime.withoutHashVerification { try withBlob(id, body) }
    }

    /// Calls `body` with a blob's bytes (valid during the call only).
    public func withBlob<R>(_ id: ObjectID, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        var blob: OpaquePointer?
        var oid = id.raw
        try check(git_blob_lookup(&blob, handle, &oid), "read blob \(id.short)")
        defer { git_blob_free(blob) }
        return try body(UnsafeRawBufferPointer(start: git_blob_rawcontent(blob), count: Int(git_blob_rawsize(blob))))
    }

    /// The bytes of one file of a commit, or nil when the commit has no such file.
    public func file(_ path: String, at id: ObjectID) throws(GitError) -> [UInt8]? {
        var object: OpaquePointer?
        let code = git_revparse_single(&object, handle, "\(id.hex):\(path)")
        if code == GIT_ENOTFOUND.rawValue { return nil }
        try check(code, "read \(path) at \(id.short)")
        defer { git_object_free(object) }
        guard git_object_type(object) == GIT_OBJECT_BLOB else { return nil }
        let size = Int(git_blob_rawsize(object))
        return size == 0 ? [] : Array(UnsafeRawBufferPointer(start: git_blob_rawcontent(object), count: size))
    }
}

/// How git stores a file.
public enum GitFileKind: Sendable {
    case regular, executable, symlink
}
