import Foundation
import Testing
import YAML

@testable import Bundles

/// A manifest is read from libyaml's events when it has the plain shape `bundle init` writes, and through the
/// node tree otherwise. These tests hold the two readers to the same result, and every bad manifest to one
/// located error.
@Suite struct ManifestParseTests {
    static let sha = String(repeating: "ab", count: 32)

    /// What `bundle init` writes, with a name, both hooks, a symlink and a quoted path.
    static let plain = Manifest(
        name: "web", beforeSwitch: Hook(run: "./bin/check", timeoutSeconds: 30),
        afterSwitch: Hook(run: "systemctl reload web", timeoutSeconds: 60),
        entries: [
            ManifestEntry(path: "bin", kind: .dir, mode: FileMode(0o755), owner: "root", group: "root"),
            ManifestEntry(
                path: "bin/web", kind: .file, mode: FileMode(0o755), owner: "app", group: "app", sha256: sha),
            ManifestEntry(
                path: "bin/a file: \"quoted\"", kind: .file, mode: FileMode(0o640), owner: "app", group: "app",
                sha256: sha),
            ManifestEntry(
                path: "bin/current", kind: .symlink, mode: FileMode(0o777), owner: "root", group: "root",
                target: "web"),
        ]
    ).yaml

    func bothReadings(_ text: String) throws -> (Manifest, Manifest) {
        let bytes = Array(text.utf8)
        return (try Manifest.parse(bytes, file: "m.yaml"), try Manifest.parseTree(bytes, file: "m.yaml"))
    }

    @Test func thePlainShapeIsReadFromEventsExactlyAsTheTreeReadsIt() throws {
        let fromEvents = try #require(Manifest.readPlain(Array(Self.plain.utf8), file: "m.yaml"))
        let fromTree = try Manifest.parseTree(Array(Self.plain.utf8), file: "m.yaml")
        #expect(fromEvents == fromTree)
        #expect(fromEvents.entries.map(\.location) == fromTree.entries.map(\.location))
        #expect(fromEvents.entries.map(\.location?.line) == [7, 8, 9, 10])
        #expect(fromEvents.name == "web" && fromEvents.beforeSwitch?.timeoutSeconds == 30)
        #expect(fromEvents.yaml == Self.plain)
    }

    /// The same manifest in other spellings: block style, quoted keys, a plain timeout, a `!` on a quoted value,
    /// anchors, aliases, merge keys and tags. Each gives the manifest the plain spelling gives.
    @Test(arguments: [
        // block style and quoted keys: still plain
        """
        bundle: web
        entries:
          - "path": bin
            kind: dir
            mode: '0755'
            owner: root
            group: root
        """,
        // an anchor and an alias: left to the tree
        """
        bundle: web
        entries:
          - {path: bin, kind: dir, mode: &m "0755", owner: root, group: root}
          - {path: bin/x, kind: dir, mode: *m, owner: root, group: root}
        """,
        // a merge key: left to the tree
        """
        entries:
          - {<<: {owner: root, group: root}, path: bin, kind: dir, mode: "0755"}
        """,
        // an explicit tag: left to the tree
        """
        entries:
          - {path: !!str bin, kind: dir, mode: "0755", owner: root, group: root}
        hooks: {after_switch: {run: "true", timeout: 5}}
        """,
        // a "!" on a quoted value only says it is not a plain scalar
        """
        entries:
          - {path: ! "bin", kind: dir, mode: "0755", owner: root, group: root}
        """,
    ])
    func otherSpellingsReadTheSame(_ text: String) throws {
        let (parsed, tree) = try bothReadings(text)
        #expect(parsed == tree)
        #expect(parsed.entries.map(\.location) == tree.entries.map(\.location))
        #expect(parsed.entries.first?.path == "bin")
    }

    @Test func decoratedManifestsAreLeftToTheTree() {
        #expect(
            Manifest.readPlain(
                Array("entries:\n  - &a {path: a, kind: dir, mode: \"0755\", owner: r, group: r}\n".utf8), file: "m")
                == nil)
        #expect(
            Manifest.readPlain(
                Array("entries:\n  - {path: !!str a, kind: dir, mode: \"0755\", owner: r, group: r}\n".utf8), file: "m")
                == nil)
        #expect(Manifest.readPlain(Array("entries: []\n".utf8), file: "m") != nil)
    }

    /// Every problem is one error naming the file, line and column, whichever reader met it first.
    @Test(arguments: [
        (
            "entries:\n  - {path: a, kind: dir, mode: \"0755\", owner: root, group: root, colour: red}\n",
            "m.yaml:2:66: entries[0].colour: unknown key 'colour' (expected one of: group, kind, mode, owner, path, sha256, target)"
        ),
        (
            "entries:\n  - {path: a, kind: dir, mode: \"0755\", owner: root, group: root, owner: x}\n",
            "m.yaml:2:66: duplicate key 'owner' (first at line 2, column 40)"
        ),
        (
            "entries:\n  - {path: a, kind: dir, mode: \"0755\", owner: ~, group: root}\n",
            "m.yaml:2:47: entries[0].owner: expected a value, found null"
        ),
        (
            "entries:\n  - {path: a, kind: dir, mode: \"0855\", owner: root, group: root}\n",
            "m.yaml:2:32: entries[0].mode: '0855' is not an octal file mode (e.g. \"0644\")"
        ),
        (
            "entries:\n  - {path: a, kind: folder, mode: \"0755\", owner: root, group: root}\n",
            "m.yaml:2:21: entries[0].kind: expected file, dir or symlink"
        ),
        (
            "entries:\n  - {path: a, kind: file, mode: \"0644\", owner: root, group: root}\n",
            "m.yaml:2:5: a: a file needs its sha256"
        ),
        (
            "entries:\n  - {path: a, kind: dir, mode: \"0755\", owner: root, group: root}\n  - {path: a, kind: dir, mode: \"0755\", owner: root, group: root}\n",
            "m.yaml:3:5: a: listed twice"
        ),
        (
            "entries:\n  - {path: a/b, kind: dir, mode: \"0755\", owner: root, group: root}\n",
            "m.yaml:2:5: a/b: its directory a is not in the manifest"
        ),
        (
            "entries:\n  - {path: a, kind: dir, mode: \"0755\", owner: root, group: root}\n  - {path: a/b, kind: dir, mode: *nothing, owner: root, group: root}\n",
            "m.yaml:3:34: unknown alias '*nothing'"
        ),
        (
            "entries:\n  - {path: a, kind: dir, mode: \"0755\", owner: root, group: root\n",
            "m.yaml:3:1: did not find expected ',' or '}'"
        ),
        ("entries: []\n---\nentries: []\n", "m.yaml:3:1: expected one YAML document, found 2"),
        ("", "m.yaml: empty manifest"),
        (
            "entries: []\nhooks: {before_switch: {run: x, timeout: soon}}\n",
            "m.yaml:2:42: hooks.before_switch.timeout: 'soon' is not a number of seconds"
        ),
        ("entries: []\nhooks: {before_switch: {timeout: 5s}}\n", "m.yaml: hooks.before_switch.run: missing"),
        ("bundle: web\nentrys: []\n", "m.yaml:2:1: entrys: unknown key 'entrys' (did you mean 'entries'?)"),
        ("bundle: web\n", "m.yaml: entries: missing"),
        (
            "entries:\n  - {path: \"a/../../b\", kind: dir, mode: \"0755\", owner: root, group: root}\n",
            "m.yaml:2:5: a/../../b: '..' is not allowed in a bundle path"
        ),
    ])
    func problemsAreNamedWithTheirPlace(_ text: String, _ expected: String) {
        #expect(Manifest.readPlain(Array(text.utf8), file: "m.yaml") == nil)
        do {
            let manifest = try Manifest.parse(Array(text.utf8), file: "m.yaml")
            Issue.record("accepted: \(manifest.entries.map(\.path))")
        } catch {
            #expect(error.message.hasPrefix(expected), "\(error.message)")
        }
    }

    /// Both readers stop at the same node count, so a manifest too big for one is too big for the other.
    @Test func bothReadersBoundTheNodesAlike() throws {
        var text = "entries:\n  - {path: d, kind: dir, mode: \"0755\", owner: root, group: root}\n"
        for i in 0..<2 {
            text += "  - {path: d/f\(i), kind: file, mode: \"0644\", owner: root, group: root, sha256: \(Self.sha)}\n"
        }
        let bytes = Array(text.utf8)
        // The top mapping, its key, the sequence, 3 mappings, and their 10 + 12 + 12 scalars: 40 nodes.
        let enough = YAMLParser.Limits(maxExpandedNodes: 40)
        let tooFew = YAMLParser.Limits(maxExpandedNodes: 39)
        #expect(Manifest.readPlain(bytes, file: "m.yaml", limits: enough)?.entries.count == 3)
        #expect(try Manifest.parseTree(bytes, file: "m.yaml", limits: enough).entries.count == 3)
        #expect(Manifest.readPlain(bytes, file: "m.yaml", limits: tooFew) == nil)
        #expect(throws: BundleError.self) { try Manifest.parseTree(bytes, file: "m.yaml", limits: tooFew) }
    }
}
