import ArgumentParser
import Database
import FoundationEssentials
import Glibc
import Inventory
import Plan
import Schema
import YAML

struct InventoryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inventory",
        abstract: "Read and write inventory records by primary key, through the schema.",
        discussion: """
            Values are checked and normalized by column type before they reach the database: MAC addresses \
            become lowercase with colons, IP addresses canonical, timestamps UTC ISO 8601, enums must be one \
            of their values. An empty value (col=) means NULL.

            EXAMPLES:
              redeye inventory put site name=dc1
              redeye inventory put host name=web01 site=dc1 kind=virtual
              redeye inventory get host web01 --json
              redeye inventory list host --where site=dc1
              redeye inventory delete host web01
              redeye inventory import fleet.yaml
            """ + ExitStatus.section(4, 5),
        subcommands: [Get.self, Put.self, Delete.self, List.self, Import.self, History.self, Tag.self]
    )

    struct Options: ParsableArguments {
        @OptionGroup(title: "Global Options") var global: GlobalOptions

        /// The inventory as it is (a record command neither creates nor migrates it).
        func open() throws -> InventoryConnection {
            try InventoryConnection.open(
                try global.inventoryURL(), schema: try global.loadSchema(), actor: currentActor(), .existing)
        }
    }

}

extension String {
    func trimmingTrailingSpaces() -> String {
        var s = Substring(self)
        while s.last == " " { s = s.dropLast() }
        return String(s)
    }
}
