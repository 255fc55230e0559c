/// A bundle version as signed plans pin it: the commit a role's ref resolved to when the plans were committed,
/// and the SHA-256 of that commit's manifest. A fetch that finds anything else under the ref (a moved tag, a
/// force-pushed branch, another mirror) is refused before anything is read from it.
public struct BundlePin: Sendable, Hashable, Codable {
    /// The commit id, 40 hex digits.
    public var commit: String
    /// The SHA-256 of the commit's `redeye-manifest`, 64 hex digits (SHA-1 commit ids alone are not enough).
    public var manifestSHA256: String

    public init(commit: String, manifestSHA256: String) {
        self.commit = commit
        self.manifestSHA256 = manifestSHA256
    }

    enum CodingKeys: String, CodingKey {
        case commit
        case manifestSHA256 = "manifest_sha256"
    }
}
