import ArgumentParser
import Database
import FoundationEssentials
import Glibc
import Schema

extension SchemaCommand {
    struct Doc: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "doc",
            abstract: "Print a Markdown reference of the schema's tables and columns.",
            discussion: """
                EXAMPLES:
                  redeye schema doc > docs/inventory.md
                  redeye schema doc --schema ./site-schema
                """ + ExitStatus.section())

        @OptionGroup(title: "Global Options") var global: GlobalOptions

        func run() throws {
            try reportingErrors {
                print(SchemaDocumentation(schema: try global.loadSchema()).markdown, terminator: "")
            }
        }
    }
}
