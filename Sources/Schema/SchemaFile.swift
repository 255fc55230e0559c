import FoundationEssentials
import Glibc
import YAML

/// The YAML form of one schema file (see docs/schema.md).
struct SchemaFile: Decodable {
    var tables: OrderedEntries<TableSpec>?
    /// Columns added to every table that does not declare a column of the same name.
    var commonColumns: OrderedEntries<ColumnSpec>?
    /// Additions to tables another file defines (the built-in schema, say): columns, uniques, indexes, checks.
    var extend: OrderedEntries<TableExtension>?

    enum CodingKeys: String, CodingKey {
        case tables, extend
        case commonColumns = "common_columns"
    }
}

/// What a file adds to a table defined elsewhere (`extend: {host: {columns: {owner_team: text}}}`).
struct TableExtension: Decodable, Sendable {
    var columns: OrderedEntries<ColumnSpec>?
    var unique: [NameList]?
    var indexes: [Located<IndexSpec>]?
    var checks: [Located<CheckSpec>]?
}

/// A mapping decoded in document order, each entry with its location.
struct OrderedEntries<Value: Decodable & Sendable>: Decodable, Sendable {
    var entries: [(name: String, value: Value, location: SourceLocation?)]

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: NameKey.self)
        var entries: [(String, Value, SourceLocation?)] = []
        for key in container.allKeys {
            do {
                let located = try container.decode(Located<Value>.self, forKey: key)
                entries.append((key.stringValue, located.value, located.location))
            } catch {
                // Reported with the others of the file; the entry is left out.
                if !decoder.skipReporting(error) { throw error }
            }
        }
        self.entries = entries
    }
}

struct NameKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}

/// One name or a list of names: `key: name` or `key: [site, name]`.
struct NameList: Decodable, Sendable {
    var names: [String]

    init(from decoder: any Decoder) throws {
        if case .sequence = decoder.yamlNode?.content {
            names = try [String](from: decoder)
        } else {
            names = [try String(from: decoder)]
        }
    }
}

struct TableSpec: Decodable, Sendable {
    var comment: String?
    var key: NameList?
    var columns: OrderedEntries<ColumnSpec>
    var unique: [NameList]?
    var indexes: [Located<IndexSpec>]?
    var checks: [Located<CheckSpec>]?
    var renamedFrom: NameList?

    enum CodingKeys: String, CodingKey {
        case comment, key, columns, unique, indexes, checks
        case renamedFrom = "renamed_from"
    }
}

struct IndexSpec: Decodable, Sendable {
    var name: String?
    var columns: NameList
    var unique: Bool?
}

struct CheckSpec: Decodable, Sendable {
    var name: String
    var expr: String
}

/// A column: `name: text` (the type alone) or a mapping of its attributes.
struct ColumnSpec: Decodable, Sendable {
    var type: ColumnType?
    var null: Bool?
    var defaultNode: Node?
    var defaultLocation: SourceLocation?
    var unique: Bool?
    var ref: String?
    var onDelete: OnDelete?
    var values: [String]?
    var maxLength: Int?
    var check: String?
    var comment: String?
    var renamedFrom: NameList?
    var generated: Bool?

    enum CodingKeys: String, CodingKey {
        case type, null, `default`, unique, ref, values, check, comment, generated
        case onDelete = "on_delete"
        case maxLength = "max_length"
        case renamedFrom = "renamed_from"
    }

    init(from decoder: any Decoder) throws {
        if case .scalar = decoder.yamlNode?.content {
            type = try ColumnType(from: decoder)
            return
        }
        let c = try decoder.container(keyedBy: CodingKeys.self)
        type = try c.decodeIfPresent(ColumnType.self, forKey: .type)
        null = try c.decodeIfPresent(Bool.self, forKey: .null)
        if c.contains(.default) {
            let located = try c.decode(Located<YAMLValue>.self, forKey: .default)
            defaultLocation = located.location
            defaultNode = try c.superDecoder(forKey: .default).yamlNode
        }
        unique = try c.decodeIfPresent(Bool.self, forKey: .unique)
        ref = try c.decodeIfPresent(String.self, forKey: .ref)
        onDelete = try c.decodeIfPresent(OnDelete.self, forKey: .onDelete)
        values = try c.decodeIfPresent([String].self, forKey: .values)
        maxLength = try c.decodeIfPresent(Int.self, forKey: .maxLength)
        check = try c.decodeIfPresent(String.self, forKey: .check)
        comment = try c.decodeIfPresent(String.self, forKey: .comment)
        renamedFrom = try c.decodeIfPresent(NameList.self, forKey: .renamedFrom)
        generated = try c.decodeIfPresent(Bool.self, forKey: .generated)
    }
}
