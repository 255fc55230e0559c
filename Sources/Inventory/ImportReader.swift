import FoundationEssentials
import Glibc
import YAML

/// One value of a record being imported.
public struct ImportValue: Sendable {
    public var column: String
    /// The text, nil for NULL.
    public var text: String?
    /// True when the file gave a mapping or a list (allowed only for JSON columns).
    public var structured: Bool
    public var location: SourceLocation

    public init(column: String, text: String?, structured: Bool, location: SourceLocation) {
        self.column = column
        self.text = text
        self.structured = structured
        self.location = location
    }
}

public struct ImportRow: Sendable {
    public var values: [ImportValue]
    public var location: SourceLocation

    public init(values: [ImportValue], location: SourceLocation) {
        self.values = values
        self.location = location
    }
}

public struct ImportBatch: Sendable {
    public var table: String
    public var rows: [ImportRow]
    public var location: SourceLocation

    public init(table: String, rows: [ImportRow], location: SourceLocation) {
        self.table = table
        self.rows = rows
        self.location = location
    }
}

/// Reads records to import: YAML (`table: [ {column: value, …}, … ]`) or CSV (a header row of column names).
public enum ImportReader {
    public static func read(path: String, table: String? = nil) throws -> [ImportBatch] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw InventoryError("cannot read '\(path)'")
        }
        let bytes = [UInt8](data)
        if path.hasSuffix(".csv") {
            let name = table ?? URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent
            return [try csv(bytes, file: path, table: name)]
        }
        return try yaml(bytes, file: path)
    }

    public static func yaml(_ bytes: [UInt8], file: String) throws -> [ImportBatch] {
        guard let root = try YAMLParser().parse(bytes, file: file) else { return [] }
        func location(_ node: Node) -> SourceLocation {
            SourceLocation(file: file, line: node.mark.line, column: node.mark.column)
        }
        guard case .mapping(let tables) = root.content else {
            throw InventoryError("expected a mapping of table names to lists of records", location: location(root))
        }
        var batches: [ImportBatch] = []
        for pair in tables {
            let table = pair.key.scalarText ?? ""
            var rows: [ImportRow] = []
            guard case .sequence(let items) = pair.value.content else {
                throw InventoryError("\(table): expected a list of records", location: location(pair.value))
            }
            for (i, item) in items.enumerated() {
                guard case .mapping(let fields) = item.content else {
                    throw InventoryError(
                        "\(table)[\(i)]: expected a record (a mapping of column: value)", location: location(item))
                }
                var values: [ImportValue] = []
                for field in fields {
                    let column = field.key.scalarText ?? ""
                    switch field.value.content {
                    case .scalar(let s):
                        values.append(
                            ImportValue(
                                column: column, text: s.isNull ? nil : s.text, structured: false,
                                location: location(field.value)))
                    default:
                        values.append(
                            ImportValue(
                                column: column, text: YAMLValue(field.value).jsonText, structured: true,
                                location: location(field.value)))
                    }
                }
                rows.append(ImportRow(values: values, location: location(item)))
            }
            batches.append(ImportBatch(table: table, rows: rows, location: location(pair.key)))
        }
        return batches
    }

    /// RFC 4180 CSV: quoted fields may hold commas, quotes ("") and newlines; an empty unquoted field is NULL.
    public static func csv(_ bytes: [UInt8], file: String, table: String) throws -> ImportBatch {
        var records: [(line: Int, fields: [(text: String?, column: Int)])] = []
        var fields: [(String?, Int)] = []
        var field: [UInt8] = []
        var quoted = false
        var wasQuoted = false
        var line = 1
        var recordLine = 1
        var fieldColumn = 1
        var column = 1
        var i = 0
        func decode(_ raw: [UInt8]) throws -> String {
            guard let s = String(validating: raw, as: UTF8.self) else {
                throw InventoryError(
                    "not valid UTF-8 text", location: SourceLocation(file: file, line: line, column: fieldColumn))
            }
            return s
        }
        func endField() throws {
            fields.append((wasQuoted || !field.isEmpty ? try decode(field) : nil, fieldColumn))
            field.removeAll(keepingCapacity: true)
            wasQuoted = false
        }
        func endRecord() throws {
            try endField()
            if !(fields.count == 1 && fields[0].0 == nil) { records.append((recordLine, fields)) }
            fields.removeAll(keepingCapacity: true)
        }
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { i = 3 }
        while i < bytes.count {
            let b = bytes[i]
            if quoted {
                if b == 34 {
                    if i + 1 < bytes.count && bytes[i + 1] == 34 {
                        field.append(34)
                        i += 1
                        column += 1
                    } else {
                        quoted = false
                    }
                } else {
                    if b == 10 {
                        line += 1
                        column = 0
                    }
                    field.append(b)
                }
            } else if b == 34 && field.isEmpty && !wasQuoted {
                quoted = true
                wasQuoted = true
            } else if b == 44 {
                try endField()
                fieldColumn = column + 1
            } else if b == 10 || b == 13 {
                if b == 13 && i + 1 < bytes.count && bytes[i + 1] == 10 { i += 1 }
                try endRecord()
                line += 1
                column = 0
                recordLine = line
                fieldColumn = 1
            } else {
                field.append(b)
            }
            i += 1
            column += 1
        }
        if quoted {
            throw InventoryError(
                "a quoted field is not closed",
                location: SourceLocation(file: file, line: recordLine, column: fieldColumn))
        }
        if !field.isEmpty || !fields.isEmpty || wasQuoted { try endRecord() }
        guard let header = records.first else {
            throw InventoryError(
                "empty CSV file: the first line must name the columns",
                location: SourceLocation(file: file, line: 1, column: 1))
        }
        let names = header.fields.map { $0.text ?? "" }
        var rows: [ImportRow] = []
        rows.reserveCapacity(records.count - 1)
        for record in records.dropFirst() {
            let location = SourceLocation(file: file, line: record.line, column: 1)
            guard record.fields.count == names.count else {
                throw InventoryError(
                    "\(record.fields.count) fields, but the header names \(names.count) columns", location: location)
            }
            var values: [ImportValue] = []
            values.reserveCapacity(names.count)
            for (name, f) in zip(names, record.fields) {
                values.append(
                    ImportValue(
                        column: name, text: f.text, structured: false,
                        location: SourceLocation(file: file, line: record.line, column: f.column)))
            }
            rows.append(ImportRow(values: values, location: location))
        }
        return ImportBatch(table: table, rows: rows, location: SourceLocation(file: file, line: 1, column: 1))
    }
}
