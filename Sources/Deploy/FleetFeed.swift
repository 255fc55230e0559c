import Database
import FoundationEssentials
import Glibc
import Text

/// One change of a host's state, as a person reads news: a boot or a host's part in a deploy.
public struct FleetEvent: Sendable, Encodable {
    public enum Kind: String, Sendable, Encodable {
        case boot, deploy
    }

    /// A stable id: the same event has the same id in every feed written.
    public var id: String
    public var kind: Kind
    public var host: String
    public var role: String
    public var time: String
    public var health: HostStatus.Health
    /// What happened, in a few words (`deploy #12 v2 rolled back at health`).
    public var what: String
    /// The details: release, step, error.
    public var details: [String]
}

extension Journal {
    /// The newest `limit` events of `role`'s hosts (boots and deploys), newest first.
    public func events(role: String, limit: Int = 50) throws -> [FleetEvent] {
        let limit = max(1, min(limit, 1000))
        let (deploys, boots) = try locked {
            let deploys = try db.query(
                """
                SELECT dh.deployment, dh.host, d.ref, d.kind, dh.state, dh.step, dh.error, dh.release_before,
                    dh.release_after, dh.finished_at, dh.seconds
                FROM deployment_host dh JOIN deployment d ON d.id = dh.deployment
                WHERE d.role = $1 AND dh.finished_at IS NOT NULL
                    AND dh.state IN ('succeeded', 'failed', 'rolled_back', 'skipped')
                ORDER BY dh.finished_at DESC, dh.deployment DESC LIMIT \(limit)
                """, [.text(role)])
            let boots = try db.query(
                """
                SELECT id, boot_id, host, state, ref, release, step, error, plans_commit, started_at, finished_at
                FROM boot WHERE role = $1 AND host IS NOT NULL
                ORDER BY started_at DESC, id DESC LIMIT \(limit)
                """, [.text(role)])
            return (deploys, boots)
        }
        var events: [FleetEvent] = []
        for row in deploys {
            let host = row.string("host") ?? ""
            let deployment = row.int("deployment") ?? 0
            let state = HostOutcome.State(rawValue: row.string("state") ?? "") ?? .failed
            let health: HostStatus.Health =
                switch state {
                case .succeeded: .good
                case .failed, .rolledBack: .bad
                default: .ugly
                }
            let ref = row.string("ref") ?? ""
            var what =
                "\(row.string("kind") ?? "deploy") #\(deployment) of \(ref): \(state.rawValue.replacing("_", with: " "))"
            if state != .succeeded, let step = row.string("step") { what += " at \(step)" }
            var details: [String] = []
            let before = row.string("release_before")
            let after = row.string("release_after")
            switch state {
            case .succeeded:
                details.append("runs \(after ?? "?")" + (before.map { $0 == after ? "" : " (was \($0))" } ?? ""))
            default: details.append("runs \(before ?? "nothing")")
            }
            if let error = row.string("error") { details.append("error: \(error)") }
            if let seconds = row.double("seconds"), seconds > 0 {
                details.append("took " + fixed(seconds, digits: 2) + " s")
            }
            events.append(
                FleetEvent(
                    id: "urn:redeye:deployment:\(deployment):\(host)", kind: .deploy, host: host, role: role,
                    time: row.string("finished_at") ?? "", health: health, what: what, details: details))
        }
        for row in boots {
            let host = row.string("host") ?? ""
            let state = row.string("state") ?? ""
            let health: HostStatus.Health =
                switch state {
                case "installed", "unchanged": .good
                case "failed": .bad
                default: .ugly
                }
            var what = "boot: \(state)"
            if state == "failed", let step = row.string("step") { what += " at \(step)" }
            var details: [String] = []
            if let release = row.string("release") {
                details.append("runs \(release)" + (row.string("ref").map { " (\($0))" } ?? ""))
            }
            if let commit = row.string("plans_commit") { details.append("plans \(commit.prefix(12))") }
            if let error = row.string("error") { details.append("error: \(error)") }
            let id = row.string("boot_id") ?? String(row.int("id") ?? 0)
            events.append(
                FleetEvent(
                    id: "urn:redeye:boot:\(id)", kind: .boot, host: host, role: role,
                    time: row.string("finished_at") ?? row.string("started_at") ?? "", health: health, what: what,
                    details: details))
        }
        // ISO 8601 UTC times sort as text.
        return Array(events.sorted { ($0.time, $0.id) > ($1.time, $1.id) }.prefix(limit))
    }
}

/// An Atom feed (RFC 4287) of one role's events: one entry per host state change, titled
/// `host: good|bad|ugly — what`, the details in its text content.
public enum AtomFeed {
    public static func render(role: String, events: [FleetEvent], now: Date) -> String {
        let updated = events.first.map { atomTime($0.time) } ?? iso8601UTC(now)
        var xml = """
            <?xml version="1.0" encoding="utf-8"?>
            <feed xmlns="http://www.w3.org/2005/Atom">
              <id>urn:redeye:role:\(escape(role))</id>
              <title>redeye: \(escape(role))</title>
              <subtitle>Boots and deploys of the hosts of role \(escape(role))</subtitle>
              <updated>\(updated)</updated>
              <author><name>redeye</name></author>
              <generator>redeye</generator>

            """
        for event in events {
            let content = ([event.what] + event.details).joined(separator: "\n")
            xml += """
                  <entry>
                    <id>\(escape(event.id))</id>
                    <title>\(escape("\(event.host): \(event.health.rawValue) — \(event.what)"))</title>
                    <updated>\(atomTime(event.time))</updated>
                    <category term="\(event.health.rawValue)"/>
                    <category term="\(event.kind.rawValue)"/>
                    <content type="text">\(escape(content))</content>
                  </entry>

                """
        }
        xml += "</feed>\n"
        return xml
    }

    /// A stored time as Atom's date-time (RFC 3339): the inventory keeps ISO 8601 UTC already.
    static func atomTime(_ text: String) -> String {
        guard let date = parseTimestamp(text) else { return "1970-01-01T00:00:00Z" }
        return iso8601UTC(date)
    }

    /// Text safe in XML content and attributes; characters XML 1.0 forbids are dropped.
    static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "\t", "\n", "\r": out.unicodeScalars.append(scalar)
            default:
                let v = scalar.value
                if v < 0x20 || (0xFFFE...0xFFFF).contains(v) { continue }
                out.unicodeScalars.append(scalar)
            }
        }
        return out
    }
}
