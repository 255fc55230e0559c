import FoundationEssentials
import Glibc
import Text
import YAML

/// Why a value does not fit its column.
public struct ValueError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Checks and normalizes text values by column type, so that what reaches the database is canonical:
/// MAC addresses lowercase with colons, IP addresses in their shortest form, timestamps in UTC ISO 8601.
public enum ValueNormalizer {
    /// `52-54-00-AB-CD-EF`, `5254.00ab.cdef`, `525400abcdef` → `52:54:00:ab:cd:ef`.
    public static func macAddress(_ text: String) throws(ValueError) -> String {
        let hex = text.unicodeScalars.filter { $0 != ":" && $0 != "-" && $0 != "." }
        let separators = text.unicodeScalars.count - hex.count
        guard hex.count == 12, hex.allSatisfy({ $0.properties.isASCIIHexDigit }),
            separators == 0 || separators == 5 || separators == 2
        else {
            throw ValueError("'\(text)' is not a MAC address (expected six hex octets, e.g. 52:54:00:12:34:56)")
        }
        let lower = String(String.UnicodeScalarView(hex)).lowercased()
        var out = ""
        for (i, c) in lower.enumerated() {
            if i > 0 && i % 2 == 0 { out.append(":") }
            out.append(c)
        }
        return out
    }

    /// An IPv4 or IPv6 address, with an optional `/prefix`, in canonical form.
    public static func inetAddress(_ text: String) throws(ValueError) -> String {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        let address = String(parts[0])
        var prefix: Int?
        if parts.count == 2 {
            guard let p = Int(parts[1]), p >= 0 else { throw ValueError("'\(text)' has a malformed prefix length") }
            prefix = p
        }
        var v4 = in_addr()
        var v6 = in6_addr()
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        if inet_pton(AF_INET, address, &v4) == 1 {
            if let prefix, prefix > 32 { throw ValueError("'\(text)': an IPv4 prefix is at most 32") }
            inet_ntop(AF_INET, &v4, &buffer, socklen_t(buffer.count))
        } else if inet_pton(AF_INET6, address, &v6) == 1 {
            if let prefix, prefix > 128 { throw ValueError("'\(text)': an IPv6 prefix is at most 128") }
            inet_ntop(AF_INET6, &v6, &buffer, socklen_t(buffer.count))
        } else {
            throw ValueError("'\(text)' is not an IP address")
        }
        let canonical = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return prefix.map { "\(canonical)/\($0)" } ?? canonical
    }

    /// ISO 8601 (`2026-11-22T21:00:00Z`, `…+02:00`, `2026-11-22 21:00:00`, `2026-11-22`) → UTC `YYYY-MM-DDTHH:MM:SSZ`.
    public static func timestamp(_ text: String) throws(ValueError) -> String {
        let fail = ValueError("'\(text)' is not a timestamp (expected ISO 8601, e.g. 2026-11-22T21:00:00Z)")
        let b = Array(text.utf8)
        func digits(_ at: Int, _ count: Int) -> Int? {
            guard at + count <= b.count else { return nil }
            var v = 0
            for i in at..<(at + count) {
                guard b[i] >= 48 && b[i] <= 57 else { return nil }
                v = v * 10 + Int(b[i] - 48)
            }
            return v
        }
        guard let year = digits(0, 4), b.count >= 10, b[4] == 45, let month = digits(5, 2), b[7] == 45,
            let day = digits(8, 2), (1...12).contains(month), (1...31).contains(day)
        else { throw fail }
        var hour = 0
        var minute = 0
        var second = 0
        var fraction = ""
        var offsetSeconds = 0
        var i = 10
        if i < b.count {
            guard b[i] == 84 || b[i] == 116 || b[i] == 32, let h = digits(i + 1, 2), b.count > i + 3, b[i + 3] == 58,
                let m = digits(i + 4, 2)
            else { throw fail }
            hour = h
            minute = m
            i += 6
            if i < b.count, b[i] == 58 {
                guard let s = digits(i + 1, 2) else { throw fail }
                second = s
                i += 3
            }
            if i < b.count, b[i] == 46 {
                var j = i + 1
                while j < b.count, b[j] >= 48, b[j] <= 57 { j += 1 }
                guard j > i + 1 else { throw fail }
                fraction = String(decoding: b[(i + 1)..<j], as: UTF8.self)
                i = j
            }
            if i < b.count {
                if b[i] == 90 || b[i] == 122 {
                    i += 1
                } else if b[i] == 43 || b[i] == 45 {
                    let sign = b[i] == 45 ? -1 : 1
                    guard let oh = digits(i + 1, 2) else { throw fail }
                    var om = 0
                    i += 3
                    if i < b.count, b[i] == 58 { i += 1 }
                    if i < b.count {
                        guard let m = digits(i, 2) else { throw fail }
                        om = m
                        i += 2
                    }
                    offsetSeconds = sign * (oh * 3600 + om * 60)
                }
            }
            guard i == b.count, hour < 24, minute < 60, second < 61 else { throw fail }
        }
        var t = tm()
        t.tm_year = Int32(year - 1900)
        t.tm_mon = Int32(month - 1)
        t.tm_mday = Int32(day)
        t.tm_hour = Int32(hour)
        t.tm_min = Int32(minute)
        t.tm_sec = Int32(second)
        var epoch = timegm(&t) - offsetSeconds
        var out = tm()
        gmtime_r(&epoch, &out)
        // Reject dates like 2026-02-30 that timegm would roll over.
        var check = tm()
        var local = timegm(&t)
        gmtime_r(&local, &check)
        guard check.tm_mday == Int32(day) else { throw fail }
        let trimmed = String(fraction.reversed().drop { $0 == "0" }.reversed())
        let date =
            zeroPadded(Int(out.tm_year) + 1900, width: 4) + "-" + zeroPadded(Int(out.tm_mon) + 1, width: 2) + "-"
            + zeroPadded(Int(out.tm_mday), width: 2)
        let time =
            zeroPadded(Int(out.tm_hour), width: 2) + ":" + zeroPadded(Int(out.tm_min), width: 2) + ":"
            + zeroPadded(Int(out.tm_sec), width: 2)
        return date + "T" + time + (trimmed.isEmpty ? "" : "." + trimmed) + "Z"
    }

    /// JSON text, checked for validity and kept as written.
    public static func json(_ text: String) throws(ValueError) -> String {
        guard isStrictJSON(text.utf8) else { throw ValueError("'\(text.prefix(60))' is not valid JSON") }
        return text
    }

    public static func boolean(_ text: String) throws(ValueError) -> Bool {
        switch text.lowercased() {
        case "true", "yes", "on", "1", "t": return true
        case "false", "no", "off", "0", "f": return false
        default: throw ValueError("'\(text)' is not a boolean (expected true or false)")
        }
    }

    public static func integer(_ text: String) throws(ValueError) -> Int64 {
        guard let v = Int64(text.filter { $0 != "_" }) else {
            throw ValueError("'\(text)' is not an integer in \(Int64.min)...\(Int64.max)")
        }
        return v
    }

    public static func real(_ text: String) throws(ValueError) -> Double {
        guard let v = Double(text), v.isFinite else { throw ValueError("'\(text)' is not a number") }
        return v
    }

    /// Checks text for a column and returns the value to store.
    public static func value(_ text: String, for column: Column) throws(ValueError) -> SQLLiteral {
        switch column.type {
        case .text:
            if let max = column.maxLength, text.count > max {
                throw ValueError("value is \(text.count) characters long; the limit is \(max)")
            }
            return .text(text)
        case .enum:
            guard column.enumValues.contains(text) else {
                throw ValueError(
                    "'\(text)' is not one of: \(column.enumValues.joined(separator: ", "))"
                        + (closestMatch(to: text, among: column.enumValues).map { " (did you mean '\($0)'?)" } ?? ""))
            }
            return .text(text)
        case .integer: return .integer(try integer(text))
        case .real: return .real(try real(text))
        case .boolean: return .boolean(try boolean(text))
        case .timestamp: return .text(try timestamp(text))
        case .json: return .text(try json(text))
        case .macaddr: return .text(try macAddress(text))
        case .inet: return .text(try inetAddress(text))
        }
    }
}
