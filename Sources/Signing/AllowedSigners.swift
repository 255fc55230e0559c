import FoundationEssentials
import Glibc
import Text

/// The keys trusted to sign, in git's / ssh-keygen's allowed-signers format:
/// `principals [options] keytype base64 [comment]`, options `namespaces="git,…"`,
/// `valid-after="YYYYMMDD[HHMM[SS]][Z]"`, `valid-before=…` (and `cert-authority`, which Redeye refuses).
public struct AllowedSigners: Sendable {
    public struct Entry: Sendable {
        public var principals: [String]
        public var namespaces: [String]?
        public var validAfter: Date?
        public var validBefore: Date?
        public var key: SSHPublicKey
        public var line: Int
    }

    public var entries: [Entry]
    public var file: String
    /// Lines that could not be read (`file:line: why`) and were skipped: a line Redeye cannot read trusts no key,
    /// and does not stop the other lines from being used.
    public var skipped: [String] = []

    public static func load(path: String) throws(SigningError) -> AllowedSigners {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw SigningError("cannot read the allowed-signers file '\(path)'")
        }
        return try parse(String(decoding: data, as: UTF8.self), file: path)
    }

    public static func parse(_ text: String, file: String) throws(SigningError) -> AllowedSigners {
        var entries: [Entry] = []
        var skipped: [String] = []
        for (index, rawLine) in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).enumerated() {
            let line = rawLine.trimmed(in: " \t\r")
            if line.isEmpty || line.hasPrefix("#") { continue }
            do {
                entries.append(try parseLine(line, number: index + 1))
            } catch {
                skipped.append("\(file):\(index + 1): \(error.message)")
            }
        }
        return AllowedSigners(entries: entries, file: file, skipped: skipped)
    }

    static func parseLine(_ line: String, number: Int) throws(SigningError) -> Entry {
        var fields = splitFields(line)
        guard fields.count >= 3 else { throw SigningError("expected 'principals [options] keytype key'") }
        let principals = fields.removeFirst().split(separator: ",").map(String.init)
        var namespaces: [String]?
        var after: Date?
        var before: Date?
        if !isKeyType(fields[0]) {
            for option in splitOptions(fields.removeFirst()) {
                let parts = option.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map(
                    String.init)
                guard let first = parts.first, !first.isEmpty else { throw SigningError("an empty option") }
                let name = first.lowercased()
                let value = parts.count > 1 ? parts[1].trimmed(in: "\"") : ""
                switch name {
                case "namespaces": namespaces = value.split(separator: ",").map(String.init)
                case "valid-after": after = try parseTime(value)
                case "valid-before": before = try parseTime(value)
                case "cert-authority": throw SigningError("cert-authority entries are not supported")
                default: throw SigningError("unknown option '\(name)'")
                }
            }
        }
        guard fields.count >= 2 else { throw SigningError("missing key") }
        let key = try SSHPublicKey(openSSH: fields[0] + " " + fields[1])
        return Entry(
            principals: principals, namespaces: namespaces, validAfter: after, validBefore: before, key: key,
            line: number)
    }

    static func isKeyType(_ field: String) -> Bool {
        field.hasPrefix("ssh-") || field.hasPrefix("ecdsa-") || field.hasPrefix("sk-") || field.hasPrefix("rsa-")
    }

    /// Splits on blanks outside double quotes.
    static func splitFields(_ line: String) -> [String] {
        var fields: [String] = []
        var current = ""
        var quoted = false
        for c in line {
            if c == "\"" { quoted.toggle() }
            if (c == " " || c == "\t") && !quoted {
                if !current.isEmpty { fields.append(current) }
                current = ""
            } else {
                current.append(c)
            }
        }
        if !current.isEmpty { fields.append(current) }
        return fields
    }

    static func splitOptions(_ field: String) -> [String] {
        var out: [String] = []
        var current = ""
        var quoted = false
        for c in field {
            if c == "\"" { quoted.toggle() }
            if c == "," && !quoted {
                out.append(current)
                current = ""
            } else {
                current.append(c)
            }
        }
        if !current.isEmpty { out.append(current) }
        return out
    }

    /// `YYYYMMDD[HHMM[SS]][Z]`; without Z, local time (as ssh-keygen reads it).
    static func parseTime(_ value: String) throws(SigningError) -> Date {
        var text = value
        var utc = false
        if text.hasSuffix("Z") || text.hasSuffix("z") {
            utc = true
            text.removeLast()
        }
        guard [8, 12, 14].contains(text.count), text.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }) else {
            throw SigningError("bad time '\(value)' (expected YYYYMMDD[HHMM[SS]][Z])")
        }
        let padded = text + String(repeating: "0", count: 14 - text.count)
        let d = Array(padded).map { Int(String($0))! }
        var components = DateComponents()
        components.year = d[0] * 1000 + d[1] * 100 + d[2] * 10 + d[3]
        components.month = d[4] * 10 + d[5]
        components.day = d[6] * 10 + d[7]
        components.hour = d[8] * 10 + d[9]
        components.minute = d[10] * 10 + d[11]
        components.second = d[12] * 10 + d[13]
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = utc ? TimeZone(identifier: "UTC")! : .current
        guard let date = calendar.date(from: components) else { throw SigningError("bad time '\(value)'") }
        return date
    }

    /// The entry that trusts `key` for `namespace` at `time`, or the reason none does.
    public func trust(_ key: SSHPublicKey, namespace: String, at time: Date) -> Result<Entry, SigningError> {
        let candidates = entries.filter { $0.key == key }
        guard !candidates.isEmpty else {
            let note = skipped.isEmpty ? "" : " (lines skipped as unreadable: \(skipped.joined(separator: "; ")))"
            return .failure(SigningError("signed by \(key), which is not in \(file)\(note)"))
        }
        var reasons: [String] = []
        for entry in candidates {
            if let namespaces = entry.namespaces, !namespaces.contains(where: { matches(pattern: $0, namespace) }) {
                reasons.append(
                    "\(file):\(entry.line) allows this key only for namespaces \(namespaces.joined(separator: ",")), not \(namespace)"
                )
                continue
            }
            if let after = entry.validAfter, time < after {
                reasons.append("\(file):\(entry.line): the key is not valid before \(after)")
                continue
            }
            if let before = entry.validBefore, time >= before {
                reasons.append("\(file):\(entry.line): the key expired at \(before)")
                continue
            }
            return .success(entry)
        }
        return .failure(SigningError(reasons.joined(separator: "; ")))
    }

    /// ssh-style wildcard match (`*`, `?`).
    func matches(pattern: String, _ text: String) -> Bool {
        let p = Array(pattern)
        let t = Array(text)
        func go(_ i: Int, _ j: Int) -> Bool {
            if i == p.count { return j == t.count }
            if p[i] == "*" { return go(i + 1, j) || (j < t.count && go(i, j + 1)) }
            if j < t.count && (p[i] == "?" || p[i] == t[j]) { return go(i + 1, j + 1) }
            return false
        }
        return go(0, 0)
    }
}
