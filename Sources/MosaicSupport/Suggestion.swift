/// "Did you mean" for misspelt names: the one rule the whole program uses (roster fields
/// and runtimes, host function options, commands, API names, agent names). Lua reaches it
/// as `require "mosaic._suggest"`.
public enum Suggestion {
  /// The candidate closest to `word`, when it is close enough to be a plausible typo:
  /// equal ignoring case and `-`/`_`; else the closest by edit distance (a swap of two
  /// neighbouring characters counts as one edit) within 1 for words of 3 or 4 characters,
  /// 2 from 5, 3 from 9 (none for shorter words: every short name is near them); else a candidate ending in `_<word>` (`interval` for
  /// `heartbeat_interval`) for words of 4 characters or more. Ties go to the earlier
  /// candidate.
  public static func closest(to word: String, in candidates: [String]) -> String? {
    let w = normal(word)
    if w.isEmpty { return nil }
    if let exact = candidates.first(where: { normal($0) == w }) { return exact }
    var best: (String, Int)? = nil
    for c in candidates {
      let d = distance(w, normal(c))
      if best == nil || d < best!.1 { best = (c, d) }
    }
    if let (candidate, d) = best, d <= limit(forLength: w.count) { return candidate }
    if w.count >= 4, let suffix = candidates.first(where: { normal($0).hasSuffix("_" + w) }) {
      return suffix
    }
    return nil
  }

  /// `" (did you mean 'x'?)"` for the closest candidate, or "" when none is close.
  public static func hint(for word: String, in candidates: [String]) -> String {
    closest(to: word, in: candidates).map { " (did you mean '\($0)'?)" } ?? ""
  }

  /// Most edits a word of `length` characters may be from a suggestion.
  static func limit(forLength length: Int) -> Int {
    length >= 9 ? 3 : length >= 5 ? 2 : length >= 3 ? 1 : 0
  }

  static func normal(_ s: String) -> String {
    String(s.lowercased().map { $0 == "-" ? "_" : $0 })
  }

  /// Edit distance over Unicode scalars (insert, delete, substitute, and swap of two
  /// neighbours: optimal string alignment).
  public static func distance(_ a: String, _ b: String) -> Int {
    let x = Array(a.unicodeScalars)
    let y = Array(b.unicodeScalars)
    if x.isEmpty { return y.count }
    if y.isEmpty { return x.count }
    var before = [Int](repeating: 0, count: y.count + 1)
    var previous = Array(0...y.count)
    var current = [Int](repeating: 0, count: y.count + 1)
    for i in 1...x.count {
      current[0] = i
      for j in 1...y.count {
        let cost = x[i - 1] == y[j - 1] ? 0 : 1
        current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
        if i > 1, j > 1, x[i - 1] == y[j - 2], x[i - 2] == y[j - 1] {
          current[j] = min(current[j], before[j - 2] + 1)
        }
      }
      (before, previous, current) = (previous, current, before)
    }
    return previous[y.count]
  }
}
