import ArgumentParser
import Database
import FoundationEssentials
import Glibc
import Schema

extension SchemaCommand {
    struct SQL: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "sql",
            abstract: "Print the DDL that creates the schema in an empty database.",
            discussion: """
                EXAMPLES:
                  redeye schema sql
                  redeye schema sql --dialect postgres | psql inventory
                """ + ExitStatus.section())

        @OptionGroup(title: "Global Options") var global: GlobalOptions
        @Option(help: "sqlite or postgres.") var dialect: String = "sqlite"

        func run() throws {
            guard let d = SQLDialect(rawValue: dialect) else {
                throw ValidationError("unknown dialect '\(dialect)' (expected sqlite or postgres)")
            }
            try reportingErrors {
                print(DDLGenerator(dialect: d).script(for: try global.loadSchema()), terminator: "")
            }
        }
    }
}
