import FileSystem
import FoundationEssentials
import Glibc
import YAML

/// `redeye.yaml`: the operator's settings, in sections (`plans:`, `inventory:`, `ssh:`, `deploy:`).
///
/// Who controls it: whoever can write the file or a directory above the working directory. A file found by
/// walking up is used only when it belongs to the user running redeye (or root) and no one else may write
/// it, as git does with `safe.directory`: otherwise a service account's `redeye.yaml` in a directory an
/// operator visits could point deploys at its own known_hosts.
public struct ConfigFile: Sendable {
    public static let fileName = "redeye.yaml"
    /// A settings file is small; anything larger is refused before it is parsed.
    public static let maxBytes = 256 * 1024

    public var path: String
    public var values: [Setting: (value: SettingValue, location: SourceLocation)]

    /// The nearest `redeye.yaml` in `directory` or above it, or nil when there is none.
    public static func find(from directory: String) -> String? {
        var url = URL(fileURLWithPath: directory).standardizedFileURL
        for _ in 0..<256 {
            let candidate = url.appendingPathComponent(fileName).path
            if FileManager.default.fileExists(atPath: candidate) { return candidate }
            let parent = url.deletingLastPathComponent()
            if parent.path == url.path { return nil }
            url = parent
        }
        return nil
    }

    /// Reads and checks a settings file; every problem in it is reported at once, with file, line and column.
    public static func load(path: String, home: String, owner: uid_t = geteuid()) throws(SettingsError) -> ConfigFile {
        // The real path: every directory on it is then checked, and the file is opened by it, so a symlink on
        // the way (in a directory someone else controls) cannot be swapped after the check.
        var link = stat()
        if lstat(path, &link) == 0, link.st_mode & S_IFMT == S_IFLNK {
            throw SettingsError(issues: [
                .init(
                    location: SourceLocation(file: path, line: 0, column: 0),
                    message: "is a symbolic link; a settings file is read only as a regular file")
            ])
        }
        guard let resolved = realpath(path, nil) else {
            throw SettingsError(issues: [
                .init(
                    location: SourceLocation(file: path, line: 0, column: 0),
                    message: "cannot open: \(SystemError.describe(errno))")
            ])
        }
        let real = String(cString: resolved)
        free(resolved)
        try checkDirectories(of: real, shown: path, owner: owner)
        let bytes = try readTrusted(path: real, owner: owner, shown: path)
        var file = try parse(bytes, path: real, home: home)
        file.path = path
        return file
    }

    /// Every directory from the file's up to `/` must belong to this user or root and be writable by no one
    /// else (a sticky directory such as /tmp excepted: there no one renames another's entries); otherwise
    /// whoever may write one could rename a trusted file into place or swap the directory under it.
    static func checkDirectories(of real: String, shown: String, owner: uid_t) throws(SettingsError) {
        var directory = URL(fileURLWithPath: real).deletingLastPathComponent().path
        for _ in 0..<256 {
            var info = stat()
            guard lstat(directory, &info) == 0, info.st_mode & S_IFMT == S_IFDIR else {
                throw SettingsError(issues: [
                    .init(
                        location: SourceLocation(file: shown, line: 0, column: 0), message: "cannot check \(directory)")
                ])
            }
            let writableByOthers = info.st_mode & (S_IWGRP | S_IWOTH) != 0 && info.st_mode & S_ISVTX == 0
            if !(info.st_uid == owner || info.st_uid == 0) || writableByOthers {
                throw SettingsError(issues: [
                    .init(
                        location: SourceLocation(file: shown, line: 0, column: 0),
                        message:
                            "lies in \(directory), which \(writableByOthers ? "others may write (mode \(String(info.st_mode & 0o7777, radix: 8)))" : "belongs to uid \(info.st_uid)"): not trusted (pass --config, or --no-config)"
                    )
                ])
            }
            if directory == "/" { return }
            directory = URL(fileURLWithPath: directory).deletingLastPathComponent().path
        }
    }

    /// Parses settings text (no file system access but the path names the file in errors and anchors
    /// relative paths).
    public static func parse(_ bytes: [UInt8], path: String, home: String) throws(SettingsError) -> ConfigFile {
        let node: Node?
        do {
            node = try YAMLParser(limits: .init(maxExpandedNodes: 10_000, maxDepth: 20)).parse(bytes, file: path)
        } catch {
            throw SettingsError(issues: [.init(location: error.location, message: error.message)])
        }
        var file = ConfigFile(path: path, values: [:])
        guard let node else { return file }
        var issues: [SettingsError.Issue] = []
        func at(_ n: Node) -> SourceLocation { SourceLocation(file: path, line: n.mark.line, column: n.mark.column) }
        guard case .mapping(let sections) = node.content else {
            throw SettingsError(issues: [
                .init(
                    location: at(node), message: "a settings file is a mapping of sections, not \(node.kindDescription)"
                )
            ])
        }
        let base = URL(fileURLWithPath: path).deletingLastPathComponent().path
        let sectionNames = Array(Set(Setting.allCases.map(\.section))).sorted()
        var seen: Set<String> = []
        for section in sections {
            guard let name = section.key.scalarText, sectionNames.contains(name) else {
                let name = section.key.scalarText ?? "?"
                issues.append(
                    .init(
                        location: at(section.key),
                        message: "unknown section '\(name)'" + suggestionSuffix(for: name, among: sectionNames)))
                continue
            }
            guard seen.insert(name).inserted else {
                issues.append(.init(location: at(section.key), message: "section '\(name)' is given twice"))
                continue
            }
            guard case .mapping(let pairs) = section.value.content else {
                if case .scalar(let s) = section.value.content, s.isNull { continue }
                issues.append(
                    .init(
                        location: at(section.value),
                        message: "section '\(name)' must be a mapping, not \(section.value.kindDescription)"))
                continue
            }
            let keys = Setting.allCases.filter { $0.section == name }
            var seenKeys: Set<String> = []
            for pair in pairs {
                let key = pair.key.scalarText ?? "?"
                guard let setting = keys.first(where: { $0.key == key }) else {
                    issues.append(
                        .init(
                            location: at(pair.key),
                            message: "unknown setting '\(name).\(key)'"
                                + suggestionSuffix(for: key, among: keys.map(\.key))))
                    continue
                }
                guard seenKeys.insert(key).inserted else {
                    issues.append(.init(location: at(pair.key), message: "'\(name).\(key)' is given twice"))
                    continue
                }
                let raw: [String]
                switch pair.value.content {
                case .scalar(let s) where s.isNull:
                    continue
                case .scalar(let s):
                    raw = [s.text]
                case .sequence(let items) where setting.kind == .paths:
                    var texts: [String] = []
                    for item in items {
                        guard let text = item.scalarText else {
                            issues.append(
                                .init(
                                    location: at(item),
                                    message: "'\(setting.rawValue)' lists paths, not \(item.kindDescription)"))
                            continue
                        }
                        texts.append(text)
                    }
                    raw = texts
                default:
                    issues.append(
                        .init(
                            location: at(pair.value),
                            message: "'\(setting.rawValue)' must be a scalar, not \(pair.value.kindDescription)"))
                    continue
                }
                do {
                    let value = try setting.check(raw, base: base, home: home)
                    file.values[setting] = (value, at(pair.value))
                } catch {
                    issues.append(.init(location: at(pair.value), message: "'\(setting.rawValue)': \(error.reason)"))
                }
            }
        }
        if !issues.isEmpty { throw SettingsError(issues: issues) }
        return file
    }

    /// The file's bytes, if it is a regular file that only its owner (this user or root) may write.
    static func readTrusted(path: String, owner: uid_t, shown: String? = nil) throws(SettingsError) -> [UInt8] {
        func fail(_ message: String) -> SettingsError {
            SettingsError(issues: [
                .init(location: SourceLocation(file: shown ?? path, line: 0, column: 0), message: message)
            ])
        }
        let fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else {
            let code = errno
            throw fail(
                code == ELOOP
                    ? "is a symbolic link; a settings file is read only as a regular file"
                    : "cannot open: \(SystemError.describe(code))")
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, info.st_mode & S_IFMT == S_IFREG else {
            throw fail("is not a regular file")
        }
        guard info.st_uid == owner || info.st_uid == 0 else {
            throw fail(
                "belongs to uid \(info.st_uid), not to you (uid \(owner)) or root: not trusted (chown it, or pass --config)"
            )
        }
        guard info.st_mode & (S_IWGRP | S_IWOTH) == 0 else {
            throw fail(
                "may be written by others (mode \(String(info.st_mode & 0o777, radix: 8))): not trusted (chmod go-w it)"
            )
        }
        // A second name elsewhere could be a root-owned file linked into a place someone else controls.
        guard info.st_nlink == 1 else { throw fail("has \(info.st_nlink) hard links; a settings file has one name") }
        guard info.st_size <= maxBytes else {
            throw fail("is \(info.st_size) bytes; a settings file is at most \(maxBytes)")
        }
        var bytes = [UInt8](repeating: 0, count: Int(info.st_size))
        var filled = 0
        while filled < bytes.count {
            let n = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress! + filled, $0.count - filled) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { break }
            filled += n
        }
        return Array(bytes[..<filled])
    }
}

/// One or more problems with settings, each at its place.
public struct SettingsError: Error, Sendable, CustomStringConvertible {
    public struct Issue: Sendable {
        public var location: SourceLocation?
        public var source: String?
        public var message: String

        public init(location: SourceLocation? = nil, source: String? = nil, message: String) {
            self.location = location
            self.source = source
            self.message = message
        }
    }

    public var issues: [Issue]

    public var description: String {
        issues.map { issue in
            if let l = issue.location { return l.line > 0 ? "\(l): \(issue.message)" : "\(l.file): \(issue.message)" }
            if let s = issue.source { return "\(s): \(issue.message)" }
            return issue.message
        }.joined(separator: "\n")
    }
}

/// Why a raw value does not fit its setting.
struct SettingRejection: Error {
    var reason: String
}

extension Setting {
    /// Checks raw text against the setting's kind. Relative paths are taken from `base` (the settings
    /// file's directory); without one (a flag, a variable) they stay as given, relative to the working directory.
    func check(_ raw: [String], base: String?, home: String) throws(SettingRejection) -> SettingValue {
        func absolute(_ text: String) throws(SettingRejection) -> String {
            guard !text.isEmpty else { throw SettingRejection(reason: "an empty path") }
            guard !text.utf8.contains(0) else { throw SettingRejection(reason: "a path holds a NUL byte") }
            if text == "~" { return home }
            if text.hasPrefix("~/") { return home + text.dropFirst(1) }
            guard let base, !text.hasPrefix("/") else { return text }
            return URL(fileURLWithPath: text, relativeTo: URL(fileURLWithPath: base, isDirectory: true))
                .standardizedFileURL.path
        }
        switch kind {
        case .paths:
            guard !raw.isEmpty else { throw SettingRejection(reason: "no path given") }
            var paths: [String] = []
            for text in raw { paths.append(try absolute(text)) }
            return .paths(paths)
        case .path:
            return .text(try absolute(raw[0]))
        case .text:
            let text = raw[0]
            guard !text.isEmpty else { throw SettingRejection(reason: "empty") }
            guard !text.contains(where: { $0.isNewline }), !text.utf8.contains(0) else {
                throw SettingRejection(reason: "holds a line break or NUL byte")
            }
            // A relative SQLite file is next to the settings, like every other path in them.
            if self == .inventory, text.hasPrefix("sqlite:") {
                let file = String(text.dropFirst("sqlite:".count))
                if file != ":memory:", !file.isEmpty { return .text("sqlite:" + (try absolute(file))) }
            }
            return .text(text)
        case .port, .seconds:
            guard let n = Int(raw[0]) else { throw SettingRejection(reason: "'\(raw[0])' is not a whole number") }
            let range = kind == .port ? 1...65535 : 1...3600
            guard range.contains(n) else {
                throw SettingRejection(reason: "\(n) is outside \(range.lowerBound)–\(range.upperBound)")
            }
            return .number(n)
        case .choice(let choices):
            guard choices.contains(raw[0]) else {
                throw SettingRejection(
                    reason: "'\(raw[0])' is not one of \(choices.joined(separator: ", "))")
            }
            return .text(raw[0])
        }
    }
}
