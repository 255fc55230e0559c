import FoundationEssentials
import Glibc
import Text
import YAML

/// A place the plans repository might be, and where that came from. Only a hint: what is fetched from it is
/// used only when its commit is signed by a trusted key.
public struct PlansHint: Sendable, Encodable, Equatable {
    /// dhcp, dns, cmdline, image or flag.
    public var source: String
    /// Where exactly: lease file and line, environment variable, DNS name, file.
    public var origin: String
    public var interface: String?
    public var url: String
}

/// What discovery found: usable hints in order of precedence, and every hint or file it had to reject.
public struct Discovery: Sendable {
    public var hints: [PlansHint]
    public var rejected: [BootError]
    /// The interface whose lease gave the first DHCP hint.
    public var leaseInterface: String?
}

/// Schemes the agent fetches plans over. https is allowed for plans (unlike bundles) because trust comes from
/// the commit signature, not the transport.
let plansSchemes: Set<String> = ["ssh", "file", "git", "http", "https"]

/// Checks that a hint's text is a URL the agent can fetch: at most 255 bytes (one DHCP option), printable,
/// an absolute path or a URL with a supported scheme and a host. Returns the reason when not.
public func checkPlansURL(_ bytes: [UInt8]) -> Result<String, BootError> {
    if bytes.count > 255 {
        return .failure(
            BootError(step: .learn, "the value is \(bytes.count) bytes: longer than one DHCP option (255) allows"))
    }
    guard !bytes.isEmpty else { return .failure(BootError(step: .learn, "the value is empty")) }
    guard bytes.allSatisfy({ $0 > 32 && $0 < 127 }), let text = String(bytes: bytes, encoding: .ascii) else {
        let shown = bytes.prefix(40).map { $0 > 32 && $0 < 127 ? String(UnicodeScalar($0)) : "." }.joined()
        return .failure(BootError(step: .learn, "'\(shown)' is not a URL (spaces or non-printable bytes)"))
    }
    if text.hasPrefix("/") { return .success(text) }
    guard let colon = text.firstIndex(of: ":"), text[colon...].hasPrefix("://") else {
        return .failure(
            BootError(step: .learn, "'\(text)' is not a URL (expected scheme://host/path or an absolute path)"))
    }
    let scheme = text[..<colon].lowercased()
    guard plansSchemes.contains(scheme) else {
        return .failure(
            BootError(
                step: .learn,
                "'\(text)': unsupported scheme '\(scheme)' (use \(plansSchemes.sorted().joined(separator: ", ")))"))
    }
    guard let url = URL(string: text), scheme == "file" || !(url.host ?? "").isEmpty else {
        return .failure(BootError(step: .learn, "'\(text)' is not a URL (no host)"))
    }
    return .success(text)
}

/// Gathers plans hints in order: an explicit URL, DHCP leases (newest first), DNS, the kernel command line
/// (`redeye.plans=`), the image default (`/etc/redeye/plans.url`).
public struct PlansDiscovery: Sendable {
    public var layout: BootLayout
    public var optionCode: Int
    public var explicitURL: String?
    public var environment: [String: String]
    public var commandLine: KernelCommandLine
    public var dns: DNSDiscovery?

    public init(
        layout: BootLayout, optionCode: Int, explicitURL: String?, environment: [String: String],
        commandLine: KernelCommandLine, dns: DNSDiscovery?
    ) {
        self.layout = layout
        self.optionCode = optionCode
        self.explicitURL = explicitURL
        self.environment = environment
        self.commandLine = commandLine
        self.dns = dns
    }

    public func discover() -> Discovery {
        var hints: [PlansHint] = []
        var rejected: [BootError] = []
        func consider(_ bytes: [UInt8], source: String, origin: String, interface: String?, location: SourceLocation?) {
            switch checkPlansURL(bytes) {
            case .success(let url):
                if !hints.contains(where: { $0.url == url && $0.source == source }) {
                    hints.append(PlansHint(source: source, origin: origin, interface: interface, url: url))
                }
            case .failure(var error):
                error.location = location
                if location == nil { error.message = "\(origin): \(error.message)" }
                rejected.append(error)
            }
        }
        if let explicitURL {
            consider(Array(explicitURL.utf8), source: "flag", origin: "--plans", interface: nil, location: nil)
        }
        let leases = LeaseReader(
            root: layout.root, sysfs: layout.sysfs, code: optionCode, environment: environment
        ).read()
        rejected += leases.problems
        var leaseInterface: String?
        for option in leases.options {
            let before = hints.count
            consider(
                option.bytes, source: "dhcp", origin: "\(option.client) lease \(option.location)",
                interface: option.interface, location: option.location)
            if hints.count > before, leaseInterface == nil { leaseInterface = option.interface }
        }
        if let dns {
            let (found, problems) = dns.lookup()
            for (name, url) in found {
                consider(Array(url.utf8), source: "dns", origin: name, interface: nil, location: nil)
            }
            rejected += problems
        }
        if let value = commandLine["redeye.plans"] {
            consider(
                Array(value.utf8), source: "cmdline", origin: "redeye.plans= on the kernel command line",
                interface: nil, location: nil)
        }
        if let data = FileManager.default.contents(atPath: layout.imageDefaultURL) {
            let text = String(decoding: data, as: UTF8.self).trimmed()
            consider(Array(text.utf8), source: "image", origin: layout.imageDefaultURL, interface: nil, location: nil)
        }
        return Discovery(hints: hints, rejected: rejected, leaseInterface: leaseInterface)
    }
}
