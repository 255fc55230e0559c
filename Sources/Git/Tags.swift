import CGit2
import Glibc

/// An annotated tag as stored: the commit it names, its tagger, and the signature its message ends with, if any.
public struct TagObject: Sendable {
    /// A signature block at the end of a tag's message, as `git tag -s` writes it, and the bytes it signs: the tag
    /// object up to the block.
    public struct Signature: Sendable {
        public enum Format: String, Sendable { case ssh, pgp }
        public var format: Format
        public var armored: String
        public var signed: [UInt8]
    }

    public var name: String
    public var id: ObjectID
    public var commit: ObjectID
    public var tagger: GitPerson?
    public var signature: Signature?
}

extension Repository {
    /// Creates an annotated tag; an existing tag of that name is an error (tags are never moved). With `sign`,
    /// the tag is signed as `git tag -s` signs: `sign` is given the tag object's exact bytes and returns an
    /// armored signature, which ends the message.
    @discardableResult
    public func createTag(
        _ name: String, commit: ObjectID, tagger: GitPerson, message: String,
        sign: ((_ content: [UInt8]) throws -> String)? = nil
    ) throws -> ObjectID {
        var object: OpaquePointer?
        var oid = commit.raw
        try check(git_object_lookup(&object, handle, &oid, GIT_OBJECT_COMMIT), "find commit \(commit.short)")
        defer { git_object_free(object) }
        var signature: UnsafeMutablePointer<git_signature>?
        try check(git_signature_new(&signature, tagger.name, tagger.email, tagger.time, 0), "make the tagger")
        defer { git_signature_free(signature) }
        var tagID = git_oid()
        let code: Int32
        if let sign, let signature {
            // The object as git writes one (libgit2 checked the tagger above and trims it the same way), then
            // the signature over exactly those bytes, as the message's last lines.
            var body = message
            if !body.hasSuffix("\n") { body += "\n" }
            let content =
                "object \(commit.hex)\ntype commit\ntag \(name)\n"
                + "tagger \(String(cString: signature.pointee.name)) <\(String(cString: signature.pointee.email))> \(tagger.time) +0000\n\n"
                + body
            let armored = try sign(Array(content.utf8))
            code = git_tag_create_from_buffer(&tagID, handle, content + armored + "\n", 0)
        } else {
            code = git_tag_create(&tagID, handle, name, object, signature, message, 0)
        }
        if code == GIT_EEXISTS.rawValue {
            throw GitError(
                code: code, errorClass: 0, message: "tag '\(name)' already exists (tags are never moved)",
                operation: "tag \(name)")
        }
        try check(code, "tag \(name)")
        return ObjectID(tagID)
    }

    /// The annotated tag `name` (refs/tags/NAME) with its signature, nil when there is no such tag; a lightweight
    /// tag (a ref straight to a commit) is an error, since it carries nothing to verify.
    public func tag(_ name: String) throws(GitError) -> TagObject? {
        var id = git_oid()
        let code = git_reference_name_to_id(&id, handle, "refs/tags/" + name)
        if code == GIT_ENOTFOUND.rawValue { return nil }
        try check(code, "read tag \(name)")
        var object: OpaquePointer?
        try check(git_object_lookup(&object, handle, &id, GIT_OBJECT_ANY), "read tag \(name)")
        let type = git_object_type(object)
        git_object_free(object)
        guard type == GIT_OBJECT_TAG else {
            throw GitError(
                code: -1, errorClass: 0,
                message: "tag '\(name)' is a lightweight tag (no tag object, so no tagger and no signature)",
                operation: "read tag \(name)")
        }
        var tag: OpaquePointer?
        try check(git_tag_lookup(&tag, handle, &id), "read tag \(name)")
        defer { git_tag_free(tag) }
        guard git_tag_target_type(tag) == GIT_OBJECT_COMMIT else {
            throw GitError(
                code: -1, errorClass: 0, message: "tag '\(name)' does not name a commit", operation: "read tag \(name)")
        }
        let commit = ObjectID(git_tag_target_id(tag).pointee)
        let tagger = git_tag_tagger(tag).map {
            GitPerson(
                name: String(cString: $0.pointee.name), email: String(cString: $0.pointee.email),
                time: $0.pointee.when.time)
        }
        // The raw object: the signature is the part of the message from the first line that opens a signature
        // block, as git's parse_signature finds it; what it signs is everything before that line.
        var odb: OpaquePointer?
        try check(git_repository_odb(&odb, handle), "open the object database")
        defer { git_odb_free(odb) }
        var raw: OpaquePointer?
        try check(git_odb_read(&raw, odb, &id), "read tag object \(name)")
        defer { git_odb_object_free(raw) }
        let bytes = Array(
            UnsafeRawBufferPointer(start: git_odb_object_data(raw), count: git_odb_object_size(raw)))
        return TagObject(
            name: name, id: ObjectID(id), commit: commit, tagger: tagger, signature: Self.tagSignature(in: bytes))
    }

    /// The signature block of a raw tag object, found as git finds it: the first line, after the headers, that
    /// opens an SSH or PGP block.
    static func tagSignature(in bytes: [UInt8]) -> TagObject.Signature? {
        let markers: [(String, TagObject.Signature.Format)] = [
            ("-----BEGIN SSH SIGNATURE-----", .ssh), ("-----BEGIN PGP SIGNATURE-----", .pgp),
            ("-----BEGIN PGP MESSAGE-----", .pgp),
        ]
        var lineStart = 0
        var inMessage = false
        while lineStart < bytes.count {
            let end = bytes[lineStart...].firstIndex(of: 0x0A) ?? bytes.count
            let line = bytes[lineStart..<end]
            if !inMessage {
                if line.isEmpty { inMessage = true }
            } else if let (_, format) = markers.first(where: { line.starts(with: Array($0.0.utf8)) }) {
                return TagObject.Signature(
                    format: format, armored: String(decoding: bytes[lineStart...], as: UTF8.self),
                    signed: Array(bytes[..<lineStart]))
            }
            lineStart = end + 1
        }
        return nil
    }
}
