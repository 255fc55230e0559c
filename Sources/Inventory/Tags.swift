import Database

extension RecordStore {
    /// Puts tags on one record and takes others off, in one transaction, each change in the change log; a tag
    /// that does not exist yet is created. Returns the record's tags afterwards, sorted.
    public func tag(_ tableName: String, key: [String], add: [String], remove: [String]) throws -> [String] {
        let table = try table(tableName)
        guard tableName != "tag", tableName != "tagging" else {
            throw InventoryError("tags are put on records of other tables, not on \(tableName)")
        }
        for name in add + remove where name.isEmpty || name.contains("/") || name.contains(where: \.isNewline) {
            throw InventoryError("'\(name)' is not a tag name (non-empty, no '/' or line break)")
        }
        if let both = Set(add).intersection(remove).sorted().first {
            throw InventoryError("tag '\(both)' is both added and removed")
        }
        return try db.exclusiveTransaction {
            guard let record = try get(tableName, key: key) else {
                var error = InventoryError("no \(tableName) \(key.joined(separator: "/"))")
                error.notFound = true
                throw error
            }
            // Tags name a record by its key as text, the way `inventory get` takes it.
            let rowKey = table.primaryKey.map { record[$0].text ?? "" }.joined(separator: "/")
            for name in add {
                if try get("tag", key: [name]) == nil { _ = try put("tag", [("name", name)]) }
                _ = try put("tagging", [("tag", name), ("table_name", tableName), ("row_key", rowKey)])
            }
            for name in remove {
                try delete("tagging", key: [name, tableName, rowKey])
            }
            return try list("tagging", where: [("table_name", tableName), ("row_key", rowKey)]).compactMap {
                $0["tag"].text
            }.sorted()
        }
    }
}
