import Database
import Schema

/// Turns a database's constraint failure into a sentence naming the record and the rule it broke.
struct ConstraintMessages {
    let schema: DatabaseSchema

    func explain(_ error: DatabaseError, table: Table, subject: String) -> Error {
        guard case .constraint(let kind) = error.kind else { return error }
        let columns = !error.columns.isEmpty ? error.columns : columnsOf(constraint: error.constraint, in: table)
        let listed = columns.joined(separator: ", ")
        switch kind {
        case .unique, .primaryKey:
            let what = columns.isEmpty ? "a unique value" : "the same \(listed)"
            return InventoryError(
                "\(subject): another \(table.name) record already has \(what)\(detail(error)) (must be unique)")
        case .notNull:
            return InventoryError("\(subject): \(table.name).\(listed) cannot be null")
        case .foreignKey:
            return InventoryError("\(subject): a reference does not resolve or is still in use\(detail(error))")
        case .check:
            return InventoryError("\(subject): breaks the rule \(rule(error.constraint, in: table))")
        }
    }

    func detail(_ error: DatabaseError) -> String {
        guard let detail = error.detail, !detail.isEmpty else { return "" }
        return " (\(detail.hasSuffix(".") ? String(detail.dropLast()) : detail))"
    }

    /// The columns a constraint named by Redeye's convention (`table_columns_suffix`) covers.
    func columnsOf(constraint: String?, in table: Table) -> [String] {
        guard let constraint else { return [] }
        if constraint.hasSuffix("_pkey") { return table.primaryKey }
        for list in table.uniques + table.columns.filter(\.unique).map({ [$0.name] })
        where constraint == ([table.name] + list + ["key"]).joined(separator: "_") {
            return list
        }
        return []
    }

    /// The rule behind a check constraint, in words.
    func rule(_ constraint: String?, in table: Table) -> String {
        guard let constraint else { return "of a check" }
        for column in table.columns {
            let prefix = "\(table.name)_\(column.name)_"
            guard constraint.hasPrefix(prefix) else { continue }
            switch constraint.dropFirst(prefix.count) {
            case "enum": return "'\(column.name) must be one of: \(column.enumValues.joined(separator: ", "))'"
            case "length": return "'\(column.name) is at most \(column.maxLength ?? 0) characters'"
            case "check": return "'\(column.check ?? "")'"
            case "mac": return "'\(column.name) is a lowercase MAC address'"
            case "json": return "'\(column.name) is valid JSON'"
            case "bool": return "'\(column.name) is true or false'"
            default: break
            }
        }
        if let check = table.checks.first(where: { $0.name == constraint }) {
            return "'\(check.expression)' (\(constraint))"
        }
        return constraint
    }
}
