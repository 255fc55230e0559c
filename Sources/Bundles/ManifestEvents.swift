import YAML

extension Manifest {
    /// Reads a manifest of the shape `bundle init` writes straight from libyaml's events, without building a node
    /// tree: for a bundle of 10,000 files this takes a third of the time. Returns nil at the first thing outside
    /// that shape or wrong in it (an anchor, alias, tag, merge key, duplicate or unknown key, a null, a bad path,
    /// mode or hash, a YAML syntax error): `parseTree` then reads the same bytes and names the problem. What it
    /// accepts, it reads exactly as `parseTree` would, through the same checks.
    static func readPlain(_ bytes: [UInt8], file: String, limits: YAMLParser.Limits = .init()) -> Manifest? {
        var reader = PlainManifestReader(
            YAMLEventReader(bytes, file: file), file: file, maxNodes: limits.maxExpandedNodes)
        return try? reader.read()
    }
}

/// Thrown inside `PlainManifestReader` to give up and leave the manifest to the node tree.
private struct NotPlain: Error {}

private struct PlainManifestReader: ~Copyable {
    var events: YAMLEventReader
    let file: String
    /// The node tree's bound on nodes (`YAMLParser.Limits.maxExpandedNodes`), counted the same way here so
    /// that both readers accept the same manifests.
    let maxNodes: Int
    var nodes = 0

    init(_ events: consuming YAMLEventReader, file: String, maxNodes: Int) {
        self.events = events
        self.file = file
        self.maxNodes = maxNodes
    }

    /// Counts a scalar, sequence or mapping as the node tree does.
    mutating func countNode() throws {
        nodes += 1
        if nodes > maxNodes { throw NotPlain() }
    }

    mutating func next(_ kind: YAMLEventReader.Kind) throws {
        try events.next()
        guard events.kind == kind, !events.isDecorated else { throw NotPlain() }
        if kind == .scalar || kind == .mappingStart || kind == .sequenceStart { try countNode() }
    }

    /// Reads the next key of a mapping, which is then the current event (`events.scalarIs`); false at the
    /// mapping's end.
    mutating func key() throws -> Bool {
        try events.next()
        if events.kind == .mappingEnd { return false }
        guard events.kind == .scalar, !events.isDecorated, !events.scalarIs("<<") else { throw NotPlain() }
        try countNode()
        return true
    }

    /// A scalar value that is not null (a null is an error the node tree reports).
    mutating func text() throws -> String {
        try next(.scalar)
        if events.style == .plain {
            let b = events.scalarBytes
            if b.isEmpty || events.scalarIs("~") || events.scalarIs("null") || events.scalarIs("Null")
                || events.scalarIs("NULL")
            {
                throw NotPlain()
            }
        }
        return events.scalarText
    }

    mutating func read() throws -> Manifest {
        try next(.streamStart)
        try next(.documentStart)
        try next(.mappingStart)
        var name: String?
        var hooks: (before: Hook?, after: Hook?)?
        var entries: [ManifestEntry]?
        var paths = Set<String>()
        while try key() {
            if events.scalarIs("bundle") {
                guard name == nil else { throw NotPlain() }
                name = try text()
            } else if events.scalarIs("hooks") {
                guard hooks == nil else { throw NotPlain() }
                hooks = try readHooks()
            } else if events.scalarIs("entries") {
                guard entries == nil else { throw NotPlain() }
                entries = try readEntries(&paths)
            } else {
                throw NotPlain()
            }
        }
        try next(.documentEnd)
        try next(.streamEnd)
        guard let entries, entryOutsideListedDirectory(entries, paths: paths) == nil else { throw NotPlain() }
        return Manifest(name: name, beforeSwitch: hooks?.before, afterSwitch: hooks?.after, entries: entries)
    }

    mutating func readHooks() throws -> (before: Hook?, after: Hook?) {
        try next(.mappingStart)
        var before: Hook?
        var after: Hook?
        while try key() {
            if events.scalarIs("before_switch") {
                guard before == nil else { throw NotPlain() }
                before = try readHook()
            } else if events.scalarIs("after_switch") {
                guard after == nil else { throw NotPlain() }
                after = try readHook()
            } else {
                throw NotPlain()
            }
        }
        return (before, after)
    }

    mutating func readHook() throws -> Hook {
        try next(.mappingStart)
        var run: String?
        var timeout: String?
        while try key() {
            if events.scalarIs("run"), run == nil {
                run = try text()
            } else if events.scalarIs("timeout"), timeout == nil {
                timeout = try text()
            } else {
                throw NotPlain()
            }
        }
        guard let run, let seconds = hookSeconds(timeout ?? "60s") else { throw NotPlain() }
        return Hook(run: run, timeoutSeconds: seconds)
    }

    mutating func readEntries(_ paths: inout Set<String>) throws -> [ManifestEntry] {
        try next(.sequenceStart)
        var entries: [ManifestEntry] = []
        while true {
            try events.next()
            if events.kind == .sequenceEnd { break }
            guard events.kind == .mappingStart, !events.isDecorated else { throw NotPlain() }
            try countNode()
            let mark = events.mark
            var path: String?
            var kind: ManifestEntry.Kind?
            var mode: UInt32?
            var owner: String?
            var group: String?
            var sha256: String?
            var target: String?
            while try key() {
                if events.scalarIs("path"), path == nil {
                    path = try text()
                } else if events.scalarIs("kind"), kind == nil {
                    guard let value = ManifestEntry.Kind(rawValue: try text()) else { throw NotPlain() }
                    kind = value
                } else if events.scalarIs("mode"), mode == nil {
                    guard let value = octalMode(try text()) else { throw NotPlain() }
                    mode = value
                } else if events.scalarIs("owner"), owner == nil {
                    owner = try text()
                } else if events.scalarIs("group"), group == nil {
                    group = try text()
                } else if events.scalarIs("sha256"), sha256 == nil {
                    sha256 = try text()
                } else if events.scalarIs("target"), target == nil {
                    target = try text()
                } else {
                    throw NotPlain()
                }
            }
            guard let path, let kind, let mode, let owner, let group, pathProblem(path) == nil,
                paths.insert(path).inserted, kindProblem(kind, path: path, sha256: sha256, target: target) == nil
            else { throw NotPlain() }
            var entry = ManifestEntry(
                path: path, kind: kind, mode: FileMode(mode), owner: owner, group: group, sha256: sha256,
                target: target)
            entry.location = SourceLocation(file: file, line: mark.line, column: mark.column)
            entries.append(entry)
        }
        return entries
    }

}
