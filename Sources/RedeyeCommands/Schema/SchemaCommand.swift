import ArgumentParser
import Database
import FoundationEssentials
import Glibc
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
            """ + ExitStatus.section(3, 4),
        subcommands: [Validate.self, Show.self, SQL.self, Plan.self, Migrate.self, Doc.self]
    )

}
