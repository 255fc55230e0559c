import ArgumentParser
import Database
import Foundation
import Schema

struct SchemaCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "schema",
        abstract: "Validate the inventory schema, print its DDL, plan and apply migrations.",
        discussion: """
            The schema is every *.yaml file of a directory (default: Schemas/), merged. See docs/schema.md.

            EXAMPLES:
              redeye schema validate --schema Schemas
              redeye schema sql --dialect postgres > inventory.sql
              redeye schema plan --db sqlite:inventory.db
              redeye schema migrate --db postgres://redeye@db.example:5432/inventory
            """,
        subcommands: [Validate.self, SQL.self, Plan.self, Migrate.self, Doc.self]
    )

    struct Validate: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "validate",
            abstract: "Check the schema files: syntax, types, references, keys and names.",
            discussion: """
                Every problem is reported at once as FILE:LINE:COLUMN: KEY.PATH: MESSAGE.

                EXAMPLES:
                  redeye schema validate
                  redeye schema validate --schema ./my-schema --json
                """)

        @OptionGroup var schemaOptions: SchemaOptions
        @Flag(help: "Print a JSON summary (tables and column counts, or the errors).") var json = false

        func run() throws {
            do {
                let schema = try schemaOptions.load()
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
                    print("\(schemaOptions.schema): valid (\(schema.tables.count) tables, \(columns) columns)")
                }
            } catch let error as SchemaError {
                try failValidation(
                    error.issues.map { ($0.location, $0.path, $0.message) }, text: error.description, noun: "schema",
                    json: json)
            }
        }
    }

    struct SQL: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "sql",
            abstract: "Print the DDL that creates the schema in an empty database.",
            discussion: """
                EXAMPLES:
                  redeye schema sql
                  redeye schema sql --dialect postgres | psql inventory
                """)

        @OptionGroup var schemaOptions: SchemaOptions
        @Option(help: "sqlite or postgres.") var dialect: String = "sqlite"

        func run() throws {
            guard let d = SQLDialect(rawValue: dialect) else {
                throw ValidationError("unknown dialect '\(dialect)' (expected sqlite or postgres)")
            }
            try reportingErrors {
                print(DDLGenerator(dialect: d).script(for: try schemaOptions.load()), terminator: "")
            }
        }
    }

    struct Doc: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "doc",
            abstract: "Print a Markdown reference of the schema's tables and columns.",
            discussion: """
                EXAMPLES:
                  redeye schema doc > docs/inventory.md
                  redeye schema doc --schema ./site-schema
                """)

        @OptionGroup var schemaOptions: SchemaOptions

        func run() throws {
            try reportingErrors {
                print(SchemaDocumentation(schema: try schemaOptions.load()).markdown, terminator: "")
            }
        }
    }

    struct Plan: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "plan",
            abstract: "Show what `migrate` would change in the database, changing nothing.",
            discussion: """
                Changes are marked + (safe), ! (destructive: needs --allow-destructive) and x (conflicts with \
                existing rows: fix the data first).

                EXAMPLES:
                  redeye schema plan
                  redeye schema plan --db sqlite:inventory.db --json
                  redeye schema plan --check   # exit 3 when the database has drifted from the files
                """)

        @OptionGroup var schemaOptions: SchemaOptions
        @OptionGroup var database: DatabaseOptions
        @Flag(help: "Print the plan as JSON.") var json = false
        @Flag(help: "Exit with status 3 when there is anything to change.") var check = false

        func run() throws {
            try reportingErrors {
                let schema = try schemaOptions.load()
                let db = try database.openForReading()
                defer { db.close() }
                let plan = try Migrator(schema: schema, actor: currentActor()).plan(db)
                if json { try printJSON(plan) } else { print(plan.text, terminator: "") }
                if check && !plan.isUpToDate { throw ExitCode(ExitStatus.drift) }
            }
        }
    }

    struct Migrate: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "migrate",
            abstract: "Create or migrate the database to match the schema, in one transaction.",
            discussion: """
                Additive changes apply directly. Dropping a table or column or narrowing a type needs \
                --allow-destructive; a change that existing rows contradict (NULLs, duplicates, orphans, \
                failing checks) is refused until the data is fixed. Either way, nothing changes unless \
                everything applies. Each migration is recorded in schema_history.

                EXAMPLES:
                  redeye schema migrate
                  redeye schema migrate --db postgres://redeye@db.example/inventory
                  redeye schema migrate --allow-destructive
                  redeye schema migrate --check   # change nothing; exit 3 if the database has drifted
                """)

        @OptionGroup var schemaOptions: SchemaOptions
        @OptionGroup var database: DatabaseOptions
        @Flag(help: "Apply changes that drop tables or columns or narrow types.") var allowDestructive = false
        @Flag(help: "Change nothing; exit with status 3 when the database differs from the schema.") var check = false
        @Flag(help: "Print the result as JSON.") var json = false

        func run() throws {
            try reportingErrors {
                let schema = try schemaOptions.load()
                let db = try check ? database.openForReading() : database.open()
                defer { db.close() }
                let migrator = Migrator(schema: schema, actor: currentActor())
                if check {
                    let plan = try migrator.plan(db)
                    if json {
                        try printJSON(plan)
                    } else {
                        print(plan.isUpToDate ? "up to date" : plan.text, terminator: plan.isUpToDate ? "\n" : "")
                    }
                    if !plan.isUpToDate { throw ExitCode(ExitStatus.drift) }
                    return
                }
                let outcome = try migrator.migrate(db, allowDestructive: allowDestructive)
                switch outcome {
                case .upToDate(let plan):
                    if json { try printJSON(plan) } else { print("up to date (schema \(plan.schemaHash.prefix(12)))") }
                case .applied(let plan):
                    if json {
                        try printJSON(plan)
                    } else {
                        print(
                            "applied \(plan.changes.count) change\(plan.changes.count == 1 ? "" : "s") to \(database.url):"
                        )
                        for change in plan.changes { print("  \(change.summary)") }
                    }
                }
            }
        }
    }
}
