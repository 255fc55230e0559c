import ArgumentParser
import Deploy
import FileSystem
import FoundationEssentials
import Glibc
import Inventory
import Plan
import SSH

struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "The fleet as its records know it: per host its role, release and ref, last boot, last deploy.",
        discussion: """
            Every host of the plans and of the inventory, with the release it runs by its newest record (a boot or \
            a deploy, whichever is newer) and that release's ref, its last boot (state, time) and its last deploy \
            (outcome, step, time). HEALTH is good (runs a release, nothing recent failed), bad (its last boot or \
            deploy failed) or ugly (never ran a release, or only the inventory knows it). Read from the inventory \
            only: no host is contacted. --live also asks each selected host of the plans over SSH (the deploy's \
            settings: identity, known_hosts, jump) for the release it runs and runs its `redeye bundle audit`: a \
            host whose release drifted is bad, one that cannot be asked is ugly, with the reason.

            --atom DIR writes one Atom feed (RFC 4287) per role of the selected hosts, DIR/ROLE.atom, each \
            replaced atomically: an entry per boot and per host's part in a deploy, newest first, titled \
            `host: good|bad|ugly — what`, the details in its content. Point a feed reader at it.

            EXAMPLES:
              redeye status
              redeye status web
              redeye status 'fra1:&tag=canary:!web03' --json
              redeye status web --live
              redeye status --atom /var/www/status     # one Atom feed per role: web.atom, db.atom, …

            EXIT CODES:
              0   printed (whatever the hosts' health)
              1   the inventory or the plans cannot be read
              5   the selection matches no host
              64  usage
            """)

    @Argument(help: hostsHelp) var selection: String?
    @Flag(help: "Print the hosts as JSON.") var json = false
    @Flag(help: "Ask each host over SSH for its release and audit it.") var live = false
    @Option(help: ArgumentHelp("Write one Atom feed per role into this directory.", valueName: "dir")) var atom: String?
    @Option(help: "Entries per feed.") var entries = 50
    @OptionGroup(title: "Global Options") var global: GlobalOptions

    func run() throws {
        let chosen: HostSelection?
        do {
            chosen = try selection.map { try HostSelection(parsing: $0) }
        } catch {
            throw ValidationError("\(error)")
        }
        try reportingErrors {
            // The plans are optional here: an inventory alone still has hosts and their history.
            let plans =
                FileManager.default.fileExists(atPath: try global.plansDirectory()) ? try global.loadPlans() : nil
            let journal = try global.openExistingJournal()
            defer { journal.close() }
            var hosts = try journal.fleetStatus(plans: plans)
            if let chosen { hosts = hosts.filter { chosen.matches($0.facts) } }
            if hosts.isEmpty, let selection {
                printError("redeye: no host matches '\(selection)'")
                throw ExitCode(ExitStatus.notFound)
            }
            if live, let plans {
                let names = Set(hosts.map(\.host))
                let answers = LiveProbe.probe(
                    plans.hosts.filter { names.contains($0.name) }, plans: plans, settings: try global.sshSettings())
                for i in hosts.indices { hosts[i].live = answers[hosts[i].host] }
            }
            if let atom {
                try writeFeeds(into: atom, roles: Set(hosts.compactMap(\.role)), journal: journal)
                return
            }
            if json {
                struct Row: Encodable {
                    var status: HostStatus
                    func encode(to encoder: any Encoder) throws {
                        try status.encode(to: encoder)
                        var container = encoder.container(keyedBy: Key.self)
                        try container.encode(status.health, forKey: .health)
                    }
                    enum Key: String, CodingKey { case health }
                }
                try printJSON(hosts.map(Row.init))
                return
            }
            var rows = [
                ["HOST", "ROLE", "SITE", "HEALTH", "RELEASE", "REF", "LAST BOOT", "LAST DEPLOY", "TAGS"]
                    + (live ? ["LIVE"] : [])
            ]
            for h in hosts {
                let boot = h.lastBoot.map { "\($0.state) \($0.at ?? "")" } ?? "-"
                let deploy =
                    h.lastDeploy.map { d in
                        "#\(d.deployment) \(d.ref) \(d.state.rawValue)"
                            + (d.state == .succeeded ? "" : d.step.map { " at \($0.rawValue)" } ?? "")
                    } ?? "-"
                rows.append(
                    [
                        h.host, h.role ?? "-", h.site ?? "-", h.health.rawValue, h.release ?? "-", h.ref ?? "-", boot,
                        deploy, h.tags.joined(separator: ","),
                    ] + (live ? [Self.describe(h.live)] : []))
            }
            // Boot rows are written by the hosts themselves, tags by anyone with the inventory: shown, not obeyed.
            print(table(rows.map { $0.map(printable) }))
            let counts = Dictionary(grouping: hosts, by: \.health)
            print(
                "\n\(counted(hosts.count, "host")): "
                    + [HostStatus.Health.good, .bad, .ugly].map { "\(counts[$0]?.count ?? 0) \($0.rawValue)" }.joined(
                        separator: ", "))
        }
    }

    /// The LIVE column: what the host said, in a few words.
    static func describe(_ live: LiveState?) -> String {
        guard let live else { return "not asked (not in the plans)" }
        if let error = live.error { return "unreachable: \(error.prefix(80))" }
        guard let release = live.release else {
            return live.drift.first.map { "runs no release: \($0.prefix(60))" } ?? "runs nothing"
        }
        return live.drift.isEmpty
            ? "runs \(release), intact" : "runs \(release), \(live.drift.count) drifted: \(live.drift[0].prefix(60))"
    }

    /// One feed per role, each written to a temporary file of its own and renamed over the old one.
    func writeFeeds(into path: String, roles: Set<String>, journal: Journal) throws {
        let directory = try Directory.open(path, create: 0o755)
        for role in roles.sorted() {
            // A role's name becomes a file name: only names that cannot climb out of the directory.
            guard !role.hasPrefix("."), role.allSatisfy({ $0.isLetter || $0.isNumber || "._-".contains($0) }) else {
                printError("redeye: warning: role '\(role)' is not a file name; no feed written for it")
                continue
            }
            let events = try journal.events(role: role, limit: entries)
            let feed = AtomFeed.render(role: role, events: events, now: Date())
            try directory.writeAtomically(role + ".atom", Array(feed.utf8), mode: 0o644)
            print("wrote \(path)/\(role).atom: \(events.count) entr\(events.count == 1 ? "y" : "ies")")
        }
    }
}
