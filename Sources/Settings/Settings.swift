import FoundationEssentials
import Glibc

/// The effective settings of one command: a flag over a `REDEYE_*` variable over `redeye.yaml` over the
/// built-in default, each value with where it came from.
public struct Settings: Sendable {
    public struct Entry: Sendable, Equatable {
        public var value: SettingValue
        public var source: SettingSource
    }

    /// The settings file in effect, if any.
    public var file: String?
    public private(set) var entries: [Setting: Entry] = [:]

    /// Where a settings file comes from: an explicit path (`--config` or `$REDEYE_CONFIG`, which must
    /// exist) or the nearest `redeye.yaml` at or above the working directory.
    public enum FileChoice: Sendable {
        case explicit(String)
        case search(from: String)
        case none
    }

    /// Resolves every setting. `flags` holds what was given on the command line, raw, by setting and flag
    /// name. All problems, in the file and in the flags and variables, are reported at once.
    public init(
        flags: [Setting: (name: String, values: [String])], environment: [String: String], file choice: FileChoice,
        workingDirectory: String, home: String
    ) throws(SettingsError) {
        var issues: [SettingsError.Issue] = []
        var config: ConfigFile?
        let path: String? =
            switch choice {
            case .explicit(let path): path
            case .search(let directory): ConfigFile.find(from: directory)
            case .none: nil
            }
        if let path {
            let absolute = path.hasPrefix("/") ? path : workingDirectory + "/" + path
            do {
                config = try ConfigFile.load(path: absolute, home: home)
                file = absolute
            } catch {
                issues += error.issues
            }
        }
        for setting in Setting.allCases {
            if let flag = flags[setting] {
                do {
                    entries[setting] = Entry(
                        value: try setting.check(flag.values, base: nil, home: home),
                        source: .flag(flag.name))
                } catch {
                    issues.append(.init(source: "--\(flag.name)", message: error.reason))
                }
            } else if let raw = environment[setting.environmentVariable], !raw.isEmpty {
                let values = setting.kind == .paths ? raw.split(separator: ":").map(String.init) : [raw]
                do {
                    entries[setting] = Entry(
                        value: try setting.check(values, base: nil, home: home),
                        source: .environment(setting.environmentVariable))
                } catch {
                    issues.append(.init(source: "$\(setting.environmentVariable)", message: error.reason))
                }
            } else if let found = config?.values[setting] {
                entries[setting] = Entry(
                    value: found.value,
                    source: .file(path: found.location.file, line: found.location.line, column: found.location.column))
            } else if let value = Self.builtInDefault(setting, home: home, workingDirectory: workingDirectory) {
                entries[setting] = Entry(value: value, source: .builtIn)
            }
        }
        if entries[.signing] == nil {
            // Trusting signers implies signing: a plans commit no one can verify would stop every boot.
            entries[.signing] = Entry(
                value: .text(entries[.allowedSigners] == nil ? "optional" : "required"), source: .builtIn)
        }
        if !issues.isEmpty { throw SettingsError(issues: issues) }
    }

    /// The defaults when nothing sets a value; nil where there is none (the inventory then falls back to
    /// the plans' site inventory, the SSH identity to ssh-agent).
    static func builtInDefault(_ setting: Setting, home: String, workingDirectory: String) -> SettingValue? {
        switch setting {
        case .plans: .text("Plans")
        case .sshUser: .text("root")
        case .sshPort: .number(22)
        case .connectTimeout: .number(10)
        case .remoteRedeye: .text("redeye")
        case .cache: .text(home + "/.cache/redeye/bundles")
        case .plansRepository, .signing, .signKey, .allowedSigners, .inventory, .schema, .identity, .knownHosts,
            .jump, .caFile, .tokenFile:
            nil
        }
    }

    public subscript(_ setting: Setting) -> Entry? { entries[setting] }

    public func text(_ setting: Setting) -> String? { entries[setting]?.value.text }

    public func paths(_ setting: Setting) -> [String] {
        switch entries[setting]?.value {
        case .paths(let p): p
        case .text(let s): [s]
        default: []
        }
    }

    public func number(_ setting: Setting) -> Int? {
        if case .number(let n) = entries[setting]?.value { return n }
        return nil
    }

    public var signingPolicy: SigningPolicy {
        text(.signing).flatMap(SigningPolicy.init(rawValue:)) ?? .optional
    }
}
