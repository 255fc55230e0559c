// libFuzzer targets for every parser of outside input (`make fuzz`). One binary; the target is chosen by
// REDEYE_FUZZ_TARGET. Built outside SwiftPM's test build with -sanitize=fuzzer,address against the library
// modules (scripts/fuzz); internal parsers are reached through @testable imports (-enable-testing).

import Foundation
import Image
import Text

@testable import Boot
@testable import Bundles
@testable import Git
@testable import Inventory
@testable import Net
@testable import Plan
@testable import Schema
@testable import Settings
@testable import Signing
@testable import YAML

/// Fails the run (libFuzzer reports it with the input) when two readers of one format disagree.
func agree(_ ok: Bool, _ what: @autoclosure () -> String) {
    if !ok { fatalError("fuzz: \(what())") }
}

private struct Column: Decodable {
    var type: String?
    var null: Bool?
    var values: [String]?
    var size: Int?
    var extra: YAMLValue?
}

private struct Document: Decodable {
    var tables: [String: [String: Column]]?
    var attrs: YAMLValue?
    var list: [Int]?
}

/// The fuzz targets by name; each takes one input and must neither crash, hang nor leak, whatever it holds.
let targets: [String: ([UInt8]) -> Void] = [
    "json": { bytes in
        if let value = JSONValue(parsing: String(decoding: bytes, as: UTF8.self)) {
            // What is printed reads back as the same value.
            agree(JSONValue(parsing: value.text) == value, "\(value.text) does not read back")
        }
    },
    "selection": { bytes in
        let text = String(decoding: bytes, as: UTF8.self)
        if let selection = try? HostSelection(parsing: text) {
            let host = HostFacts(name: "web01", role: "web", site: "fra1", status: "active", tags: ["canary"])
            // A selection and the same selection with every host excluded afterwards cannot both keep the host.
            let none = try? HostSelection(parsing: text + ":!*")
            agree(!(none?.matches(host) ?? false), "'\(text):!*' kept a host")
            _ = selection.matches(host)
        }
    },
    "settings": { bytes in
        if let file = try? ConfigFile.parse(bytes, path: "/etc/redeye/redeye.yaml", home: "/root") {
            for (setting, entry) in file.values {
                if case .paths(let paths) = entry.value {
                    agree(paths.allSatisfy { $0.hasPrefix("/") }, "relative \(setting)")
                }
            }
        }
    },
    "yaml": { bytes in
        let decoder = YAMLDecoder(parser: YAMLParser(limits: .init(maxExpandedNodes: 100_000, maxDepth: 100)))
        if let document = try? decoder.decode(Document.self, from: bytes, file: "f.yaml") {
            _ = document.attrs?.jsonText
        }
        _ = try? YAMLParser().parseAll(bytes, file: "f.yaml")
    },
    "manifest": { bytes in
        // The event reader (bundle init's shape) and the node tree must read a manifest alike.
        let plain = Manifest.readPlain(bytes, file: "m.yaml")
        let tree = try? Manifest.parseTree(bytes, file: "m.yaml")
        if let plain { agree(tree == plain, "the plain reader and the tree read the manifest differently") }
        if let manifest = try? Manifest.parse(bytes, file: "m.yaml") {
            _ = manifest.yaml
            _ = LeastBit.checkManifest(manifest)
        }
    },
    "manifest-delta": { bytes in
        // First line: the old manifest's length; then the old manifest, then the delta.
        guard let newline = bytes.firstIndex(of: 10),
            let length = Int(String(decoding: bytes[..<newline], as: UTF8.self)), length >= 0,
            newline + 1 + length <= bytes.count
        else { return }
        let old = Array(bytes[(newline + 1)..<(newline + 1 + length)])
        let delta = Array(bytes[(newline + 1 + length)...])
        _ = try? ManifestDelta.apply(delta, to: old)
        // Manifests are whole lines: for such texts a delta made from two must rebuild the second.
        guard old.last.map({ $0 == 10 }) ?? true, delta.last.map({ $0 == 10 }) ?? true else { return }
        let made = ManifestDelta.make(from: old, to: delta)
        agree(
            (try? ManifestDelta.apply(made, to: old)) == delta,
            "a delta made from two texts does not rebuild the second")
    },
    "object-pack": { bytes in _ = try? ObjectPack.index(Data(bytes), file: "objects.pack") },
    "dhclient": { bytes in
        _ = try? LeaseReader(root: "/nonexistent", sysfs: "/nonexistent", code: 224).parseDhclient(
            bytes: bytes, path: "dhclient.leases")
    },
    "networkd": { bytes in
        _ = try? LeaseReader(root: "/nonexistent", sysfs: "/nonexistent", code: 224).parseNetworkd(
            bytes: bytes, path: "2")
        _ = try? decodeHex(String(decoding: bytes, as: UTF8.self), separated: true)
    },
    "dhcpcd": { bytes in
        _ = try? LeaseReader(root: "/nonexistent", sysfs: "/nonexistent", code: 224).parseDhcpcd(
            bytes: bytes, path: "eth0.lease")
    },
    "dns": { bytes in
        guard bytes.count >= 12 else { return }
        _ = try? DNSDiscovery(resolvConf: "/nonexistent").parseTXT(bytes, name: "x.example", server: "127.0.0.1")
    },
    "allowed-signers": { bytes in
        let text = String(decoding: bytes, as: UTF8.self)
        if let signers = try? AllowedSigners.parse(text, file: "allowed_signers"), let key = signers.entries.first?.key
        {
            _ = signers.trust(key, namespace: "git", at: Date(timeIntervalSince1970: 1_800_000_000))
        }
    },
    "sshsig": { bytes in _ = try? SSHSignature(armored: String(decoding: bytes, as: UTF8.self)) },
    // A raw tag object as a repository holds it: the signature block is found as git finds it, what it signs is
    // exactly the bytes before it, and the block is read as an SSH signature and checked.
    "tag": { bytes in
        guard let found = Repository.tagSignature(in: bytes) else { return }
        precondition(
            found.signed.count < bytes.count && bytes.starts(with: found.signed), "signed part is not a prefix")
        if found.format == .ssh, let signature = try? SSHSignature(armored: found.armored) {
            _ = signature.isValid(for: found.signed)
        }
    },
    "ssh-keys": { bytes in
        let text = String(decoding: bytes, as: UTF8.self)
        _ = try? SSHPublicKey(openSSH: text)
        _ = try? SSHPublicKey(blob: bytes)
        _ = try? SSHPrivateKey.parse(text)
    },
    "http": { bytes in
        _ = HTTPClient.isComplete(bytes)
        _ = try? HTTPClient.response(bytes, to: "GET /")
    },
    "csv": { bytes in _ = try? ImportReader.csv(bytes, file: "hosts.csv", table: "host") },
    "import-yaml": { bytes in _ = try? ImportReader.yaml(bytes, file: "hosts.yaml") },
    "where": { bytes in
        let text = String(decoding: bytes, as: UTF8.self)
        _ = try? RecordFilter.parse(text)
        _ = RecordSort.parse(text)
    },
    "schema": { bytes in _ = try? SchemaLoader().load(sources: [(name: "s.yaml", bytes: bytes)]) },
    "modinfo": { bytes in _ = try? KernelModules.modinfo(bytes: bytes, path: "m.ko") },
    "plans": { bytes in
        // A plans tree whose pins.yaml (or role file, or hosts file) is the input.
        let site = Array("bundles: file:///srv/bundles\n".utf8)
        let role = Array("bundle: {repo: app.git, ref: v1}\ninstall: {root: /srv/app}\n".utf8)
        _ = try? PlanLoader().load(
            PlanSource(files: ["site.yaml": site, "roles/app.yaml": role, "pins.yaml": bytes], label: ""))
        _ = try? PlanLoader().load(PlanSource(files: ["site.yaml": site, "roles/app.yaml": bytes], label: ""))
        _ = try? PlanLoader().load(
            PlanSource(files: ["site.yaml": site, "roles/app.yaml": role, "hosts.yaml": bytes], label: ""))
    },
]

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let name = ProcessInfo.processInfo.environment["REDEYE_FUZZ_TARGET"] ?? "yaml"
    guard let target = targets[name] else {
        fatalError("REDEYE_FUZZ_TARGET=\(name): no such target (\(targets.keys.sorted().joined(separator: ", ")))")
    }
    target(Array(UnsafeBufferPointer(start: data, count: size)))
    return 0
}
