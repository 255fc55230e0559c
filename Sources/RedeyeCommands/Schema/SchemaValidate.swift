import ArgumentParser
import Database
import FoundationEssentials
import Glibc
import Schema

extension SchemaCommand {
    struct Validate: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "validate",
            abstract: "Check the schema files: syntax, types, references, keys and names.",
            discussion: """
                Every problem is reported at once as FILE:LINE:COLUMN: KEY.PATH: MESSAGE.

                EXAMPLES:
                  redeye schema validate
                  redeye schema validate --schema ./my-schema --json
                """ + ExitStatus.section())

        @OptionGroup(title: "Global Options") var global: GlobalOptions
        @Flag(help: "Print a JSON summary (tables and column counts, or the errors).") var json = false

        func run() throws {
            do {
                let schema = try global.loadSchema()
                if json {
                    struct Summary: Encodable {
                        var valid = true
                        var tables: [String: Int]
                    }
                    try printJSON(
                        Summary(
                            tables: Dictionary(uniqueKeysWithValues: schema.tables.map { ($0.name, $0.columns.count) }))
                    )
                } else {
                    let columns = schema.tables.reduce(0) { $0 + $1.columns.count }
                    print(
                        "\((try global.settings().text(.schema)) ?? "the built-in schema"): valid (\(counted(schema.tables.count, "table")), \(counted(columns, "column")))"
                    )
                }
            } catch let error as SchemaError {
                try failValidation(
                    error.issues.map { ($0.location, $0.path, $0.message) }, text: error.description, noun: "schema",
                    json: json)
            }
        }
    }
}
