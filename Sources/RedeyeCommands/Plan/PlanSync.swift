import ArgumentParser
import FileSystem
import FoundationEssentials
import Glibc
import Inventory
import Plan

extension PlanCommand {
    struct Sync: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "sync",
            abstract: "Write the inventory's hosts into the plans tree (hosts/inventory.yaml) for review.",
            discussion: """
                The inventory can be where host facts are kept (200 hosts imported from a CSV); a booting host \
                trusts only signed plans. --from-inventory writes every inventory host that has a role and a MAC \
                address, and that no other plan file declares, into PLANS/hosts/inventory.yaml (name, MACs, role, \
                address, site), replacing that file whole. The new tree is validated first: if it is not valid, \
                nothing is written. Review it (git diff), then sign it with `redeye plan commit`. The other \
                direction is `redeye inventory import --from-plans`.

                EXAMPLES:
                  redeye plan sync --from-inventory --dry-run
                  redeye plan sync --from-inventory && redeye plan commit -m "hosts from the inventory"
                """ + ExitStatus.section())

        @Flag(help: "Read the hosts from the inventory (the only direction this command writes).")
        var fromInventory = false
        @Flag(help: "Print the file instead of writing it.") var dryRun = false
        @Flag(help: "Print what was written and left out as JSON.") var json = false
        @OptionGroup(title: "Global Options") var global: GlobalOptions

        func validate() throws {
            if !fromInventory {
                throw ValidationError(
                    "give --from-inventory (the plans go to the inventory with `inventory import --from-plans`)")
            }
        }

        func run() throws {
            try reportingErrors {
                let directory = try global.plansDirectory()
                let plans = try global.loadPlans()
                let connection = try InventoryConnection.open(
                    try global.inventoryURL(plans: plans), schema: try global.loadSchema(), actor: currentActor(),
                    .existing)
                defer { connection.db.close() }
                let export = try InventoryExport(db: connection.db, plans: plans)
                // The tree as it would be: refused whole if the new file makes it invalid.
                var source = try PlanSource.directory(directory)
                source.files[InventoryExport.fileName] = Array(export.text.utf8)
                _ = try PlanLoader().load(source)
                if dryRun {
                    print(export.text, terminator: "")
                } else {
                    let root = try Directory.open(directory)
                    try root.makeDirectory("hosts", mode: 0o755, existing: true)
                    try root.writeAtomically(InventoryExport.fileName, Array(export.text.utf8), mode: 0o644)
                }
                if json {
                    try printJSON(export.hosts)
                } else if !dryRun {
                    let written = export.hosts.filter(\.written)
                    print("wrote \(directory)/\(InventoryExport.fileName): \(counted(written.count, "host"))")
                    for host in export.hosts where !host.written {
                        print("  left out \(host.name): \(host.reason ?? "")")
                    }
                }
            }
        }
    }
}
