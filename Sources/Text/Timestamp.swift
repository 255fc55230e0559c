import FoundationEssentials

/// The one timestamp style of every output, text and JSON: ISO 8601 in UTC to the second, `2026-12-01T19:27:20Z`.
public func iso8601(_ date: Date) -> String {
    date.formatted(Date.ISO8601FormatStyle())
}

/// Seconds since 1970 as `iso8601(_:)` prints them.
public func iso8601(secondsSince1970 seconds: Int64) -> String {
    iso8601(Date(timeIntervalSince1970: TimeInterval(seconds)))
}

/// A UTC timestamp in the style `iso8601(_:)` prints, with or without fractional seconds, or nil.
public func parseISO8601(_ text: String) -> Date? {
    try? Date.ISO8601FormatStyle(includingFractionalSeconds: text.contains(".")).parse(text)
}
