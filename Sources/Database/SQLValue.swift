import FoundationEssentials
import Glibc

/// A value passed to or read from a database, the same for every engine.
public enum SQLValue: Sendable, Hashable, CustomStringConvertible {
    case null
    case integer(Int64)
    case real(Double)
    case text(String)

    public var description: String {
        switch self {
        case .null: return "NULL"
        case .integer(let i): return String(i)
        case .real(let d): return String(d)
        case .text(let s): return s
        }
    }

    public var isNull: Bool { self == .null }

    /// The value as text, nil for NULL.
    public var text: String? { isNull ? nil : description }
}

/// One result row: column names and values in select order.
public struct SQLRow: Sendable, Hashable {
    public let columns: [String]
    public let values: [SQLValue]

    public init(columns: [String], values: [SQLValue]) {
        self.columns = columns
        self.values = values
    }

    public subscript(_ name: String) -> SQLValue {
        guard let i = columns.firstIndex(of: name) else { return .null }
        return values[i]
    }

    public subscript(_ index: Int) -> SQLValue { values[index] }

    public func string(_ name: String) -> String? { self[name].text }

    public func double(_ name: String) -> Double? {
        switch self[name] {
        case .integer(let i): return Double(i)
        case .real(let d): return d
        case .text(let s): return Double(s)
        case .null: return nil
        }
    }

    public func int(_ name: String) -> Int64? {
        switch self[name] {
        case .integer(let i): return i
        case .real(let d): return Int64(d)
        case .text(let s): return Int64(s)
        case .null: return nil
        }
    }
}

/// The SQL dialects Redeye speaks.
public enum SQLDialect: String, Sendable, CaseIterable {
    case sqlite
    case postgres
}

/// `"name"`, with embedded quotes doubled: safe in both dialects.
public func quoteIdentifier(_ name: String) -> String {
    "\"" + name.replacing("\"", with: "\"\"") + "\""
}

/// `'text'`, with embedded quotes doubled: safe in both dialects (standard_conforming_strings is on).
public func quoteLiteral(_ text: String) -> String {
    "'" + text.replacing("'", with: "''") + "'"
}

/// The one way a time is written into the inventory: ISO 8601 in UTC, to the second
/// (`2026-12-01T21:03:00Z`), which both engines read as a timestamp. Without a formatter per call.
public func iso8601UTC(_ date: Date) -> String {
    var seconds = time_t(date.timeIntervalSince1970.rounded(.down))
    var parts = tm()
    gmtime_r(&seconds, &parts)
    func two(_ n: Int32) -> String { n < 10 ? "0\(n)" : "\(n)" }
    return "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday))T\(two(parts.tm_hour)):"
        + "\(two(parts.tm_min)):\(two(parts.tm_sec))Z"
}
