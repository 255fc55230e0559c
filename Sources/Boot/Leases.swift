import FoundationEssentials
import Glibc
import Text
import YAML

/// A DHCP option value found in a client's lease, and where.
public struct LeaseOption: Sendable {
    /// dhclient, networkd, NetworkManager, dhcpcd or udhcpc.
    public var client: String
    public var interface: String?
    public var bytes: [UInt8]
    /// File, line and column (or the environment variable / command it came from).
    public var location: SourceLocation
}

/// Reads the plans option out of whichever DHCP client's leases exist under a root. Each reader returns the
/// options it found and the problems it met (a corrupt file is a problem of that file, not of the boot).
public struct LeaseReader: Sendable {
    public var root: String
    public var sysfs: String
    public var code: Int
    /// The process environment, for NetworkManager's dispatcher variables (DHCP4_PRIVATE_224).
    public var environment: [String: String]

    public init(
        root: String, sysfs: String, code: Int, environment: [String: String] = [:]
    ) {
        self.root = root
        self.sysfs = sysfs
        self.code = code
        self.environment = environment
    }

    /// Every lease option found, newest lease file first, and each problem met on the way.
    public func read() -> (options: [LeaseOption], problems: [BootError]) {
        var options: [LeaseOption] = []
        var problems: [BootError] = []
        var files: [(path: String, modified: Date, parse: (String) throws(BootError) -> [LeaseOption])] = []
        func add(
            _ directory: String, _ matches: (String) -> Bool,
            _ parse: @escaping (String) throws(BootError) -> [LeaseOption]
        ) {
            let dir = root + directory
            for name in (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? [] where matches(name) {
                let path = dir + "/" + name
                let modified =
                    (try? FileManager.default.attributesOfItem(atPath: path)[.modificationDate] as? Date)
                    ?? .distantPast
                files.append((path, modified, parse))
            }
        }
        let dhclient: (String) throws(BootError) -> [LeaseOption] = { path throws(BootError) in try parseDhclient(path)
        }
        add(
            "/var/lib/dhcp", { $0.hasPrefix("dhclient") && ($0.hasSuffix(".leases") || $0.hasSuffix(".lease")) },
            dhclient)
        add("/var/lib/dhclient", { $0.hasSuffix(".leases") || $0.hasSuffix(".lease") }, dhclient)
        add("/var/lib/NetworkManager", { $0.hasPrefix("dhclient") && $0.hasSuffix(".lease") }, dhclient)
        add("/run/systemd/netif/leases", { Int($0) != nil }) { path throws(BootError) in try parseNetworkd(path) }
        add("/var/lib/dhcpcd", { $0.hasSuffix(".lease") }) { path throws(BootError) in try parseDhcpcd(path) }
        add("/var/lib/udhcpc", { $0.hasSuffix(".lease") && !$0.hasPrefix(".") }) { path throws(BootError) in
            try parseUdhcpc(path)
        }
        for file in files.sorted(by: { $0.modified > $1.modified }) {
            do {
                options += try file.parse(file.path)
            } catch {
                problems.append(error)
            }
        }
        let variable = "DHCP4_PRIVATE_\(code)"
        if let value = environment[variable] {
            do throws(BootError) {
                let bytes = try decodeHex(value, separated: true)
                options.append(
                    LeaseOption(
                        client: "NetworkManager", interface: environment["DEVICE_IFACE"], bytes: bytes,
                        location: SourceLocation(file: "environment \(variable)", line: 1, column: 1)))
            } catch {
                problems.append(
                    BootError(step: .learn, "environment \(variable) (NetworkManager): \(error.message)"))
            }
        }
        // RFC 2132 section 2: a receiver drops trailing NULs (servers that count a C string's terminator send
        // one); every client hands them on differently, so they go here, once for all.
        for i in options.indices {
            while options[i].bytes.last == 0 { options[i].bytes.removeLast() }
        }
        return (options, problems)
    }

    // MARK: ISC dhclient

    /// dhclient's lease file: `lease { … }` blocks, the newest last. Returns the option of the newest lease
    /// that has it.
    func parseDhclient(_ path: String) throws(BootError) -> [LeaseOption] {
        try parseDhclient(bytes: try read(path), path: path)
    }

    /// A lease file's bytes; a lease is small (a DHCP packet's options), so a file past 1 MiB is not one.
    func read(_ path: String) throws(BootError) -> [UInt8] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw BootError(step: .learn, "cannot read \(path)")
        }
        guard data.count <= 1 << 20 else {
            throw BootError(step: .learn, "\(path) is \(data.count) bytes: too large for a lease file")
        }
        return [UInt8](data)
    }

    func parseDhclient(bytes: [UInt8], path: String) throws(BootError) -> [LeaseOption] {
        var parser = DhclientLeaseParser(bytes: bytes, file: path)
        let statements = try parser.parse()
        let names = dhclientNames()
        var found: LeaseOption?
        for lease in statements where lease.block {
            var interface: String?
            var option: LeaseOption?
            for statement in lease.children {
                let words = statement.tokens
                if words.count == 2, words[0].text == "interface" { interface = words[1].text }
                guard words.count >= 3, words[0].text == "option", names.contains(words[1].text) else { continue }
                let valueTokens = Array(words[2...])
                let bytes: [UInt8]
                if valueTokens.count == 1, valueTokens[0].quoted {
                    bytes = valueTokens[0].bytes
                } else if valueTokens.count == 1 {
                    do throws(BootError) {
                        bytes = try decodeHex(valueTokens[0].text, separated: true)
                    } catch {
                        throw BootError(step: .learn, error.message, location: valueTokens[0].location)
                    }
                } else {
                    throw BootError(
                        step: .learn, "option \(words[1].text) has \(valueTokens.count) values, expected one",
                        location: valueTokens[1].location)
                }
                option = LeaseOption(client: "dhclient", interface: nil, bytes: bytes, location: words[0].location)
            }
            if var option {
                option.interface = interface
                found = option
            }
        }
        return found.map { [$0] } ?? []
    }

    /// The names dhclient writes this option under: the ones dhclient.conf declares with this code
    /// (`option redeye-plans code 224 = text;`), or bootstrap's `redeye-plans` for 224 when none is declared,
    /// and `unknown-CODE` for an undeclared option.
    func dhclientNames() -> Set<String> {
        var names: Set<String> = ["unknown-\(code)"]
        var declared = false
        for conf in ["/etc/dhcp/dhclient.conf", "/etc/dhclient.conf"] {
            guard let text = try? String(contentsOfFile: root + conf, encoding: .utf8) else { continue }
            for line in text.split(separator: "\n") {
                let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
                guard words.count >= 4, words[0] == "option", words[2] == "code" else { continue }
                declared = true
                if Int(words[3].trimmed(in: "=;")) == code {
                    names.insert(String(words[1]))
                }
            }
        }
        if !declared && code == 224 { names.insert("redeye-plans") }
        return names
    }

    // MARK: systemd-networkd

    /// networkd's lease file (`/run/systemd/netif/leases/IFINDEX`): KEY=VALUE lines; private options are
    /// `OPTION_224=<hex>`.
    func parseNetworkd(_ path: String) throws(BootError) -> [LeaseOption] {
        try parseNetworkd(bytes: try read(path), path: path)
    }

    func parseNetworkd(bytes: [UInt8], path: String) throws(BootError) -> [LeaseOption] {
        let index = Int(lastPathComponent(path))
        return try parseKeyValues(
            bytes: bytes, path: path, client: "networkd", interface: index.flatMap(interfaceName),
            format: "a systemd-networkd lease file")
    }

    // MARK: busybox udhcpc

    /// What the image's udhcpc script (`redeye image build`, bootstrap/image/udhcpc.script) keeps of a lease:
    /// `/var/lib/udhcpc/IFACE.lease`, KEY=VALUE lines as networkd writes them (`OPTION_224=<hex>`), from the
    /// `optNNN` variables udhcpc gives its script.
    func parseUdhcpc(_ path: String) throws(BootError) -> [LeaseOption] {
        try parseUdhcpc(bytes: try read(path), path: path)
    }

    func parseUdhcpc(bytes: [UInt8], path: String) throws(BootError) -> [LeaseOption] {
        let interface = String(lastPathComponent(path).dropLast(".lease".count))
        return try parseKeyValues(
            bytes: bytes, path: path, client: "udhcpc", interface: interface, format: "a udhcpc lease file")
    }

    /// KEY=VALUE lines with the option as `OPTION_CODE=<hex>` (networkd's lease format, and the udhcpc script's).
    func parseKeyValues(
        bytes: [UInt8], path: String, client: String, interface: String?, format: String
    ) throws(BootError) -> [LeaseOption] {
        guard let text = String(bytes: bytes, encoding: .utf8) else {
            throw BootError(step: .learn, "\(path) is not text: not \(format)")
        }
        let key = "OPTION_\(code)="
        for (i, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            if line.isEmpty || line.hasPrefix("#") { continue }
            guard line.contains("=") else {
                throw BootError(
                    step: .learn, "expected KEY=VALUE (not \(format), or a truncated one)",
                    location: SourceLocation(file: path, line: i + 1, column: 1))
            }
            guard line.hasPrefix(key) else { continue }
            let location = SourceLocation(file: path, line: i + 1, column: key.count + 1)
            do throws(BootError) {
                let bytes = try decodeHex(String(line.dropFirst(key.count)), separated: false)
                return [LeaseOption(client: client, interface: interface, bytes: bytes, location: location)]
            } catch {
                throw BootError(step: .learn, error.message, location: location)
            }
        }
        return []
    }

    func interfaceName(ifindex: Int) -> String? {
        let base = sysfs + "/class/net"
        for name in (try? FileManager.default.contentsOfDirectory(atPath: base)) ?? [] {
            let text = try? String(contentsOfFile: base + "/" + name + "/ifindex", encoding: .utf8)
            if text?.trimmed() == String(ifindex) { return name }
        }
        return nil
    }

    // MARK: dhcpcd

    /// dhcpcd keeps the server's raw DHCP packet: a 236-byte BOOTP header, the magic cookie, then options as
    /// code, length, data. An option given several times is concatenated (RFC 3396).
    func parseDhcpcd(_ path: String) throws(BootError) -> [LeaseOption] {
        try parseDhcpcd(bytes: try read(path), path: path)
    }

    func parseDhcpcd(bytes: [UInt8], path: String) throws(BootError) -> [LeaseOption] {
        func at(_ offset: Int) -> SourceLocation { SourceLocation(file: path, line: 1, column: offset + 1) }
        guard bytes.count >= 240 else {
            throw BootError(
                step: .learn, "\(bytes.count) bytes: too short for a DHCP packet (truncated lease?)", location: at(0))
        }
        guard bytes[236..<240].elementsEqual([99, 130, 83, 99]) else {
            throw BootError(step: .learn, "no DHCP magic cookie at byte 236: not a dhcpcd lease", location: at(236))
        }
        var value: [UInt8]?
        var start = 0
        var i = 240
        while i < bytes.count {
            let code = Int(bytes[i])
            if code == 0 {
                i += 1
                continue
            }
            if code == 255 { break }
            guard i + 1 < bytes.count, i + 2 + Int(bytes[i + 1]) <= bytes.count else {
                throw BootError(
                    step: .learn, "option \(code) runs past the end of the file (truncated lease)", location: at(i))
            }
            let length = Int(bytes[i + 1])
            if code == self.code {
                if value == nil { start = i }
                value = (value ?? []) + bytes[(i + 2)..<(i + 2 + length)]
            }
            i += 2 + length
        }
        guard let value else { return [] }
        let name = lastPathComponent(path).replacing(".lease", with: "")
        let interface = name.hasPrefix("dhcpcd-") ? String(name.dropFirst(7)) : name
        return [LeaseOption(client: "dhcpcd", interface: interface, bytes: value, location: at(start))]
    }
}

/// `68:74:74` (dhclient, NetworkManager) or `687474` (networkd) to bytes; one pass over the text.
func decodeHex(_ text: String, separated: Bool) throws(BootError) -> [UInt8] {
    func bad(_ why: String = "") -> BootError {
        BootError(step: .learn, "'\(text.prefix(40))' is not hex-encoded option data\(why)")
    }
    func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case 48...57: c - 48
        case 65...70: c - 55
        case 97...102: c - 87
        default: nil
        }
    }
    var bytes: [UInt8] = []
    var pending: UInt8?
    var digitsInGroup = 0
    for c in text.utf8 {
        if separated && c == UInt8(ascii: ":") {
            guard digitsInGroup > 0 else { throw bad() }
            if let high = pending { bytes.append(high) }
            pending = nil
            digitsInGroup = 0
            continue
        }
        guard let value = nibble(c) else { throw bad() }
        digitsInGroup += 1
        if separated && digitsInGroup > 2 { throw bad() }
        if let high = pending {
            bytes.append(high << 4 | value)
            pending = nil
        } else {
            pending = value
        }
    }
    if separated {
        guard digitsInGroup > 0 else { throw bad() }
        if let high = pending { bytes.append(high) }
    } else if pending != nil {
        throw bad(" (odd number of digits)")
    }
    return bytes
}

/// The statements of a dhclient lease file, with positions.
struct DhclientLeaseParser {
    struct Token {
        var text: String
        var bytes: [UInt8]
        var quoted: Bool
        var location: SourceLocation
    }

    struct Statement {
        var tokens: [Token]
        var block: Bool
        var children: [Statement]
    }

    let bytes: [UInt8]
    let file: String
    var index = 0
    var line = 1
    var column = 1

    init(bytes: [UInt8], file: String) {
        self.bytes = bytes
        self.file = file
    }

    var location: SourceLocation { SourceLocation(file: file, line: line, column: column) }

    mutating func advance() {
        if bytes[index] == 10 {
            line += 1
            column = 1
        } else {
            column += 1
        }
        index += 1
    }

    /// dhclient writes blocks two deep (`lease { … }`); anything far deeper is not a lease file.
    static let maxDepth = 16

    mutating func parse() throws(BootError) -> [Statement] {
        let statements = try parseStatements(until: nil, depth: 0)
        return statements
    }

    mutating func parseStatements(until opener: SourceLocation?, depth: Int) throws(BootError) -> [Statement] {
        if let opener, depth > Self.maxDepth {
            throw BootError(
                step: .learn, "blocks nested deeper than \(Self.maxDepth) (not a lease file)", location: opener)
        }
        var statements: [Statement] = []
        var tokens: [Token] = []
        while true {
            skipSpaceAndComments()
            guard index < bytes.count else {
                if let opener {
                    throw BootError(
                        step: .learn, "the block opened here is never closed (truncated lease file?)", location: opener
                    )
                }
                if let first = tokens.first {
                    throw BootError(
                        step: .learn, "statement not ended by ';' (truncated lease file?)", location: first.location)
                }
                return statements
            }
            let here = location
            switch bytes[index] {
            case UInt8(ascii: ";"):
                advance()
                if !tokens.isEmpty { statements.append(Statement(tokens: tokens, block: false, children: [])) }
                tokens = []
            case UInt8(ascii: "{"):
                advance()
                let children = try parseStatements(until: here, depth: depth + 1)
                statements.append(Statement(tokens: tokens, block: true, children: children))
                tokens = []
            case UInt8(ascii: "}"):
                guard opener != nil else {
                    throw BootError(step: .learn, "'}' without a block to close", location: here)
                }
                if let first = tokens.first {
                    throw BootError(step: .learn, "statement not ended by ';'", location: first.location)
                }
                advance()
                return statements
            case UInt8(ascii: "\""):
                tokens.append(try quoted())
            default:
                var word: [UInt8] = []
                while index < bytes.count, !Self.delimiters.contains(bytes[index]) {
                    word.append(bytes[index])
                    advance()
                }
                guard let text = String(bytes: word, encoding: .utf8) else {
                    throw BootError(step: .learn, "bytes that are not text (corrupt lease file?)", location: here)
                }
                tokens.append(Token(text: text, bytes: word, quoted: false, location: here))
            }
        }
    }

    static let delimiters: Set<UInt8> = [
        32, 9, 10, 13, UInt8(ascii: ";"), UInt8(ascii: "{"), UInt8(ascii: "}"), UInt8(ascii: "\""), UInt8(ascii: "#"),
    ]

    mutating func skipSpaceAndComments() {
        while index < bytes.count {
            if bytes[index] == UInt8(ascii: "#") {
                while index < bytes.count, bytes[index] != 10 { advance() }
            } else if [32, 9, 10, 13].contains(bytes[index]) {
                advance()
            } else {
                return
            }
        }
    }

    /// A double-quoted string as dhclient writes it: `\"`, `\\` and octal `\ooo` escapes.
    mutating func quoted() throws(BootError) -> Token {
        let start = location
        advance()
        var value: [UInt8] = []
        while index < bytes.count {
            let b = bytes[index]
            if b == UInt8(ascii: "\"") {
                advance()
                return Token(text: String(decoding: value, as: UTF8.self), bytes: value, quoted: true, location: start)
            }
            if b == 10 { break }
            if b == UInt8(ascii: "\\"), index + 1 < bytes.count {
                advance()
                let e = bytes[index]
                if (48...55).contains(e), index + 2 < bytes.count, (48...55).contains(bytes[index + 1]),
                    (48...55).contains(bytes[index + 2])
                {
                    let n = (Int(e) - 48) * 64 + (Int(bytes[index + 1]) - 48) * 8 + (Int(bytes[index + 2]) - 48)
                    guard n <= 255 else { throw BootError(step: .learn, "bad octal escape", location: location) }
                    value.append(UInt8(n))
                    advance()
                    advance()
                    advance()
                    continue
                }
                value.append(e)
                advance()
                continue
            }
            value.append(b)
            advance()
        }
        throw BootError(
            step: .learn, "string not closed on its line (corrupt or truncated lease file)", location: start)
    }
}
