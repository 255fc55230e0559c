import FileSystem
import FoundationEssentials
import Glibc
import Text
import YAML

/// Reads a schema directory (every `*.yaml` / `*.yml` file, merged) into a validated ``Schema``.
public struct SchemaLoader: Sendable {
    public var decoder = YAMLDecoder()

    public init() {}

    /// The built-in schema, with the files of `directory` (when given) on top: a file named like a built-in one
    /// replaces it, any other adds its tables and extends the built-in ones (`extend:`).
    public func load(builtInWith directory: String?) throws(SchemaError) -> DatabaseSchema {
        var sources = BuiltInSchema.files.map { (name: "built-in:\($0.name)", bytes: Array(($0.text + "\n").utf8)) }
        if let directory {
            for file in try Self.files(of: directory) {
                let base = lastPathComponent(file.name)
                sources.removeAll { $0.name == "built-in:\(base)" }
                sources.append(file)
            }
        }
        return try load(sources: sources)
    }

    /// Loads and validates every schema file of `directory` alone, reporting all problems at once.
    public func load(directory: String) throws(SchemaError) -> DatabaseSchema {
        try load(sources: try Self.files(of: directory))
    }

    /// The `*.yaml` / `*.yml` files of a schema directory, by path, in name order.
    static func files(of directory: String) throws(SchemaError) -> [(name: String, bytes: [UInt8])] {
        var isDirectory = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory
        else {
            throw SchemaError([
                YAMLError(
                    location: SourceLocation(file: directory, line: 0, column: 0), path: "",
                    message: "cannot read the schema directory: there is no directory \(directory)")
            ])
        }
        let files: [String]
        do {
            files = try FileManager.default.contentsOfDirectory(atPath: directory)
                .filter { $0.hasSuffix(".yaml") || $0.hasSuffix(".yml") }.sorted()
        } catch {
            throw SchemaError([
                YAMLError(
                    location: SourceLocation(file: directory, line: 0, column: 0), path: "",
                    message: "cannot read the schema directory: \(describeFileError(error))")
            ])
        }
        guard !files.isEmpty else {
            throw SchemaError([
                YAMLError(
                    location: SourceLocation(file: directory, line: 0, column: 0), path: "",
                    message: "no schema files (*.yaml) in this directory")
            ])
        }
        var sources: [(name: String, bytes: [UInt8])] = []
        for name in files {
            let path = directory.hasSuffix("/") ? directory + name : directory + "/" + name
            guard let data = FileManager.default.contents(atPath: path) else {
                throw SchemaError([
                    YAMLError(
                        location: SourceLocation(file: path, line: 0, column: 0), path: "", message: "cannot read")
                ])
            }
            sources.append((path, Array(data)))
        }
        return sources
    }

    /// Loads schema files given as (name, contents) pairs.
    public func load(sources: [(name: String, bytes: [UInt8])]) throws(SchemaError) -> DatabaseSchema {
        var issues: [YAMLError] = []
        var files: [(String, SchemaFile)] = []
        for (name, bytes) in sources {
            let (file, errors) = decoder.decodeReportingAll(SchemaFile.self, from: bytes, file: name)
            issues += errors
            if let file { files.append((name, file)) }
        }
        if !issues.isEmpty { throw SchemaError(issues) }
        var builder = SchemaBuilder()
        let schema = builder.build(files)
        if !builder.issues.isEmpty { throw SchemaError(builder.issues) }
        return schema
    }
}

/// Turns decoded files into a ``Schema``, collecting every problem with its location.
struct SchemaBuilder {
    var issues: [YAMLError] = []

    mutating func issue(_ location: SourceLocation?, _ path: String, _ message: String) {
        issues.append(
            YAMLError(
                location: location ?? SourceLocation(file: "<schema>", line: 0, column: 0), path: path, message: message
            ))
    }

    mutating func build(_ files: [(String, SchemaFile)]) -> DatabaseSchema {
        var specs: [(name: String, value: TableSpec, location: SourceLocation?)] = []
        var seen: [String: SourceLocation?] = [:]
        var common: [(name: String, value: ColumnSpec, location: SourceLocation?)] = []
        for (_, file) in files {
            for entry in file.tables?.entries ?? [] {
                if let first = seen[entry.name] {
                    issue(
                        entry.location, "tables.\(entry.name)",
                        "table '\(entry.name)' is already defined at \(first.map(\.description) ?? "another file")"
                            + ((first?.file.hasPrefix("built-in:") ?? false)
                                ? " (add to it under `extend:`, or name your file motherbrain.yaml to replace the built-in schema)"
                                : ""))
                    continue
                }
                seen[entry.name] = entry.location
                specs.append(entry)
            }
            for entry in file.commonColumns?.entries ?? [] {
                if common.contains(where: { $0.name == entry.name }) {
                    issue(
                        entry.location, "common_columns.\(entry.name)", "common column '\(entry.name)' is defined twice"
                    )
                    continue
                }
                common.append(entry)
            }
        }
        // Extensions apply after every file's tables are known, whatever the files' order.
        for (_, file) in files {
            for entry in file.extend?.entries ?? [] {
                guard let i = specs.firstIndex(where: { $0.name == entry.name }) else {
                    issue(
                        entry.location, "extend.\(entry.name)",
                        "no table '\(entry.name)' to extend\(suggestionSuffix(for: entry.name, among: specs.map(\.name)))"
                    )
                    continue
                }
                extend(&specs[i], with: entry.value, path: "extend.\(entry.name)")
            }
        }
        var tables: [Table] = []
        for entry in specs {
            tables.append(buildTable(entry.name, entry.value, entry.location, common: common))
        }
        var schema = DatabaseSchema(tables: tables)
        resolveReferences(&schema)
        if schema.table("schema_history") == nil {
            schema.tables.append(SchemaHistory.table)
        }
        checkNames(schema)
        return schema
    }

    /// Adds an extension's columns, uniques, indexes and checks to a table's spec; a column it already has is
    /// a located error naming where it is defined.
    mutating func extend(
        _ table: inout (name: String, value: TableSpec, location: SourceLocation?), with ext: TableExtension,
        path: String
    ) {
        for column in ext.columns?.entries ?? [] {
            if let existing = table.value.columns.entries.first(where: { $0.name == column.name }) {
                issue(
                    column.location, "\(path).columns.\(column.name)",
                    "table '\(table.name)' already has a column '\(column.name)' (at \(existing.location.map(\.description) ?? "?")): an extension adds columns, it does not redefine them"
                )
                continue
            }
            table.value.columns.entries.append(column)
        }
        table.value.unique = (table.value.unique ?? []) + (ext.unique ?? [])
        table.value.indexes = (table.value.indexes ?? []) + (ext.indexes ?? [])
        table.value.checks = (table.value.checks ?? []) + (ext.checks ?? [])
    }

    mutating func buildTable(
        _ name: String, _ spec: TableSpec, _ location: SourceLocation?,
        common: [(name: String, value: ColumnSpec, location: SourceLocation?)]
    ) -> Table {
        let path = "tables.\(name)"
        var columns: [Column] = []
        for entry in spec.columns.entries {
            columns.append(buildColumn(entry.name, entry.value, entry.location, path: "\(path).columns.\(entry.name)"))
        }
        for entry in common where !columns.contains(where: { $0.name == entry.name }) {
            columns.append(buildColumn(entry.name, entry.value, entry.location, path: "common_columns.\(entry.name)"))
        }
        if columns.isEmpty { issue(location, path, "table '\(name)' has no columns") }
        let key = spec.key?.names ?? []
        if key.isEmpty {
            issue(location, path, "table '\(name)' has no key (add `key: COLUMN` or `key: [COLUMN, …]`)")
        }
        for k in key {
            guard let i = columns.firstIndex(where: { $0.name == k }) else {
                issue(
                    location, "\(path).key",
                    "key column '\(k)' is not a column of '\(name)'\(suggestionSuffix(for: k, among: columns.map(\.name)))"
                )
                continue
            }
            if columns[i].nullable {
                issue(columns[i].location, "\(path).columns.\(k)", "key column '\(k)' cannot be null")
            }
        }
        for column in columns where column.generated {
            if key != [column.name] || column.type != .integer {
                issue(
                    column.location, "\(path).columns.\(column.name)",
                    "only a single integer key column can be generated")
            }
        }
        var uniques: [[String]] = []
        for (i, list) in (spec.unique ?? []).enumerated() {
            for c in list.names where !columns.contains(where: { $0.name == c }) {
                issue(
                    location, "\(path).unique[\(i)]",
                    "unknown column '\(c)'\(suggestionSuffix(for: c, among: columns.map(\.name)))")
            }
            uniques.append(list.names)
        }
        var indexes: [Index] = []
        for (i, located) in (spec.indexes ?? []).enumerated() {
            let spec = located.value
            for c in spec.columns.names where !columns.contains(where: { $0.name == c }) {
                issue(
                    located.location, "\(path).indexes[\(i)]",
                    "unknown column '\(c)'\(suggestionSuffix(for: c, among: columns.map(\.name)))")
            }
            let indexName = spec.name ?? constraintName(name, spec.columns.names, suffix: "idx")
            if indexes.contains(where: { $0.name == indexName }) {
                issue(located.location, "\(path).indexes[\(i)]", "index '\(indexName)' is declared twice")
            }
            indexes.append(
                Index(
                    name: indexName, columns: spec.columns.names, unique: spec.unique ?? false,
                    location: located.location))
        }
        var checks: [Check] = []
        for (i, located) in (spec.checks ?? []).enumerated() {
            let checkName = constraintName(name, [located.value.name], suffix: "check")
            if checks.contains(where: { $0.name == checkName }) {
                issue(located.location, "\(path).checks[\(i)]", "check '\(located.value.name)' is declared twice")
            }
            if located.value.expr.trimmedSpaces().isEmpty {
                issue(located.location, "\(path).checks[\(i)].expr", "a check needs an SQL expression")
            }
            checks.append(Check(name: checkName, expression: located.value.expr, location: located.location))
        }
        return Table(
            name: name, comment: spec.comment, columns: columns, primaryKey: key, uniques: uniques, indexes: indexes,
            checks: checks, renamedFrom: spec.renamedFrom?.names ?? [], location: location)
    }

    mutating func buildColumn(_ name: String, _ spec: ColumnSpec, _ location: SourceLocation?, path: String) -> Column {
        var reference: Reference?
        if let ref = spec.ref {
            let parts = ref.split(separator: ".", maxSplits: 1).map(String.init)
            reference = Reference(
                table: parts[0], column: parts.count > 1 ? parts[1] : nil, onDelete: spec.onDelete ?? .restrict)
            if spec.type != nil {
                issue(
                    location, path, "give either `type` or `ref`: a reference takes the type of the column it refers to"
                )
            }
        } else if spec.onDelete != nil {
            issue(location, "\(path).on_delete", "`on_delete` needs a `ref`")
        }
        if spec.type == nil && reference == nil {
            issue(location, path, "column '\(name)' needs a `type` (or a `ref`)")
        }
        let type = spec.type ?? .text
        var column = Column(
            name: name, type: type, nullable: spec.null ?? false, defaultValue: nil, unique: spec.unique ?? false,
            reference: reference, enumValues: spec.values ?? [], maxLength: spec.maxLength, check: spec.check,
            comment: spec.comment, renamedFrom: spec.renamedFrom?.names ?? [], generated: spec.generated ?? false,
            location: location)
        if type == .enum {
            if column.enumValues.isEmpty { issue(location, path, "an enum column needs `values: [...]`") }
            if Set(column.enumValues).count != column.enumValues.count {
                issue(location, "\(path).values", "enum values must be distinct")
            }
        } else if spec.values != nil {
            issue(location, "\(path).values", "`values` is only for enum columns (this one is \(type.rawValue))")
        }
        if let max = spec.maxLength, type != .text || max <= 0 {
            issue(location, "\(path).max_length", "`max_length` needs a text column and a positive length (got \(max))")
        }
        if reference?.onDelete == .setNull && !column.nullable {
            issue(location, "\(path).on_delete", "`on_delete: set_null` needs a column that can be null (`null: true`)")
        }
        if let node = spec.defaultNode {
            column.defaultValue = defaultValue(
                node, for: column, location: spec.defaultLocation, path: "\(path).default")
        }
        return column
    }

    mutating func defaultValue(_ node: Node, for column: Column, location: SourceLocation?, path: String)
        -> DefaultValue?
    {
        if case .scalar(let s) = node.content, s.isNull { return nil }
        if column.type == .json {
            return .literal(.text(YAMLValue(node).jsonText))
        }
        guard let text = node.scalarText else {
            issue(location, path, "a default for a \(column.type.rawValue) column must be a scalar")
            return nil
        }
        if column.type == .timestamp && text == "now" { return .now }
        do {
            return .literal(try ValueNormalizer.value(text, for: column))
        } catch {
            issue(location, path, "bad default: \(error.message)")
            return nil
        }
    }

    /// Gives each reference its target column and each referencing column the target's type.
    mutating func resolveReferences(_ schema: inout DatabaseSchema) {
        let byName = Dictionary(schema.tables.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        for t in schema.tables.indices {
            for c in schema.tables[t].columns.indices {
                let column = schema.tables[t].columns[c]
                guard var reference = column.reference else { continue }
                let path = "tables.\(schema.tables[t].name).columns.\(column.name).ref"
                guard let target = byName[reference.table] else {
                    issue(
                        column.location, path,
                        "unknown table '\(reference.table)'\(suggestionSuffix(for: reference.table, among: byName.keys.sorted()))"
                    )
                    continue
                }
                if reference.column == nil {
                    guard target.primaryKey.count == 1 else {
                        issue(
                            column.location, path,
                            "table '\(target.name)' has a composite key; refer to one of its unique columns as \(target.name).COLUMN"
                        )
                        continue
                    }
                    reference.column = target.primaryKey[0]
                }
                guard let targetColumn = target.column(reference.column!) else {
                    issue(
                        column.location, path,
                        "table '\(target.name)' has no column '\(reference.column!)'\(suggestionSuffix(for: reference.column!, among: target.columns.map(\.name)))"
                    )
                    continue
                }
                let isKey = target.primaryKey == [targetColumn.name]
                let isUnique = targetColumn.unique || target.uniques.contains([targetColumn.name])
                if !isKey && !isUnique {
                    issue(
                        column.location, path,
                        "'\(target.name).\(targetColumn.name)' is neither the key nor unique, so it cannot be referenced"
                    )
                }
                schema.tables[t].columns[c].reference = reference
                schema.tables[t].columns[c].type = targetColumn.type
                schema.tables[t].columns[c].enumValues = targetColumn.enumValues
                schema.tables[t].columns[c].maxLength = targetColumn.maxLength
            }
        }
    }

    /// Names must work unquoted in both SQLite and PostgreSQL, and renames must not collide.
    mutating func checkNames(_ schema: DatabaseSchema) {
        let tableNames = Set(schema.tables.map(\.name))
        for table in schema.tables {
            let path = "tables.\(table.name)"
            if let problem = identifierProblem(table.name) { issue(table.location, path, "table name \(problem)") }
            for old in table.renamedFrom where tableNames.contains(old) {
                issue(
                    table.location, "\(path).renamed_from",
                    "'\(old)' is still a table of the schema, so it cannot be renamed")
            }
            for column in table.columns {
                if let problem = identifierProblem(column.name) {
                    issue(column.location, "\(path).columns.\(column.name)", "column name \(problem)")
                }
                for old in column.renamedFrom where table.column(old) != nil {
                    issue(
                        column.location, "\(path).columns.\(column.name).renamed_from",
                        "'\(old)' is still a column of '\(table.name)', so it cannot be renamed")
                }
            }
            for index in table.indexes {
                if let problem = identifierProblem(index.name) {
                    issue(index.location, "\(path).indexes", "index name \(problem)")
                }
            }
        }
    }
}

/// Words that PostgreSQL reserves outright (and SQL:2016 with it); SQLite accepts all of them only quoted.
let reservedWords: Set<String> = [
    "all", "analyse", "analyze", "and", "any", "array", "as", "asc", "asymmetric", "both", "case", "cast", "check",
    "collate", "column", "constraint", "create", "current_catalog", "current_date", "current_role", "current_time",
    "current_timestamp", "current_user", "default", "deferrable", "desc", "distinct", "do", "else", "end", "except",
    "false", "fetch", "for", "foreign", "from", "grant", "group", "having", "in", "initially", "intersect", "into",
    "lateral", "leading", "limit", "localtime", "localtimestamp", "not", "null", "offset", "on", "only", "or", "order",
    "placing", "primary", "references", "returning", "select", "session_user", "some", "symmetric", "table", "then",
    "to", "trailing", "true", "union", "unique", "user", "using", "variadic", "when", "where", "window", "with",
    "autoincrement", "index", "drop", "delete", "insert", "update", "values", "transaction", "exists", "between",
    "join", "natural", "is", "isnull", "notnull", "like", "glob", "regexp", "escape", "raise",
]

/// Why `name` is not a portable identifier, or nil when it is.
func identifierProblem(_ name: String) -> String? {
    let bytes = Array(name.utf8)
    guard let first = bytes.first else { return "is empty" }
    guard (first >= 97 && first <= 122) || first == 95,
        bytes.allSatisfy({ ($0 >= 97 && $0 <= 122) || ($0 >= 48 && $0 <= 57) || $0 == 95 })
    else { return "'\(name)' must be lowercase letters, digits and _, starting with a letter or _" }
    if bytes.count > 63 { return "'\(name)' is longer than 63 bytes (PostgreSQL's limit)" }
    if reservedWords.contains(name) { return "'\(name)' is a reserved SQL word" }
    if name.hasPrefix("sqlite_") || name.hasPrefix("pg_") { return "'\(name)' uses a prefix reserved by the database" }
    return nil
}
