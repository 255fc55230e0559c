/// The `schema_history` table: one row per applied migration.
///
/// A schema may declare it (the Mother Brain schema does, to document it); otherwise this definition is added.
public enum SchemaHistory {
    static let requiredColumns = ["applied_at", "schema_hash", "applied_by", "steps", "plan"]

    static let table = Table(
        name: "schema_history", comment: "Every migration applied to this database.",
        columns: [
            column("id", .integer, generated: true),
            column("applied_at", .timestamp, defaultValue: .now),
            column("schema_hash", .text),
            column("applied_by", .text),
            column("steps", .integer),
            column("plan", .json),
            column("duration_ms", .integer, nullable: true),
        ],
        primaryKey: ["id"], uniques: [], indexes: [], checks: [], renamedFrom: [], location: nil)

    private static func column(
        _ name: String, _ type: ColumnType, nullable: Bool = false, defaultValue: DefaultValue? = nil,
        generated: Bool = false
    ) -> Column {
        Column(
            name: name, type: type, nullable: nullable, defaultValue: defaultValue, unique: false, reference: nil,
            enumValues: [], maxLength: nil, check: nil, comment: nil, renamedFrom: [], generated: generated,
            location: nil)
    }
}

/// A constraint or index name: `table_parts_suffix`, shortened with a hash past PostgreSQL's 63 bytes.
func constraintName(_ table: String, _ parts: [String], suffix: String) -> String {
    let name = ([table] + parts + [suffix]).joined(separator: "_")
    if name.utf8.count <= 63 { return name }
    var hash: UInt32 = 2_166_136_261
    for byte in name.utf8 {
        hash ^= UInt32(byte)
        hash = hash &* 16_777_619
    }
    let hex = String(hash, radix: 16)
    return String(name.utf8.prefix(54))! + "_" + String(repeating: "0", count: 8 - hex.count) + hex
}
