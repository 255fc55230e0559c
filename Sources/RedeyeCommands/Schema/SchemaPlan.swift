import ArgumentParser
import Database
import FoundationEssentials
import Glibc
import Schema

extension SchemaCommand {
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
                """ + ExitStatus.section(3))

        @OptionGroup(title: "Global Options") var global: GlobalOptions
        @Flag(help: "Print the plan as JSON.") var json = false
        @Flag(help: "Exit with status 3 when there is anything to change.") var check = false

        func run() throws {
            try reportingErrors {
                let schema = try global.loadSchema()
                let db = try global.openForReading()
                defer { db.close() }
                let plan = try Migrator(schema: schema, actor: currentActor()).plan(db)
                if json { try printJSON(plan) } else { print(plan.text, terminator: "") }
                if check && !plan.isUpToDate { throw ExitCode(ExitStatus.drift) }
            }
        }
    }
}
