/// "Did you mean" for misspelt names: the closest candidate by edit distance.
enum Suggestion {
  /// The candidate closest to `word`, when it is close enough to be a plausible typo:
  /// equal ignoring case and `-`/`_`, a suffix after `_` (`interval` for
  /// `heartbeat_interval`), or within an edit distance of 1 for short words, 2 from 5
  /// characters, 3 from 9.
  static func closest(to word: String, in candidates: [String]) -> String? {
    func normal(_ s: String) -> String {
      String(s.lowercased().map { $0 == "-" ? "_" : $0 })
    }
    let w = normal(word)
    if let exact = candidates.first(where: { normal($0) == w }) { return exact }
    var best: (String, Int)? = nil
    for c in candidates {
      let d = distance(w, normal(c))
      if best == nil || d < best!.1 { best = (c, d) }
    }
    if let (candidate, d) = best {
      let length = w.count
      let limit = length >= 9 ? 3 : length >= 5 ? 2 : 1
      if d <= limit { return candidate }
    }
    if w.count >= 4, let suffix = candidates.first(where: { normal($0).hasSuffix("_" + w) }) {
      return suffix
    }
    return nil
  }

  /// Levenshtein distance over Unicode scalars.
  static func distance(_ a: String, _ b: String) -> Int {
    let x = Array(a.unicodeScalars)
    let y = Array(b.unicodeScalars)
    if x.isEmpty { return y.count }
    if y.isEmpty { return x.count }
    var previous = Array(0...y.count)
    var current = [Int](repeating: 0, count: y.count + 1)
    for i in 1...x.count {
      current[0] = i
      for j in 1...y.count {
        let cost = x[i - 1] == y[j - 1] ? 0 : 1
        current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
      }
      swap(&previous, &current)
    }
    return previous[y.count]
  }
}
