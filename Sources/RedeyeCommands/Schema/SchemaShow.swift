import ArgumentParser
import FoundationEssentials
import Glibc
import Schema

extension SchemaCommand {
    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "show",
            abstract: "Print the built-in schema (the files redeye was built with), to copy or to extend.",
            discussion: """
                Every command reads the built-in schema unless --schema DIR puts files on top of it: a file \
                named like a built-in one (motherbrain.yaml) replaces it; any other adds tables, or extends the \
                built-in ones under `extend:` (docs/schema.md).

                EXAMPLES:
                  redeye schema show
                  redeye schema show > my-schema/motherbrain.yaml
                """ + ExitStatus.section())

        func run() throws {
            for (i, file) in BuiltInSchema.files.enumerated() {
                if BuiltInSchema.files.count > 1 { print((i > 0 ? "\n" : "") + "# \(file.name)") }
                print(file.text)
            }
        }
    }
}
