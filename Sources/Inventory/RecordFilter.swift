import Database
import Schema

/// One condition of `inventory list --where`, as written: `site=fra1`, `not_after<2026-06-01`, `name~web*`,
/// `status in active,failed`, `rack is null`, `attrs.tier>=2`. Values are typed by their column when the query is
/// built, as `inventory put` types them.
public struct RecordFilter: Sendable, Equatable {
    public enum Operator: String, Sendable, CaseIterable {
        case equal = "=", notEqual = "!=", less = "<", lessOrEqual = "<=", greater = ">", greaterOrEqual = ">="
        case glob = "~", notGlob = "!~"
        case `in`, isNull = "is null", isNotNull = "is not null"
    }

    /// A column, or a JSON column and the path into it (`attrs.tier` → `attrs`, `["tier"]`).
    public var column: String
    public var path: [String]
    public var op: Operator
    public var values: [String]

    public init(column: String, path: [String] = [], op: Operator, values: [String]) {
        self.column = column
        self.path = path
        self.op = op
        self.values = values
    }

    /// Parses one condition; the error says what the forms are.
    public static func parse(_ text: String) throws(InventoryError) -> RecordFilter {
        let forms =
            "expected COLUMN=VALUE, !=, <, <=, >, >=, ~GLOB, !~GLOB, 'COLUMN in A,B', 'COLUMN is null', 'COLUMN is not null' (COLUMN may be JSON_COLUMN.KEY)"
        let trimmed = text.trimmingSpaces
        var name = Substring(trimmed.prefix { $0.isLetter || $0.isNumber || $0 == "_" || $0 == "." })
        var rest = trimmed.dropFirst(name.count)
        guard !name.isEmpty, !name.hasPrefix("."), !name.hasSuffix("."), !name.contains("..") else {
            throw InventoryError("--where '\(text)': no column name; \(forms)")
        }
        let lowered = String(rest).lowercased()
        let op: Operator
        var values: [String] = []
        if lowered.trimmingSpaces == "is null" {
            op = .isNull
        } else if lowered.trimmingSpaces == "is not null" {
            op = .isNotNull
        } else if lowered.hasPrefix(" in ") {
            op = .in
            values = rest.dropFirst(4).split(separator: ",", omittingEmptySubsequences: false).map {
                String($0).trimmingSpaces
            }
            if values.contains(where: \.isEmpty) {
                throw InventoryError("--where '\(text)': an empty value in the list")
            }
        } else {
            // Longest operator first: `<=` before `<`, `!~` before `!=`'s prefix.
            let symbols: [Operator] = [
                .lessOrEqual, .greaterOrEqual, .notEqual, .notGlob, .equal, .less, .greater, .glob,
            ]
            guard let found = symbols.first(where: { rest.hasPrefix($0.rawValue) }) else {
                throw InventoryError("--where '\(text)': \(forms)")
            }
            op = found
            rest = rest.dropFirst(found.rawValue.count)
            values = [String(rest)]
        }
        let parts = name.split(separator: ".").map(String.init)
        name = Substring(parts[0])
        return RecordFilter(column: String(name), path: Array(parts.dropFirst()), op: op, values: values)
    }
}

extension String {
    var trimmingSpaces: String {
        var s = Substring(self)
        while s.first == " " { s.removeFirst() }
        while s.last == " " { s.removeLast() }
        return String(s)
    }
}

/// A sort key of `inventory list --sort`: a column, descending when written `-column`.
public struct RecordSort: Sendable, Equatable {
    public var column: String
    public var descending: Bool

    public init(column: String, descending: Bool) {
        self.column = column
        self.descending = descending
    }

    /// `name,-vcpus`.
    public static func parse(_ text: String) -> [RecordSort] {
        text.split(separator: ",").map { part in
            let p = String(part).trimmingSpaces
            return p.hasPrefix("-")
                ? RecordSort(column: String(p.dropFirst()), descending: true) : RecordSort(column: p, descending: false)
        }
    }
}

extension RecordStore {
    /// Records of a table matching every filter, in `sort` order (then key order), at most `limit`.
    public func list(
        _ tableName: String, filters: [RecordFilter], sort: [RecordSort] = [], limit: Int? = nil
    ) throws -> [Record] {
        let table = try table(tableName)
        var clauses: [String] = []
        var parameters: [SQLValue] = []
        func parameter(_ v: SQLValue) -> String {
            parameters.append(v)
            return "$\(parameters.count)"
        }
        for filter in filters {
            let column = try column(filter.column, of: table)
            let shown = ([filter.column] + filter.path).joined(separator: ".")
            var target = q(column.name)
            var typed: (String) throws -> SQLValue = { text in
                try value(text, for: Column(nullableCopyOf: column), in: table)
            }
            if !filter.path.isEmpty {
                guard column.type == .json else {
                    throw InventoryError(
                        "--where \(shown): \(table.name).\(column.name) is not a JSON column, so it has no keys")
                }
                for key in filter.path where !key.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) {
                    throw InventoryError("--where \(shown): JSON keys are letters, digits and _")
                }
                let numeric =
                    filter.values.allSatisfy { Double($0) != nil }
                    && [.less, .lessOrEqual, .greater, .greaterOrEqual].contains(filter.op)
                switch db.dialect {
                case .sqlite:
                    target = "json_extract(\(target), '$.\(filter.path.joined(separator: "."))')"
                    if !numeric { target = "CAST(\(target) AS TEXT)" }
                case .postgres:
                    let path = "'{\(filter.path.joined(separator: ","))}'"
                    target =
                        numeric
                        ? "(CASE WHEN jsonb_typeof(\(q(column.name))::jsonb #> \(path)) = 'number' THEN (\(q(column.name))::jsonb #>> \(path))::numeric END)"
                        : "(\(q(column.name))::jsonb #>> \(path))"
                }
                typed = { text in numeric ? .real(Double(text)!) : .text(text) }
            }
            func one() throws -> SQLValue {
                do {
                    return try typed(filter.values[0])
                } catch {
                    throw InventoryError("--where \(shown)\(filter.op.rawValue)\(filter.values[0]): \(error)")
                }
            }
            switch filter.op {
            case .isNull: clauses.append("\(target) IS NULL")
            case .isNotNull: clauses.append("\(target) IS NOT NULL")
            case .equal where filter.values[0].isEmpty: clauses.append("\(target) IS NULL")
            case .notEqual where filter.values[0].isEmpty: clauses.append("\(target) IS NOT NULL")
            case .equal, .notEqual, .less, .lessOrEqual, .greater, .greaterOrEqual:
                let sqlOp = filter.op == .notEqual ? "<>" : filter.op.rawValue
                let value = try one()
                // A record whose value is NULL is not "different from" a value: SQL's NULL <> x is unknown.
                clauses.append(
                    filter.op == .notEqual
                        ? "(\(target) IS NULL OR \(target) <> \(parameter(value)))"
                        : "\(target) \(sqlOp) \(parameter(value))")
            case .glob, .notGlob:
                let pattern = filter.values[0]
                let negated = filter.op == .notGlob ? "NOT " : ""
                // A text column is matched as it is, so that an index on it serves a prefix.
                let text = filter.path.isEmpty && column.type == .text ? target : "CAST(\(target) AS TEXT)"
                switch db.dialect {
                case .sqlite: clauses.append("\(negated)\(text) GLOB \(parameter(.text(pattern)))")
                case .postgres:
                    clauses.append(
                        "\(negated)\(text) LIKE \(parameter(.text(Self.likePattern(glob: pattern)))) ESCAPE '\\'"
                    )
                }
            case .in:
                var placeholders: [String] = []
                for text in filter.values {
                    do {
                        placeholders.append(parameter(try typed(text)))
                    } catch {
                        throw InventoryError("--where \(shown) in …: '\(text)': \(error)")
                    }
                }
                clauses.append("\(target) IN (\(placeholders.joined(separator: ", ")))")
            }
        }
        var order: [String] = []
        for key in sort {
            let column = try column(key.column, of: table)
            // Nulls last in both directions, the same on both engines.
            order.append(q(column.name) + (key.descending ? " DESC" : " ASC") + " NULLS LAST")
        }
        order += table.primaryKey.map(q)
        var sql = "SELECT \(selectList(table)) FROM \(q(table.name))"
        if !clauses.isEmpty { sql += " WHERE " + clauses.joined(separator: " AND ") }
        sql += " ORDER BY " + order.joined(separator: ", ")
        if let limit { sql += " LIMIT \(max(0, limit))" }
        return try db.query(sql, parameters).map { record(table, $0) }
    }

    /// A glob (`*`, `?`) as a LIKE pattern, with LIKE's own wildcards escaped.
    static func likePattern(glob: String) -> String {
        var out = ""
        for c in glob {
            switch c {
            case "*": out += "%"
            case "?": out += "_"
            case "%", "_", "\\": out += "\\" + String(c)
            default: out.append(c)
            }
        }
        return out
    }
}
