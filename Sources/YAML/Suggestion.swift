/// The candidate closest to `word` by edit distance, if one is close enough to be a likely typo.
public func closestMatch(to word: String, among candidates: some Sequence<String>) -> String? {
    let limit = max(1, min(3, word.count / 3 + 1))
    var best: (String, Int)?
    for candidate in candidates {
        let d = editDistance(word.lowercased(), candidate.lowercased())
        if d <= limit, best == nil || d < best!.1 || (d == best!.1 && candidate < best!.0) {
            best = (candidate, d)
        }
    }
    return best?.0
}

/// " (did you mean 'x'?)" or " (expected one of: a, b, c)", for the end of an error message.
public func suggestionSuffix(for word: String, among candidates: [String]) -> String {
    if let match = closestMatch(to: word, among: candidates) { return " (did you mean '\(match)'?)" }
    if candidates.isEmpty { return "" }
    return " (expected one of: \(candidates.sorted().joined(separator: ", ")))"
}

/// Levenshtein distance over Unicode scalars.
func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a.unicodeScalars)
    let b = Array(b.unicodeScalars)
    if a.isEmpty { return b.count }
    if b.isEmpty { return a.count }
    var previous = Array(0...b.count)
    var current = [Int](repeating: 0, count: b.count + 1)
    for i in 1...a.count {
        current[0] = i
        for j in 1...b.count {
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
        }
        swap(&previous, &current)
    }
    return previous[b.count]
}
