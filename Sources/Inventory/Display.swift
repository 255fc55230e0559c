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
        guard !value.isNull else {
            self = .null
            return
        }
        switch column?.type {
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
            default: self = .boolean(["t", "true", "1"].contains(value.description))
            }
        case .json?:
            // Both engines keep a JSON column valid (SQLite's json_valid check, PostgreSQL's json type); a value
            // that does not even start like JSON (a column whose type was changed) is shown as text.
            let text = value.description
            let first = text.utf8.first { $0 != UInt8(ascii: " ") && $0 != UInt8(ascii: "\n") }
            let starts = Set("{[\"-0123456789tfn".utf8)
            self = first.map(starts.contains) == true ? .json(text) : .text(text)
        case .timestamp?: self = .text((try? ValueNormalizer.timestamp(value.description)) ?? value.description)
        default: self = .text(value.description)
        }
    }

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
        switch self {
        case .null: return "null"
        case .number(let s): return s
        case .boolean(let b): return b ? "true" : "false"
        case .text(let s): return jsonQuote(s)
        case .json(let s): return s
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

    /// The record as a JSON object on one line (the change log's before and after).
    public func compactJSON(in schema: DatabaseSchema) -> String {
        guard let table = schema.table(self.table) else { return "{}" }
        return compactJSON(table)
    }

    /// The same for a record of `table` (the bulk change log: no lookup per record, none per column when the
    /// values are in the table's column order, as the store reads them).
    func compactJSON(_ table: Table) -> String {
        let inOrder = values.count == table.columns.count
        var out = "{"
        for (i, field) in values.enumerated() {
            let column =
                inOrder && table.columns[i].name == field.column ? table.columns[i] : table.column(field.column)
            if i > 0 { out += ", " }
            // A JSON column's value is valid JSON as stored (the engines' own check): embedded without reparsing.
            let value: DisplayValue =
                column?.type == .json && !field.value.isNull
                ? .json(field.value.description) : DisplayValue(field.value, column: column)
            out += jsonQuote(field.column) + ": " + value.json
        }
        return out + "}"
    }

    /// The record as a JSON object.
    public func json(in schema: DatabaseSchema, indent: String = "") -> String {
        let fields = display(in: schema).map { "\(indent)  \(jsonQuote($0.column)): \($0.value.json)" }
        return "{\n" + fields.joined(separator: ",\n") + "\n\(indent)}"
    }
}
