import FoundationEssentials
import Glibc
import Text

/// One setting of the operator's commands: where it lives in `redeye.yaml`, its environment variable, its
/// kind and its default.
public enum Setting: String, CaseIterable, Sendable, Hashable {
    case plans = "plans.dir"
    case plansRepository = "plans.repo"
    case signing = "plans.signing"
    case signKey = "plans.sign_key"
    case allowedSigners = "plans.allowed_signers"
    case inventory = "inventory.url"
    case schema = "inventory.schema"
    case sshUser = "ssh.user"
    case sshPort = "ssh.port"
    case identity = "ssh.identity"
    case knownHosts = "ssh.known_hosts"
    case jump = "ssh.jump"
    case connectTimeout = "ssh.connect_timeout"
    case remoteRedeye = "deploy.remote_redeye"
    case cache = "deploy.cache"
    case caFile = "git.ca_file"
    case tokenFile = "git.token_file"

    /// What a value of a setting is, which decides how it is read and checked.
    public enum Kind: Sendable, Equatable {
        /// A file or directory; relative paths are taken from the config file's directory (or the working
        /// directory for a flag or variable), and `~/` is the home directory.
        case path
        /// One or more paths (a YAML sequence, or `:`-separated in a variable).
        case paths
        case text
        case port
        case seconds
        case choice([String])
    }

    public var kind: Kind {
        switch self {
        case .plans, .plansRepository, .signKey, .allowedSigners, .schema, .identity, .cache, .caFile, .tokenFile: .path
        case .knownHosts: .paths
        case .inventory, .sshUser, .jump, .remoteRedeye: .text
        case .sshPort: .port
        case .connectTimeout: .seconds
        case .signing: .choice(SigningPolicy.allCases.map(\.rawValue))
        }
    }

    /// The command-line flag that sets it (nil: only the file and the variable do).
    public var flag: String? {
        switch self {
        case .plans: "plans"
        case .plansRepository: "repo"
        case .signing: nil
        case .signKey: "sign-key"
        case .allowedSigners: "allowed-signers"
        case .inventory: "db"
        case .schema: "schema"
        case .sshUser: "ssh-user"
        case .sshPort: "ssh-port"
        case .identity: "identity"
        case .knownHosts: "known-hosts"
        case .jump: "jump"
        case .connectTimeout: "connect-timeout"
        case .remoteRedeye: "remote-redeye"
        case .cache: "cache"
        case .caFile: "ca-file"
        case .tokenFile: "token-file"
        }
    }

    /// The environment variable that sets it: REDEYE_ and the flag's name (`REDEYE_DB` for the inventory).
    public var environmentVariable: String {
        switch self {
        case .plansRepository: "REDEYE_PLANS_REPO"
        case .signing: "REDEYE_SIGNING"
        default: "REDEYE_" + (flag ?? key).uppercased().replacing("-", with: "_")
        }
    }

    /// The section and key in `redeye.yaml`.
    public var section: String { String(rawValue.split(separator: ".")[0]) }
    public var key: String { String(rawValue.split(separator: ".")[1]) }

    /// What it is for, in `redeye config show --help` and docs.
    public var summary: String {
        switch self {
        case .plans: "the plans directory"
        case .plansRepository: "the plans git repository (plan commit, plan verify, plan diff)"
        case .signing: "required: plan commit needs a key; optional: unsigned commits are allowed"
        case .signKey: "the key plan commit signs with (OpenSSH private key, or KEY.pub held by ssh-agent)"
        case .allowedSigners: "the allowed-signers file that plan verify trusts"
        case .inventory: "the inventory database: sqlite:PATH or postgres://USER@HOST:PORT/DB"
        case .schema: "a directory of schema files on top of the built-in schema"
        case .sshUser: "the SSH user for deploys (a host's ssh_user variable overrides it)"
        case .sshPort: "the SSH port for deploys (a host's ssh_port variable overrides it)"
        case .identity: "the SSH private key (default: ssh-agent through $SSH_AUTH_SOCK)"
        case .knownHosts: "known_hosts files (default ~/.ssh/known_hosts and /etc/ssh/ssh_known_hosts)"
        case .jump: "a bastion every host is reached through, as ssh -J"
        case .connectTimeout: "seconds to wait for a host to answer"
        case .remoteRedeye: "the redeye executable on the hosts"
        case .cache: "where bundle repositories are fetched to"
        case .caFile: "CA certificates (PEM) https:// git servers are checked against (default: the system store)"
        case .tokenFile: "a file holding the token for https:// git servers that ask (default: $REDEYE_GIT_TOKEN)"
        }
    }
}

/// Whether plans commits must be signed.
public enum SigningPolicy: String, CaseIterable, Sendable {
    case required, optional
}

/// Where the effective value of a setting came from.
public enum SettingSource: Sendable, Equatable, CustomStringConvertible {
    case flag(String)
    case environment(String)
    case file(path: String, line: Int, column: Int)
    case builtIn

    public var description: String {
        switch self {
        case .flag(let name): "flag --\(name)"
        case .environment(let name): "$\(name)"
        case .file(let path, let line, let column): "\(path):\(line):\(column)"
        case .builtIn: "default"
        }
    }
}

/// A setting's value, already checked against its kind.
public enum SettingValue: Sendable, Equatable, CustomStringConvertible {
    case text(String)
    case paths([String])
    case number(Int)

    public var text: String? {
        switch self {
        case .text(let s): s
        case .paths(let p): p.first
        case .number(let n): String(n)
        }
    }

    public var description: String {
        switch self {
        case .text(let s): s
        case .paths(let p): p.joined(separator: ":")
        case .number(let n): String(n)
        }
    }
}
