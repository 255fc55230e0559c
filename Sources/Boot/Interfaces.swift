import FoundationEssentials
import Glibc
import Schema
import Text

/// A network interface as the kernel shows it under `/sys/class/net`.
public struct NetworkInterface: Sendable, Codable, Equatable {
    public var name: String
    /// Lowercase, colon-separated.
    public var mac: String
    /// ARPHRD type 1.
    public var ethernet: Bool
    /// `addr_assign_type`: permanent, random, stolen or set.
    public var addressAssignment: String
    /// Backed by a device (`/sys/class/net/IF/device` exists): a real NIC, not a bridge or veth.
    public var physical: Bool

    enum CodingKeys: String, CodingKey {
        case name, mac, ethernet, physical
        case addressAssignment = "address_assignment"
    }
}

/// Reads interfaces from a sysfs tree (`/sys` on a host, a directory of files in tests).
public struct InterfaceReader: Sendable {
    public var sysfs: String

    public init(sysfs: String = "/sys") { self.sysfs = sysfs }

    /// Every interface with a MAC address, loopback and all-zero addresses left out, sorted by name.
    public func interfaces() throws(BootError) -> [NetworkInterface] {
        let base = sysfs + "/class/net"
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: base) else {
            throw BootError(step: .learn, "cannot list network interfaces in \(base)")
        }
        var result: [NetworkInterface] = []
        for name in names.sorted() {
            let dir = base + "/" + name
            guard let raw = read(dir + "/address"), let mac = try? ValueNormalizer.macAddress(raw),
                mac != "00:00:00:00:00:00"
            else { continue }
            let type = read(dir + "/type").flatMap { Int($0) }
            if type == 772 { continue }  // loopback
            let assignment =
                switch read(dir + "/addr_assign_type").flatMap({ Int($0) }) {
                case 0: "permanent"
                case 1: "random"
                case 2: "stolen"
                case 3: "set"
                default: "unknown"
                }
            result.append(
                NetworkInterface(
                    name: name, mac: mac, ethernet: type == 1, addressAssignment: assignment,
                    physical: FileManager.default.fileExists(atPath: dir + "/device")))
        }
        return result
    }

    func read(_ path: String) -> String? {
        (try? String(contentsOfFile: path, encoding: .utf8))?.trimmed()
    }
}

/// Picks the interface the machine booted from: `BOOTIF=` on the kernel command line, else the interface whose
/// DHCP lease carried the plans option, else the first physical Ethernet interface with a permanent address,
/// else the first Ethernet interface.
public func bootInterface(
    _ interfaces: [NetworkInterface], commandLine: KernelCommandLine, leaseInterface: String?
) throws(BootError) -> (NetworkInterface, reason: String) {
    if let bootif = commandLine["BOOTIF"] {
        // PXELINUX writes BOOTIF=01-aa-bb-cc-dd-ee-ff (01 = Ethernet hardware type).
        var text = bootif
        if text.count == 20, text.hasPrefix("01-") { text = String(text.dropFirst(3)) }
        guard let mac = try? ValueNormalizer.macAddress(text) else {
            throw BootError(step: .learn, "BOOTIF=\(bootif) on the kernel command line is not a MAC address")
        }
        guard let found = interfaces.first(where: { $0.mac == mac }) else {
            throw BootError(
                step: .learn,
                "BOOTIF=\(bootif) names \(mac), but no interface has that address (have: \(interfaces.map { "\($0.name) \($0.mac)" }.joined(separator: ", ")))"
            )
        }
        return (found, "BOOTIF on the kernel command line")
    }
    if let leaseInterface, let found = interfaces.first(where: { $0.name == leaseInterface }) {
        return (found, "it holds the DHCP lease")
    }
    let ethernet = interfaces.filter(\.ethernet)
    if let found = ethernet.first(where: { $0.physical && $0.addressAssignment == "permanent" }) {
        return (found, "first physical Ethernet interface")
    }
    if let found = ethernet.first { return (found, "first Ethernet interface") }
    throw BootError(step: .learn, "no Ethernet interface with a MAC address was found")
}

/// The kernel command line (`/proc/cmdline`): `key=value` and bare words, double quotes honoured.
public struct KernelCommandLine: Sendable {
    public var parameters: [(key: String, value: String?)]

    public init(_ text: String) {
        var words: [String] = []
        var current = ""
        var quoted = false
        var inWord = false
        for c in text {
            if c == "\"" {
                quoted.toggle()
                inWord = true
            } else if c.isWhitespace && !quoted {
                if inWord { words.append(current) }
                current = ""
                inWord = false
            } else {
                current.append(c)
                inWord = true
            }
        }
        if inWord { words.append(current) }
        parameters = words.map { word in
            guard let eq = word.firstIndex(of: "=") else { return (word, nil) }
            return (String(word[..<eq]), String(word[word.index(after: eq)...]))
        }
    }

    public static func read(_ path: String) -> KernelCommandLine {
        KernelCommandLine((try? String(contentsOfFile: path, encoding: .utf8)) ?? "")
    }

    /// The last value given for `key` (later words win, as in the kernel).
    public subscript(_ key: String) -> String? {
        parameters.last { $0.key == key }?.value
    }
}
