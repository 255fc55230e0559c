import ArgumentParser
import Database
import FoundationEssentials
import Glibc
import Schema

extension SchemaCommand {
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
                """ + ExitStatus.section(3, 4))

        @OptionGroup(title: "Global Options") var global: GlobalOptions
        @Flag(help: "Apply changes that drop tables or columns or narrow types.") var allowDestructive = false
        @Flag(help: "Change nothing; exit with status 3 when the database differs from the schema.") var check = false
        @Flag(help: "Print the result as JSON.") var json = false

        func run() throws {
            try reportingErrors {
                let schema = try global.loadSchema()
                let db = try check ? global.openForReading() : global.openDatabase()
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
                            "applied \(counted(plan.changes.count, "change")) to \(try global.inventoryURL()):"
                        )
                        for change in plan.changes { print("  \(change.summary)") }
                    }
                }
            }
        }
    }
}
