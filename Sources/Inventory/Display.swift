import Database
import FoundationEssentials
import Glibc
import Schema
import Text
import YAML

/// How a stored value reads back: by column type, the same from SQLite and PostgreSQL.
public enum DisplayValue: Sendable, Equatable {
    case null
    case number(String)
    case boolean(Bool)
    case text(String)
    /// JSON text, embedded as-is in JSON output.
    case json(String)

    public init(_ value: SQLValue, column: Column?) {
        self.init(value, type: column?.type)
    }

    /// The value as a column of `type` holds it (nil: a column the schema does not know, shown as text).
    public init(_ value: SQLValue, type: ColumnType?) {
        guard !value.isNull else {
            self = .null
            return
        }
        switch type {
        case .integer?, .real?:
            // What the column holds, which after a type change SQLite may keep as text: a number only if it is one.
            switch value {
            case .integer, .real: self = .number(value.description)
            default:
                self =
                    DisplayValue.isJSONNumber(value.description) ? .number(value.description) : .text(value.description)
            }
        case .boolean?:
            switch value {
            case .integer(let i): self = .boolean(i != 0)
            default:
                let text = value.description
                self = .boolean(text == "t" || text == "true" || text == "1")
            }
        case .json?:
            // Both engines keep a JSON column valid (SQLite's json_valid check, PostgreSQL's json type); a value
            // that does not even start like JSON (a column whose type was changed) is shown as text.
            let text = value.description
            let first = text.utf8.first { $0 != UInt8(ascii: " ") && $0 != UInt8(ascii: "\n") }
            self = first.map(Self.jsonStarts.contains) == true ? .json(text) : .text(text)
        case .timestamp?: self = .text((try? ValueNormalizer.timestamp(value.description)) ?? value.description)
        default: self = .text(value.description)
        }
    }

    static let trueBytes = Array("true".utf8)
    static let falseBytes = Array("false".utf8)

    /// The bytes a JSON value can start with.
    static let jsonStarts = Set("{[\"-0123456789tfn".utf8)

    /// Whether `text` is a JSON number as written (so it can be embedded as one).
    static func isJSONNumber(_ text: String) -> Bool {
        text.wholeMatch(of: /-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/) != nil
    }

    /// Whether `text` is one JSON value (so it can be embedded as-is).
    static func isJSON(_ text: String) -> Bool {
        isStrictJSON(text.utf8)
    }

    /// As text for a terminal.
    public var text: String {
        switch self {
        case .null: return "null"
        case .number(let s), .text(let s), .json(let s): return s
        case .boolean(let b): return b ? "true" : "false"
        }
    }

    /// As a JSON value.
    public var json: String {
        var out: [UInt8] = []
        appendJSON(to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// Appends the value as JSON to `out`.
    public func appendJSON(to out: inout [UInt8]) {
        switch self {
        case .null: out += [UInt8(ascii: "n"), UInt8(ascii: "u"), UInt8(ascii: "l"), UInt8(ascii: "l")]
        case .number(var s), .json(var s): s.withUTF8 { out.append(contentsOf: $0) }
        case .boolean(let b): out.append(contentsOf: b ? Self.trueBytes : Self.falseBytes)
        case .text(let s): appendJSONQuoted(s, to: &out)
        }
    }
}

extension Record {
    /// The record's values for display, by column, in schema order.
    public func display(in schema: DatabaseSchema) -> [(column: String, value: DisplayValue)] {
        let table = schema.table(self.table)
        let inOrder = table.map { $0.columns.count == values.count } ?? false
        return values.enumerated().map { i, field in
            let column =
                inOrder && table!.columns[i].name == field.column ? table!.columns[i] : table?.column(field.column)
            return (field.column, DisplayValue(field.value, column: column))
        }
    }

    /// The column type of each value: the table's own by position when the values are in its column order (as
    /// the store reads them), so that no value looks its column up by name; nil for a column the table lacks.
    func typesOfValues(_ table: Table?) -> [ColumnType?] {
        guard let table else { return Array(repeating: nil, count: values.count) }
        let inOrder = values.count == table.columns.count
        return values.indices.map { i in
            inOrder && table.columns[i].name == values[i].column
                ? table.columns[i].type : table.column(values[i].column)?.type
        }
    }

    /// The record as a JSON object on one line (the change log's before and after).
    public func compactJSON(in schema: DatabaseSchema) -> String {
        guard let table = schema.table(self.table) else { return "{}" }
        return compactJSON(table)
    }

    /// The same for a record of `table` (the bulk change log: no lookup per record, none per column when the
    /// values are in the table's column order, as the store reads them).
    func compactJSON(_ table: Table) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(64 * values.count)
        out.append(UInt8(ascii: "{"))
        let types = typesOfValues(table)
        for (i, field) in values.enumerated() {
            if i > 0 { out += [UInt8(ascii: ","), UInt8(ascii: " ")] }
            appendJSONQuoted(field.column, to: &out)
            out += [UInt8(ascii: ":"), UInt8(ascii: " ")]
            // A JSON column's value is valid JSON as stored (the engines' own check): embedded without reparsing.
            let value: DisplayValue =
                types[i] == .json && !field.value.isNull
                ? .json(field.value.description) : DisplayValue(field.value, type: types[i])
            value.appendJSON(to: &out)
        }
        out.append(UInt8(ascii: "}"))
        return String(decoding: out, as: UTF8.self)
    }

    /// The record as a JSON object.
    public func json(in schema: DatabaseSchema, indent: String = "") -> String {
        var out: [UInt8] = []
        let indent = Array(indent.utf8)
        appendJSON(
            to: &out, types: typesOfValues(schema.table(table)), keys: jsonKeys(indent: indent), indent: indent,
            only: nil)
        return String(decoding: out, as: UTF8.self)
    }

    /// Each value's `INDENT  "column": `, for `appendJSON(to:types:keys:indent:only:)`: the same for every record
    /// of one layout, so a list makes them once.
    func jsonKeys(indent: [UInt8]) -> [[UInt8]] {
        values.map { field in
            var key = indent + [UInt8(ascii: " "), UInt8(ascii: " ")]
            appendJSONQuoted(field.column, to: &key)
            return key + [UInt8(ascii: ":"), UInt8(ascii: " ")]
        }
    }

    /// Appends the record as a JSON object, one field per line under `indent`, only the columns in `only` (all
    /// when nil); `types` are the values' column types (`typesOfValues`), `keys` their lines' starts (`jsonKeys`).
    func appendJSON(
        to out: inout [UInt8], types: [ColumnType?], keys: [[UInt8]], indent: [UInt8], only: Set<String>?
    ) {
        out += [UInt8(ascii: "{"), UInt8(ascii: "\n")]
        var first = true
        for (i, field) in values.enumerated() where only?.contains(field.column) ?? true {
            if !first { out += [UInt8(ascii: ","), UInt8(ascii: "\n")] }
            first = false
            out += keys[i]
            DisplayValue(field.value, type: types[i]).appendJSON(to: &out)
        }
        out.append(UInt8(ascii: "\n"))
        out += indent
        out.append(UInt8(ascii: "}"))
    }
}

/// Records as the JSON array `inventory list --json` prints, in one buffer: each object indented by two
/// spaces, only the columns in `only` (all when nil). Each table's columns are resolved once.
public func jsonArray(_ records: [Record], in schema: DatabaseSchema, only: Set<String>? = nil) -> [UInt8] {
    guard !records.isEmpty else { return Array("[]".utf8) }
    var out: [UInt8] = []
    out.reserveCapacity(records.count * 64 * (records.first?.values.count ?? 1))
    out.append(UInt8(ascii: "["))
    // The layout of the records before: their table, and their values' columns and types.
    var table = ""
    var names: [String] = []
    var types: [ColumnType?] = []
    var keys: [[UInt8]] = []
    let indent = [UInt8(ascii: " "), UInt8(ascii: " ")]
    for (n, record) in records.enumerated() {
        if record.table != table || names.count != record.values.count
            || zip(names, record.values).contains(where: { $0 != $1.column })
        {
            table = record.table
            names = record.values.map(\.column)
            types = record.typesOfValues(schema.table(record.table))
            keys = record.jsonKeys(indent: indent)
        }
        if n > 0 { out.append(UInt8(ascii: ",")) }
        out += [UInt8(ascii: "\n"), UInt8(ascii: " "), UInt8(ascii: " ")]
        record.appendJSON(to: &out, types: types, keys: keys, indent: indent, only: only)
    }
    out.append(contentsOf: "\n]".utf8)
    return out
}
