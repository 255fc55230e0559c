import Database

/// A table as the database itself describes it, after the engine normalized what it was given.
public struct LiveTable: Sendable, Hashable {
    public struct Column: Sendable, Hashable {
        public var name: String
        /// The engine's type name, lowercased: `text`, `bigint`, `macaddr`, …
        public var type: String
        public var notNull: Bool
        /// The default as the engine prints it, or nil.
        public var defaultSQL: String?
        public var identity: Bool
    }

    public struct ForeignKey: Sendable, Hashable {
        public var name: String?
        public var columns: [String]
        public var table: String
        public var referencedColumns: [String]
        public var onDelete: String

        var shape: [String] { columns + ["->", table] + referencedColumns + [onDelete] }
    }

    public struct Unique: Sendable, Hashable {
        public var name: String?
        public var columns: [String]
    }

    public struct Index: Sendable, Hashable {
        public var name: String
        public var columns: [String]
        public var unique: Bool
    }

    public var name: String
    public var columns: [Column]
    public var primaryKey: [String]
    public var primaryKeyName: String?
    public var foreignKeys: [ForeignKey]
    public var uniques: [Unique]
    public var indexes: [Index]
    /// Named CHECK constraints: name → expression as the engine keeps it.
    public var checks: [String: String]

    public func column(_ name: String) -> Column? { columns.first { $0.name == name } }
}

/// Reads the tables of a live database: SQLite through its schema table and pragmas, PostgreSQL
/// through its catalogs (the current schema only).
public enum Introspector {
    public static func tables(_ db: any SQLConnection) throws(DatabaseError) -> [String: LiveTable] {
        switch db.dialect {
        case .sqlite: return try sqliteTables(db)
        case .postgres: return try postgresTables(db)
        }
    }

    static func sqliteTables(_ db: any SQLConnection) throws(DatabaseError) -> [String: LiveTable] {
        var result: [String: LiveTable] = [:]
        let tables = try db.query(
            "SELECT name, sql FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'")
        for row in tables {
            guard let name = row.string("name") else { continue }
            let sql = row.string("sql") ?? ""
            var table = LiveTable(
                name: name, columns: [], primaryKey: [], primaryKeyName: nil, foreignKeys: [], uniques: [], indexes: [],
                checks: checkConstraints(inCreateStatement: sql))
            var keyed: [(Int64, String)] = []
            for c in try db.query(
                "SELECT name, type, \"notnull\" AS nn, dflt_value, pk FROM pragma_table_info($1)", [.text(name)])
            {
                let columnName = c.string("name") ?? ""
                let type = (c.string("type") ?? "").lowercased()
                table.columns.append(
                    .init(
                        name: columnName, type: type, notNull: c.int("nn") == 1, defaultSQL: c.string("dflt_value"),
                        identity: false))
                if let pk = c.int("pk"), pk > 0 { keyed.append((pk, columnName)) }
            }
            table.primaryKey = keyed.sorted { $0.0 < $1.0 }.map(\.1)
            if table.primaryKey.count == 1, let i = table.columns.firstIndex(where: { $0.name == table.primaryKey[0] }),
                table.columns[i].type == "integer"
            {
                table.columns[i].identity = true  // a rowid alias: SQLite numbers it
            }
            var keys: [Int64: LiveTable.ForeignKey] = [:]
            for f in try db.query(
                "SELECT id, seq, \"table\" AS t, \"from\" AS f, \"to\" AS tt, on_delete FROM pragma_foreign_key_list($1) ORDER BY id, seq",
                [.text(name)])
            {
                let id = f.int("id") ?? 0
                var key =
                    keys[id]
                    ?? .init(
                        name: nil, columns: [], table: f.string("t") ?? "", referencedColumns: [],
                        onDelete: (f.string("on_delete") ?? "NO ACTION").uppercased())
                key.columns.append(f.string("f") ?? "")
                key.referencedColumns.append(f.string("tt") ?? "")
                keys[id] = key
            }
            table.foreignKeys = keys.keys.sorted().map { keys[$0]! }
            for i in try db.query("SELECT name, \"unique\" AS u, origin FROM pragma_index_list($1)", [.text(name)]) {
                let indexName = i.string("name") ?? ""
                let columns = try db.query("SELECT name FROM pragma_index_info($1) ORDER BY seqno", [.text(indexName)])
                    .map { $0.string("name") ?? "" }
                switch i.string("origin") {
                case "pk": continue
                case "u": table.uniques.append(.init(name: nil, columns: columns))
                default: table.indexes.append(.init(name: indexName, columns: columns, unique: i.int("u") == 1))
                }
            }
            result[name] = table
        }
        return result
    }

    /// Named CHECK constraints of a CREATE TABLE statement (SQLite keeps the statement's text).
    static func checkConstraints(inCreateStatement sql: String) -> [String: String] {
        var checks: [String: String] = [:]
        let tokens = SQLTokenizer.tokens(sql)
        var i = 0
        while i + 3 < tokens.count {
            if tokens[i].lowercased() == "constraint", tokens[i + 2].lowercased() == "check", tokens[i + 3] == "(" {
                let name = unquote(tokens[i + 1])
                var depth = 0
                var parts: [String] = []
                var j = i + 3
                while j < tokens.count {
                    if tokens[j] == "(" { depth += 1 }
                    if tokens[j] == ")" { depth -= 1 }
                    parts.append(tokens[j])
                    j += 1
                    if depth == 0 { break }
                }
                checks[name] = parts.dropFirst().dropLast().joined(separator: " ")
                i = j
            } else {
                i += 1
            }
        }
        return checks
    }

    static func unquote(_ token: String) -> String {
        if token.count >= 2, let first = token.first, first == "\"" || first == "`" || first == "[" {
            return String(token.dropFirst().dropLast()).replacing("\"\"", with: "\"")
        }
        return token
    }

    static func postgresTables(_ db: any SQLConnection) throws(DatabaseError) -> [String: LiveTable] {
        var result: [String: LiveTable] = [:]
        let columns = try db.query(
            """
            SELECT c.relname AS t, a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type,
                   a.attnotnull AS nn, pg_get_expr(d.adbin, d.adrelid) AS dflt, a.attidentity <> '' AS ident
            FROM pg_attribute a
            JOIN pg_class c ON c.oid = a.attrelid
            JOIN pg_namespace n ON n.oid = c.relnamespace
            LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
            WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped
            ORDER BY c.relname, a.attnum
            """)
        for c in columns {
            let t = c.string("t") ?? ""
            var table =
                result[t]
                ?? LiveTable(
                    name: t, columns: [], primaryKey: [], primaryKeyName: nil, foreignKeys: [], uniques: [],
                    indexes: [],
                    checks: [:])
            table.columns.append(
                .init(
                    name: c.string("name") ?? "", type: (c.string("type") ?? "").lowercased(),
                    notNull: c.int("nn") == 1,
                    defaultSQL: c.string("dflt"), identity: c.int("ident") == 1))
            result[t] = table
        }
        let constraints = try db.query(
            """
            SELECT c.relname AS t, con.conname AS name, con.contype AS kind, pg_get_constraintdef(con.oid) AS def,
                   array_to_string(ARRAY(SELECT a.attname FROM unnest(con.conkey) WITH ORDINALITY k(n, o)
                       JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.n ORDER BY k.o), ',') AS cols,
                   r.relname AS ref,
                   array_to_string(ARRAY(SELECT a.attname FROM unnest(con.confkey) WITH ORDINALITY k(n, o)
                       JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.n ORDER BY k.o), ',') AS refcols,
                   con.confdeltype AS ondelete
            FROM pg_constraint con
            JOIN pg_class c ON c.oid = con.conrelid
            JOIN pg_namespace n ON n.oid = c.relnamespace
            LEFT JOIN pg_class r ON r.oid = con.confrelid
            WHERE n.nspname = current_schema()
            ORDER BY c.relname, con.conname
            """)
        for k in constraints {
            let t = k.string("t") ?? ""
            guard var table = result[t] else { continue }
            let name = k.string("name") ?? ""
            let cols = (k.string("cols") ?? "").split(separator: ",").map(String.init)
            switch k.string("kind") {
            case "p":
                table.primaryKey = cols
                table.primaryKeyName = name
            case "u":
                table.uniques.append(.init(name: name, columns: cols))
            case "f":
                let action: String
                switch k.string("ondelete") {
                case "c": action = "CASCADE"
                case "n": action = "SET NULL"
                case "r": action = "RESTRICT"
                case "d": action = "SET DEFAULT"
                default: action = "NO ACTION"
                }
                table.foreignKeys.append(
                    .init(
                        name: name, columns: cols, table: k.string("ref") ?? "",
                        referencedColumns: (k.string("refcols") ?? "").split(separator: ",").map(String.init),
                        onDelete: action))
            case "c":
                table.checks[name] = k.string("def") ?? ""
            default:
                break
            }
            result[t] = table
        }
        let indexes = try db.query(
            """
            SELECT t.relname AS t, i.relname AS name, ix.indisunique AS u,
                   array_to_string(ARRAY(SELECT a.attname FROM unnest(ix.indkey) WITH ORDINALITY k(n, o)
                       JOIN pg_attribute a ON a.attrelid = ix.indrelid AND a.attnum = k.n ORDER BY k.o), ',') AS cols
            FROM pg_index ix
            JOIN pg_class i ON i.oid = ix.indexrelid
            JOIN pg_class t ON t.oid = ix.indrelid
            JOIN pg_namespace n ON n.oid = t.relnamespace
            WHERE n.nspname = current_schema()
              AND NOT EXISTS (SELECT 1 FROM pg_constraint con WHERE con.conindid = ix.indexrelid AND con.conrelid = ix.indrelid)
            ORDER BY t.relname, i.relname
            """)
        for x in indexes {
            let t = x.string("t") ?? ""
            guard var table = result[t] else { continue }
            table.indexes.append(
                .init(
                    name: x.string("name") ?? "",
                    columns: (x.string("cols") ?? "").split(separator: ",").map(String.init),
                    unique: x.int("u") == 1))
            result[t] = table
        }
        return result
    }
}

/// Splits SQL into identifiers, quoted strings, numbers and punctuation: enough to find constraints.
enum SQLTokenizer {
    static func tokens(_ sql: String) -> [String] {
        let s = Array(sql.unicodeScalars)
        var out: [String] = []
        var i = 0
        func isWord(_ c: Unicode.Scalar) -> Bool {
            c.properties.isAlphabetic || c.properties.numericType != nil || c == "_" || c == "$"
        }
        while i < s.count {
            let c = s[i]
            if c.properties.isWhitespace {
                i += 1
            } else if c == "-" && i + 1 < s.count && s[i + 1] == "-" {
                while i < s.count && s[i] != "\n" { i += 1 }
            } else if c == "'" || c == "\"" || c == "`" || c == "[" {
                let close: Unicode.Scalar = c == "[" ? "]" : c
                var j = i + 1
                while j < s.count {
                    if s[j] == close {
                        if close != "]" && j + 1 < s.count && s[j + 1] == close {
                            j += 2
                            continue
                        }
                        break
                    }
                    j += 1
                }
                out.append(String(String.UnicodeScalarView(s[i...min(j, s.count - 1)])))
                i = j + 1
            } else if isWord(c) {
                var j = i
                while j < s.count && isWord(s[j]) { j += 1 }
                out.append(String(String.UnicodeScalarView(s[i..<j])))
                i = j
            } else {
                if i + 1 < s.count,
                    ["<=", ">=", "<>", "!=", "||", "=="].contains(String(String.UnicodeScalarView(s[i...i + 1])))
                {
                    out.append(String(String.UnicodeScalarView(s[i...i + 1])))
                    i += 2
                } else {
                    out.append(String(c))
                    i += 1
                }
            }
        }
        return out
    }
}
