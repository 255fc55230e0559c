import ArgumentParser
import FoundationEssentials
import Glibc
import Settings

struct ConfigCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config",
        abstract: "The operator's settings: redeye.yaml, REDEYE_* variables and flags.",
        discussion: """
            Every operator command (schema, inventory, plan, deploy, status) reads its settings from, in order: \
            its flags, the REDEYE_* variables, the settings file (--config, else $REDEYE_CONFIG, else the nearest \
            redeye.yaml at or above the working directory), the defaults. Relative paths in the file are taken \
            from the file's directory. A file found by walking up is read only if it belongs to you or root and \
            no one else may write it. See docs/cli.md.

            EXAMPLES:
              redeye config show
              redeye config show --json
              REDEYE_SSH_USER=deploy redeye config show --config /etc/redeye/redeye.yaml
            """ + ExitStatus.section(),
        subcommands: [Show.self])

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "show", abstract: "Print the effective settings and where each one came from.",
            discussion: """
                EXAMPLES:
                  redeye config show
                  redeye config show --json --config /etc/redeye/redeye.yaml

                EXIT CODES:
                  0   printed
                  1   the settings file, a variable or a flag is not valid (every problem is named)
                  64  usage
                """)

        @Flag(help: "Print the settings as JSON.") var json = false
        @OptionGroup(title: "Global Options") var global: GlobalOptions

        func run() throws {
            try reportingErrors {
                let settings = try global.settings()
                if json {
                    struct Entry: Encodable {
                        var value: String?
                        var values: [String]?
                        var number: Int?
                        var source: String
                        var variable: String
                    }
                    struct Output: Encodable {
                        var file: String?
                        var settings: [String: Entry]
                    }
                    var entries: [String: Entry] = [:]
                    for setting in Setting.allCases {
                        guard let entry = settings[setting] else { continue }
                        var out = Entry(source: entry.source.description, variable: setting.environmentVariable)
                        switch entry.value {
                        case .text(let s): out.value = s
                        case .paths(let p): out.values = p
                        case .number(let n): out.number = n
                        }
                        entries[setting.rawValue] = out
                    }
                    try printJSON(Output(file: settings.file, settings: entries))
                    return
                }
                print("settings file: \(settings.file ?? "none")")
                var rows = [["SETTING", "VALUE", "FROM"]]
                for setting in Setting.allCases {
                    let entry = settings[setting]
                    rows.append([
                        setting.rawValue, entry?.value.description ?? "-", entry?.source.description ?? "unset",
                    ])
                }
                print(table(rows))
            }
        }
    }
}
