import FoundationEssentials
import Glibc
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

    /// Everything the installer applies to a file, as one string.
    var fingerprint: String { "\(kind.rawValue) \(mode) \(owner):\(group) \(sha256 ?? "") \(target ?? "")" }
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
    public let entries: [ManifestEntry]
    private let byPath: [String: Int]

    public init(name: String? = nil, beforeSwitch: Hook? = nil, afterSwitch: Hook? = nil, entries: [ManifestEntry]) {
        self.name = name
        self.beforeSwitch = beforeSwitch
        self.afterSwitch = afterSwitch
        // A parsed manifest is sorted already (it is written sorted): checking costs less than sorting.
        let sorted = zip(entries, entries.dropFirst()).allSatisfy { $0.path < $1.path }
        self.entries = sorted ? entries : entries.sorted { $0.path < $1.path }
        byPath = Dictionary(
            self.entries.enumerated().map { ($0.element.path, $0.offset) }, uniquingKeysWith: { a, _ in a })
    }

    public func entry(_ path: String) -> ManifestEntry? { byPath[path].map { entries[$0] } }

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

extension Manifest {
    /// Parses a manifest; errors name the file, line and column.
    ///
    /// Manifests can list tens of thousands of paths. One in the shape `bundle init` writes (no anchors, aliases,
    /// tags or merge keys) is read straight from libyaml's events; anything else, and every manifest with a
    /// problem, is read through the node tree, which gives the located errors.
    public static func parse(_ bytes: [UInt8], file: String) throws(BundleError) -> Manifest {
        let manifest: Manifest
        if let plain = readPlain(bytes, file: file) {
            manifest = plain
        } else {
            manifest = try parseTree(bytes, file: file)
        }
        if let (entry, problem) = manifest.treeProblem() {
            throw BundleError("\(entry.location.map { "\($0): " } ?? "\(file): ")\(entry.path): \(problem)")
        }
        return manifest
    }

    /// What breaks the rules over the whole tree, or nil: every entry's directory is a directory of the bundle
    /// (never a file or a symlink, so the installer never makes anything beneath a symlink), and every symlink,
    /// followed through the bundle's own symlinks as the kernel would follow it, stays inside the bundle.
    public func treeProblem() -> (ManifestEntry, String)? {
        for entry in entries {
            let (parent, _) = splitPath(entry.path)
            if !parent.isEmpty {
                guard let directory = self.entry(parent) else {
                    return (entry, "its directory \(parent) is not in the manifest")
                }
                guard directory.kind == .dir else {
                    return (entry, "its directory \(parent) is a \(directory.kind.rawValue) in the manifest, not a dir")
                }
            }
            if entry.kind == .symlink, let problem = escape(of: entry) { return (entry, problem) }
        }
        return nil
    }

    /// Why the symlink `link` leads out of the bundle when followed, or nil. Components are resolved one at a time
    /// against the manifest (the release holds nothing else), each symlink met replaced by its target, at most 40
    /// of them (the kernel's own limit); a `..` that would climb above the bundle's root is an escape, and so is
    /// one after a component the bundle does not hold (what is not there may be made later, by someone else).
    func escape(of link: ManifestEntry) -> String? {
        guard let target = link.target else { return "a symlink needs its target" }
        var current = link.path.split(separator: "/").dropLast().map(String.init)
        var pending = Array(target.split(separator: "/", omittingEmptySubsequences: true).reversed().map(String.init))
        if target.hasPrefix("/") { return "symlink to an absolute path (\(target)) escapes the bundle" }
        var hops = 0
        var beyond: String?
        while let part = pending.popLast() {
            if part == "." { continue }
            if part == ".." {
                if let beyond {
                    return "symlink target \(target) climbs out of \(beyond), which the bundle does not hold"
                }
                guard !current.isEmpty else { return "symlink target \(target) escapes the bundle" }
                current.removeLast()
                continue
            }
            current.append(part)
            guard beyond == nil else { continue }
            let path = current.joined(separator: "/")
            guard let found = entry(path) else {
                beyond = path
                continue
            }
            guard found.kind == .symlink else { continue }
            hops += 1
            guard hops <= 40 else { return "symlink target \(target) loops through the bundle's symlinks" }
            guard let next = found.target, !next.hasPrefix("/") else {
                return "symlink target \(target) goes through \(path), which points out of the bundle"
            }
            current.removeLast()
            pending.append(contentsOf: next.split(separator: "/").reversed().map(String.init))
        }
        return nil
    }

    /// Reads a manifest through the node tree, with the same located errors and unknown-key checks the generic
    /// decoder gives.
    static func parseTree(
        _ bytes: [UInt8], file: String, limits: YAMLParser.Limits = .init()
    ) throws(BundleError) -> Manifest {
        let root: Node
        do {
            guard let node = try YAMLParser(limits: limits).parse(bytes, file: file) else {
                throw BundleError("\(file): empty manifest")
            }
            root = node
        } catch let error as YAMLError {
            throw BundleError(error.description)
        } catch let error as BundleError {
            throw error
        } catch {
            throw BundleError("\(file): \(error)")
        }
        func at(_ node: Node) -> String { "\(file):\(node.mark.line):\(node.mark.column)" }
        func pairs(_ node: Node, _ allowed: [String], _ path: String) throws(BundleError) -> [String: Node] {
            guard case .mapping(let pairs) = node.content else {
                throw BundleError("\(at(node)): \(path): expected a mapping, found \(node.kindDescription)")
            }
            var out: [String: Node] = [:]
            for pair in pairs {
                let key = pair.key.scalarText ?? ""
                guard allowed.contains(key) else {
                    throw BundleError(
                        "\(at(pair.key)): \(path.isEmpty ? key : path + "." + key): unknown key '\(key)'\(suggestionSuffix(for: key, among: allowed))"
                    )
                }
                out[key] = pair.value
            }
            return out
        }
        func text(_ node: Node?, _ path: String, required: Bool = true) throws(BundleError) -> String? {
            guard let node else {
                if required { throw BundleError("\(file): \(path): missing") }
                return nil
            }
            guard case .scalar(let s) = node.content, !s.isNull else {
                throw BundleError("\(at(node)): \(path): expected a value, found \(node.kindDescription)")
            }
            return s.text
        }
        let top = try pairs(root, ["bundle", "hooks", "entries"], "")
        func hook(_ node: Node?, _ name: String) throws(BundleError) -> Hook? {
            guard let node else { return nil }
            let fields = try pairs(node, ["run", "timeout"], "hooks.\(name)")
            let run = try text(fields["run"], "hooks.\(name).run")!
            let timeout = try text(fields["timeout"], "hooks.\(name).timeout", required: false) ?? "60s"
            guard let seconds = hookSeconds(timeout) else {
                throw BundleError(
                    "\(at(fields["timeout"]!)): hooks.\(name).timeout: '\(timeout)' is not a number of seconds (e.g. 30s)"
                )
            }
            return Hook(run: run, timeoutSeconds: seconds)
        }
        let hooks =
            try top["hooks"].map { node throws(BundleError) in
                try pairs(node, ["before_switch", "after_switch"], "hooks")
            } ?? [:]
        guard let list = top["entries"], case .sequence(let items) = list.content else {
            throw BundleError("\(file): entries: missing (a list of every path of the bundle)")
        }
        let keys = ["path", "kind", "mode", "owner", "group", "sha256", "target"]
        var entries: [ManifestEntry] = []
        entries.reserveCapacity(items.count)
        var seen = Set<String>()
        for (i, item) in items.enumerated() {
            let entryPath = "entries[\(i)]"
            guard case .mapping(let entryPairs) = item.content else {
                throw BundleError("\(at(item)): \(entryPath): expected a mapping, found \(item.kindDescription)")
            }
            // One pass over the pairs, no dictionary: manifests can be long.
            var pathNode: Node?
            var kindNode: Node?
            var modeNode: Node?
            var ownerNode: Node?
            var groupNode: Node?
            var shaNode: Node?
            var targetNode: Node?
            for pair in entryPairs {
                switch pair.key.scalarText ?? "" {
                case "path": pathNode = pair.value
                case "kind": kindNode = pair.value
                case "mode": modeNode = pair.value
                case "owner": ownerNode = pair.value
                case "group": groupNode = pair.value
                case "sha256": shaNode = pair.value
                case "target": targetNode = pair.value
                case let key:
                    throw BundleError(
                        "\(at(pair.key)): \(entryPath).\(key): unknown key '\(key)'\(suggestionSuffix(for: key, among: keys))"
                    )
                }
            }
            let path = try text(pathNode, "\(entryPath).path")!
            let place = "\(at(item)): \(path)"
            guard let kind = ManifestEntry.Kind(rawValue: try text(kindNode, "\(entryPath).kind")!) else {
                throw BundleError("\(at(kindNode!)): \(entryPath).kind: expected file, dir or symlink")
            }
            let modeText = try text(modeNode, "\(entryPath).mode")!
            guard let bits = octalMode(modeText) else {
                throw BundleError(
                    "\(at(modeNode!)): \(entryPath).mode: '\(modeText)' is not an octal file mode (e.g. \"0644\")")
            }
            let owner = try text(ownerNode, "\(entryPath).owner")!
            let group = try text(groupNode, "\(entryPath).group")!
            let sha = try text(shaNode, "\(entryPath).sha256", required: false)
            let target = try text(targetNode, "\(entryPath).target", required: false)
            if let problem = pathProblem(path) { throw BundleError("\(place): \(problem)") }
            guard seen.insert(path).inserted else { throw BundleError("\(place): listed twice") }
            if let problem = kindProblem(kind, path: path, sha256: sha, target: target) {
                throw BundleError("\(place): \(problem)")
            }
            var entry = ManifestEntry(
                path: path, kind: kind, mode: FileMode(bits), owner: owner, group: group, sha256: sha, target: target)
            entry.location = SourceLocation(file: file, line: item.mark.line, column: item.mark.column)
            entries.append(entry)
        }
        if let entry = entryOutsideListedDirectory(entries, paths: seen), let slash = entry.path.lastIndex(of: "/") {
            throw BundleError(
                "\(entry.location.map { "\($0): " } ?? "")\(entry.path): its directory \(entry.path[..<slash]) is not in the manifest"
            )
        }
        return Manifest(
            name: try text(top["bundle"], "bundle", required: false),
            beforeSwitch: try hook(hooks["before_switch"], "before_switch"),
            afterSwitch: try hook(hooks["after_switch"], "after_switch"), entries: entries)
    }
}

/// A mode written as octal text ("0644"), at most 0o7777.
func octalMode(_ text: String) -> UInt32? {
    guard let bits = UInt32(text, radix: 8), bits <= 0o7777 else { return nil }
    return bits
}

/// A hook timeout ("30s" or "30") in seconds, when positive.
func hookSeconds(_ text: String) -> Int? {
    guard let seconds = Int(text.hasSuffix("s") ? String(text.dropLast()) : text), seconds > 0 else { return nil }
    return seconds
}

/// What an entry of this kind lacks or gets wrong (a file's hash, a symlink's target), or nil.
func kindProblem(_ kind: ManifestEntry.Kind, path: String, sha256: String?, target: String?) -> String? {
    switch kind {
    case .file:
        guard var sha256, sha256.utf8.count == 64,
            sha256.withUTF8({ $0.allSatisfy { ($0 >= 48 && $0 <= 57) || ($0 >= 97 && $0 <= 102) } })
        else { return "a file needs its sha256 (64 lowercase hex digits)" }
    case .symlink:
        guard let target else { return "a symlink needs its target" }
        return symlinkProblem(path: path, target: target)
    case .dir:
        break
    }
    return nil
}

/// The first entry whose directory is not itself listed, or nil.
func entryOutsideListedDirectory(_ entries: [ManifestEntry], paths: Set<String>) -> ManifestEntry? {
    entries.first { entry in
        guard let slash = entry.path.lastIndex(of: "/") else { return false }
        return !paths.contains(String(entry.path[..<slash]))
    }
}

/// Why a bundle path is not acceptable (absolute, `..`, empty parts), or nil.
func pathProblem(_ path: String) -> String? {
    if path.isEmpty { return "empty path" }
    // As bytes: in UTF-8, bytes below 0x20 and 0x7f are only ever those control characters themselves.
    var path = path
    if path.withUTF8({ $0.contains { $0 < 0x20 || $0 == 0x7f } }) {
        return "control characters are not allowed in a bundle path"
    }
    if path.hasPrefix("/") { return "absolute paths are not allowed in a bundle" }
    // Components compared as bytes, without splitting into strings: this runs for every path of a manifest.
    var dotDot = false
    var malformed = false
    var start = path.utf8.startIndex
    while true {
        let end = path.utf8[start...].firstIndex(of: UInt8(ascii: "/")) ?? path.utf8.endIndex
        let part = path.utf8[start..<end]
        if part.isEmpty || part.elementsEqual(".".utf8) { malformed = true }
        if part.elementsEqual("..".utf8) { dotDot = true }
        guard end < path.utf8.endIndex else { break }
        start = path.utf8.index(after: end)
    }
    if dotDot { return "'..' is not allowed in a bundle path" }
    if malformed { return "malformed path (empty or '.' component)" }
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
