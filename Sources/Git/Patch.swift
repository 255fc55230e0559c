import CGit2

extension Repository {
    /// A unified diff (git's format, `context` lines around each change) of one file's two contents, made by
    /// libgit2's own diff; empty when they are equal. `nil` on a side means the file does not exist there.
    public func unifiedDiff(old: [UInt8]?, new: [UInt8]?, path: String, context: Int = 3) throws(GitError) -> String {
        var options = git_diff_options()
        try check(git_diff_options_init(&options, UInt32(GIT_DIFF_OPTIONS_VERSION)), "prepare a diff")
        options.context_lines = UInt32(max(0, min(context, 1000)))
        var patch: OpaquePointer?
        let oldPath = old == nil ? nil : path
        let newPath = new == nil ? nil : path
        let code = (old ?? []).withUnsafeBytes { a in
            (new ?? []).withUnsafeBytes { b in
                git_patch_from_buffers(
                    &patch, a.baseAddress, a.count, oldPath, b.baseAddress, b.count, newPath, &options)
            }
        }
        try check(code, "diff \(path)")
        defer { git_patch_free(patch) }
        var buffer = git_buf()
        try check(git_patch_to_buf(&buffer, patch), "print the diff of \(path)")
        defer { git_buf_dispose(&buffer) }
        guard let pointer = buffer.ptr else { return "" }
        return String(decoding: UnsafeRawBufferPointer(start: pointer, count: buffer.size), as: UTF8.self)
    }
}
