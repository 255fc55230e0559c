/// Redeye's version, and which versions speak the same deploy-to-host contract: the deployer and the `redeye`
/// on a host must agree on the commands and flags a deploy sends (`bundle apply`, `--repair`, …).
public enum RedeyeVersion {
    public static let current = "0.1.0"

    /// Whether a host's `redeye --version` answer speaks this version's contract: the same major and minor
    /// version (before 1.0 a minor version may change the contract; patch releases never do).
    public static func isCompatible(_ answer: String, with version: String = current) -> Bool {
        func majorMinor(_ text: String) -> [Substring] {
            Array(text.split(separator: ".").prefix(2))
        }
        let words = answer.split(whereSeparator: \.isWhitespace)
        guard words.count == 1, let theirs = words.first.map(String.init), theirs.split(separator: ".").count == 3,
            theirs.allSatisfy({ $0.isNumber || $0 == "." })
        else {
            return false
        }
        return majorMinor(theirs) == majorMinor(version)
    }
}
