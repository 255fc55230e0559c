import FileSystem
import FoundationEssentials
import Glibc
import Net

/// The DNS fallback: a TXT record `url=…` at `_redeye-plans._tcp.DOMAIN` for each search domain in
/// resolv.conf, asked of its name servers over UDP. A hint like any other: the domain itself comes from DHCP.
public struct DNSDiscovery: Sendable {
    public var resolvConf: String
    public var service: String
    public var timeout: Duration
    /// The name servers' port (53; another in tests).
    public var port: UInt16

    public init(
        resolvConf: String, service: String = "_redeye-plans._tcp", timeout: Duration = .seconds(1), port: UInt16 = 53
    ) {
        self.resolvConf = resolvConf
        self.service = service
        self.timeout = timeout
        self.port = port
    }

    /// (record name, url) for each record found, and what went wrong on the way.
    public func lookup() -> (found: [(String, String)], problems: [BootError]) {
        guard let text = try? String(contentsOfFile: resolvConf, encoding: .utf8) else { return ([], []) }
        var servers: [String] = []
        var domains: [String] = []
        for line in text.split(separator: "\n") {
            let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
            guard words.count >= 2 else { continue }
            switch words[0] {
            case "nameserver": servers.append(words[1])
            case "search", "domain": domains += words.dropFirst().filter { !domains.contains($0) }
            default: break
            }
        }
        var found: [(String, String)] = []
        var problems: [BootError] = []
        for domain in domains.prefix(6) {
            let name = "\(service).\(domain.hasSuffix(".") ? String(domain.dropLast()) : domain)"
            for server in servers.prefix(3) {
                do {
                    let strings = try queryTXT(name, server: server)
                    for string in strings where string.hasPrefix("url=") {
                        found.append(("TXT \(name) (from \(server))", String(string.dropFirst(4))))
                    }
                    break
                } catch {
                    problems.append(error)
                }
            }
        }
        return (found, problems)
    }

    /// One TXT query over UDP; the record's strings (empty when the name has no TXT record).
    func queryTXT(_ name: String, server: String) throws(BootError) -> [String] {
        let id = UInt16.random(in: 0...UInt16.max)
        var packet: [UInt8] = [UInt8(id >> 8), UInt8(id & 0xff), 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]
        for label in name.split(separator: ".") {
            let bytes = Array(label.utf8)
            guard !bytes.isEmpty, bytes.count < 64 else {
                throw BootError(step: .learn, "DNS: '\(name)' is not a valid name")
            }
            packet.append(UInt8(bytes.count))
            packet += bytes
        }
        packet += [0, 0, 16, 0, 1]  // root label, type TXT, class IN

        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        guard inet_pton(AF_INET, server, &address.sin_addr) == 1 else {
            throw BootError(step: .learn, "DNS: name server \(server) is not an IPv4 address (IPv6 is not asked)")
        }
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw BootError(step: .learn, "DNS: cannot open a socket") }
        defer { close(fd) }
        // Connected: the kernel then takes datagrams from the server's own address and port only, so an answer
        // from anywhere else (a spoofer guessing the query id) never reaches us.
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else {
            throw BootError(step: .learn, "DNS: cannot ask \(server): \(SystemError.describe(errno))")
        }
        let sent = send(fd, packet, packet.count, 0)
        guard sent == packet.count else {
            throw BootError(step: .learn, "DNS: cannot ask \(server): \(SystemError.describe(errno))")
        }
        var buffer = [UInt8](repeating: 0, count: 4096)
        let deadline = ContinuousClock.now.advanced(by: timeout)
        while ContinuousClock.now < deadline {
            let left = deadline - ContinuousClock.now
            let ms = Int32(clamping: max(1, left.wholeMilliseconds))
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&pfd, 1, ms) == 1 else { break }
            let n = recv(fd, &buffer, buffer.count, 0)
            guard n >= 12 else { continue }
            let answer = Array(buffer[0..<n])
            // Our query's id, an answer (QR), and our question echoed back; anything else is not our answer.
            guard answer[0] == packet[0], answer[1] == packet[1], answer[2] & 0x80 != 0,
                answer.count >= packet.count, answer[4..<6] == packet[4..<6],
                answer[12..<packet.count].elementsEqual(packet[12...])
            else { continue }
            if answer[2] & 0x02 != 0 {
                throw BootError(step: .learn, "DNS: \(server)'s answer for \(name) was truncated (TC); not used")
            }
            return try parseTXT(answer, name: name, server: server)
        }
        throw BootError(step: .learn, "DNS: no answer from \(server) for \(name) within \(timeout)")
    }

    func parseTXT(_ m: [UInt8], name: String, server: String) throws(BootError) -> [String] {
        let malformed = BootError(step: .learn, "DNS: malformed answer from \(server) for \(name)")
        let rcode = m[3] & 0x0f
        if rcode == 3 { return [] }  // NXDOMAIN
        guard rcode == 0 else { throw BootError(step: .learn, "DNS: \(server) answered error \(rcode) for \(name)") }
        let questions = Int(m[4]) << 8 | Int(m[5])
        let answers = Int(m[6]) << 8 | Int(m[7])
        var i = 12
        func skipName() throws(BootError) {
            while true {
                guard i < m.count else { throw malformed }
                let length = Int(m[i])
                if length == 0 {
                    i += 1
                    return
                }
                if length & 0xc0 == 0xc0 {
                    i += 2
                    return
                }
                i += 1 + length
            }
        }
        for _ in 0..<questions {
            try skipName()
            i += 4
        }
        var strings: [String] = []
        for _ in 0..<answers {
            try skipName()
            guard i + 10 <= m.count else { throw malformed }
            let type = Int(m[i]) << 8 | Int(m[i + 1])
            let length = Int(m[i + 8]) << 8 | Int(m[i + 9])
            i += 10
            guard i + length <= m.count else { throw malformed }
            if type == 16 {
                var j = i
                var value: [UInt8] = []
                while j < i + length {
                    let l = Int(m[j])
                    guard j + 1 + l <= i + length else { throw malformed }
                    value += m[(j + 1)..<(j + 1 + l)]
                    j += 1 + l
                }
                strings.append(String(decoding: value, as: UTF8.self))
            }
            i += length
        }
        return strings
    }
}
