import Foundation
import YAML

/// A file mode written as octal text (`"0755"`): the schema of the manifest says it is octal.
public struct FileMode: Decodable, Sendable, Hashable, CustomStringConvertible {
    public var bits: UInt32

    public init(_ bits: UInt32) {
        self.bits = bits & 0o7777
    }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let bits = UInt32(text, radix: 8), bits <= 0o7777 else {
            throw DecodingError.dataCorrupted(
                .init(
                    codingPath: decoder.codingPath,
                    debugDescription: "'\(text)' is not an octal file mode (e.g. \"0644\")"))
        }
        self.bits = bits
    }

    public var description: String {
        let s = String(bits, radix: 8)
        return String(repeating: "0", count: max(0, 4 - s.count)) + s
    }

    public var isWorldWritable: Bool { bits & 0o002 != 0 }
    public var isSetID: Bool { bits & 0o6000 != 0 }
}

/// One path of a bundle: what it is, its mode and owner, and (for files) its content hash.
public struct ManifestEntry: Sendable, Hashable {
    public enum Kind: String, YAMLChoice, Sendable, Hashable {
        case file, dir, symlink
    }

    public var path: String
    public var kind: Kind
    public var mode: FileMode
    public var owner: String
    public var group: String
    /// SHA-256 of a file's content, lowercase hex.
    public var sha256: String?
    /// Where a symlink points (relative, inside the bundle).
    public var target: String?
    public var location: SourceLocation?

    public init(
        path: String, kind: Kind, mode: FileMode, owner: String, group: String, sha256: String? = nil,
        target: String? = nil
    ) {
        self.path = path
        self.kind = kind
        self.mode = mode
        self.owner = owner
        self.group = group
        self.sha256 = sha256
        self.target = target
    }

    public static func == (a: ManifestEntry, b: ManifestEntry) -> Bool {
        a.path == b.path && a.kind == b.kind && a.mode == b.mode && a.owner == b.owner && a.group == b.group
            && a.sha256 == b.sha256 && a.target == b.target
    }

    public func hash(into hasher: inout Hasher) { hasher.combine(path) }
}

/// A command a bundle runs at a point of its installation, bounded by a timeout.
public struct Hook: Sendable, Hashable {
    public var run: String
    public var timeoutSeconds: Int
}

/// The manifest of a bundle: every path, its kind, mode, owner, group and hash, and nothing else.
/// It lives at the bundle's root as `redeye-bundle.yaml` and is not listed in itself.
public struct Manifest: Sendable, Hashable {
    public static let fileName = "redeye-bundle.yaml"

    public var name: String?
    public var beforeSwitch: Hook?
    public var afterSwitch: Hook?
    public var entries: [ManifestEntry]

    public init(name: String? = nil, beforeSwitch: Hook? = nil, afterSwitch: Hook? = nil, entries: [ManifestEntry]) {
        self.name = name
        self.beforeSwitch = beforeSwitch
        self.afterSwitch = afterSwitch
        self.entries = entries.sorted { $0.path < $1.path }
    }

    public func entry(_ path: String) -> ManifestEntry? { entries.first { $0.path == path } }

    /// The manifest as YAML, deterministic (sorted paths, fixed key order).
    public var yaml: String {
        var out = "# Redeye bundle manifest: every path of the bundle, and nothing else (docs/bundles.md).\n"
        if let name { out += "bundle: \(quote(name))\n" }
        if beforeSwitch != nil || afterSwitch != nil {
            out += "hooks:\n"
            if let h = beforeSwitch {
                out += "  before_switch: {run: \(quote(h.run)), timeout: \(h.timeoutSeconds)s}\n"
            }
            if let h = afterSwitch { out += "  after_switch: {run: \(quote(h.run)), timeout: \(h.timeoutSeconds)s}\n" }
        }
        out += "entries:\n"
        for e in entries {
            var fields = [
                "path: \(quote(e.path))", "kind: \(e.kind.rawValue)", "mode: \"\(e.mode)\"", "owner: \(quote(e.owner))",
                "group: \(quote(e.group))",
            ]
            if let sha = e.sha256 { fields.append("sha256: \(sha)") }
            if let target = e.target { fields.append("target: \(quote(target))") }
            out += "  - {" + fields.joined(separator: ", ") + "}\n"
        }
        return out
    }

    func quote(_ s: String) -> String { jsonQuote(s) }
}

/// The YAML form, decoded with locations.
struct ManifestFile: Decodable {
    var bundle: String?
    var hooks: HooksSpec?
    var entries: [Located<EntrySpec>]

    struct HooksSpec: Decodable {
        var beforeSwitch: HookSpec?
        var afterSwitch: HookSpec?
        enum CodingKeys: String, CodingKey {
            case beforeSwitch = "before_switch"
            case afterSwitch = "after_switch"
        }
    }

    struct HookSpec: Decodable {
        var run: String
        var timeout: String?
    }

    struct EntrySpec: Decodable, Sendable {
        var path: String
        var kind: ManifestEntry.Kind
        var mode: FileMode
        var owner: String
        var group: String
        var sha256: String?
        var target: String?
    }
}

extension Manifest {
    /// Parses a manifest; errors name the file, line and column.
    public static func parse(_ bytes: [UInt8], file: String) throws(BundleError) -> Manifest {
        let decoded: ManifestFile
        do {
            decoded = try YAMLDecoder().decode(ManifestFile.self, from: bytes, file: file)
        } catch {
            throw BundleError(error.description)
        }
        func hook(_ spec: ManifestFile.HookSpec?, _ name: String) throws(BundleError) -> Hook? {
            guard let spec else { return nil }
            let text = spec.timeout ?? "60s"
            let digits = text.hasSuffix("s") ? String(text.dropLast()) : text
            guard let seconds = Int(digits), seconds > 0 else {
                throw BundleError("\(file): hooks.\(name).timeout: '\(text)' is not a number of seconds (e.g. 30s)")
            }
            return Hook(run: spec.run, timeoutSeconds: seconds)
        }
        var entries: [ManifestEntry] = []
        var seen = Set<String>()
        for located in decoded.entries {
            let spec = located.value
            let at = located.location.map { "\($0): " } ?? "\(file): "
            if let problem = pathProblem(spec.path) { throw BundleError("\(at)\(spec.path): \(problem)") }
            guard seen.insert(spec.path).inserted else { throw BundleError("\(at)\(spec.path): listed twice") }
            switch spec.kind {
            case .file:
                guard let sha = spec.sha256, sha.count == 64, sha.allSatisfy({ $0.isHexDigit && !$0.isUppercase })
                else {
                    throw BundleError("\(at)\(spec.path): a file needs its sha256 (64 lowercase hex digits)")
                }
            case .symlink:
                guard let target = spec.target else {
                    throw BundleError("\(at)\(spec.path): a symlink needs its target")
                }
                if let problem = symlinkProblem(path: spec.path, target: target) {
                    throw BundleError("\(at)\(spec.path): \(problem)")
                }
            case .dir:
                break
            }
            var entry = ManifestEntry(
                path: spec.path, kind: spec.kind, mode: spec.mode, owner: spec.owner, group: spec.group,
                sha256: spec.sha256,
                target: spec.target)
            entry.location = located.location
            entries.append(entry)
        }
        let paths = Set(entries.map(\.path))
        for entry in entries {
            let parent = (entry.path as NSString).deletingLastPathComponent
            if !parent.isEmpty, !paths.contains(parent) {
                throw BundleError(
                    "\(entry.location.map { "\($0): " } ?? "")\(entry.path): its directory \(parent) is not in the manifest"
                )
            }
        }
        return Manifest(
            name: decoded.bundle, beforeSwitch: try hook(decoded.hooks?.beforeSwitch, "before_switch"),
            afterSwitch: try hook(decoded.hooks?.afterSwitch, "after_switch"), entries: entries)
    }
}

/// Why a bundle path is not acceptable (absolute, `..`, empty parts), or nil.
func pathProblem(_ path: String) -> String? {
    if path.isEmpty { return "empty path" }
    if path.hasPrefix("/") { return "absolute paths are not allowed in a bundle" }
    let parts = path.split(separator: "/", omittingEmptySubsequences: false)
    if parts.contains("..") { return "'..' is not allowed in a bundle path" }
    if parts.contains("") || parts.contains(".") { return "malformed path (empty or '.' component)" }
    if path == Manifest.fileName { return "the manifest does not list itself" }
    return nil
}

/// Why a symlink's target leaves the bundle, or nil.
func symlinkProblem(path: String, target: String) -> String? {
    if target.hasPrefix("/") { return "symlink to an absolute path (\(target)) escapes the bundle" }
    var depth = path.split(separator: "/").count - 1
    for part in target.split(separator: "/") {
        if part == ".." {
            depth -= 1
            if depth < 0 { return "symlink target \(target) escapes the bundle" }
        } else if part != "." {
            depth += 1
        }
    }
    return nil
}

/// A bundle problem, in words naming the path.
public struct BundleError: Error, Sendable, CustomStringConvertible, Equatable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
