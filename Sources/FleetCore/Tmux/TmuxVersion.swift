/// A tmux version as tmux names its releases: `3.2`, `3.3a`, `3.4-rc2`, `next-3.4`
/// (a development build heading for 3.4), optionally after `tmux ` (as `tmux -V` prints).
///
/// Order: `3.4-rc` and `next-3.4` < `3.4` < `3.4a` < `3.4b` < `3.5`. A pre-release counts
/// as older than its release, so a feature check never trusts a build that may lack it.
public struct TmuxVersion: Sendable, Equatable, Comparable, CustomStringConvertible {
  public var major: Int
  public var minor: Int
  /// 0 for none, 1 for `a`, 2 for `b`, ...
  public var letter: Int
  /// `-rcN` or `next-`.
  public var prerelease: Bool

  public init(major: Int, minor: Int, letter: Int = 0, prerelease: Bool = false) {
    self.major = major
    self.minor = minor
    self.letter = letter
    self.prerelease = prerelease
  }

  /// Parses a version string; nil for anything else (`master`, `openbsd-7.4`, empty).
  public init?(_ text: String) {
    var s = Substring(text)
    while s.first == " " { s = s.dropFirst() }
    while s.last == " " || s.last == "\n" { s = s.dropLast() }
    if s.hasPrefix("tmux ") { s = s.dropFirst(5) }
    var pre = false
    if s.hasPrefix("next-") {
      s = s.dropFirst(5)
      pre = true
    }
    if let dash = s.firstIndex(of: "-") {
      let tail = s[s.index(after: dash)...]
      guard tail.hasPrefix("rc"), tail.dropFirst(2).allSatisfy(\.isASCIIDigit) else {
        return nil
      }
      pre = true
      s = s[..<dash]
    }
    let parts = s.split(separator: ".", omittingEmptySubsequences: false)
    guard parts.count == 2, let major = Int(parts[0]), parts[0].allSatisfy(\.isASCIIDigit)
    else { return nil }
    var minorText = parts[1]
    var letter = 0
    if let last = minorText.last, let a = last.asciiValue, a >= 0x61, a <= 0x7A {
      letter = Int(a) - 0x60
      minorText = minorText.dropLast()
    }
    guard !minorText.isEmpty, minorText.allSatisfy(\.isASCIIDigit), let minor = Int(minorText)
    else { return nil }
    self.init(major: major, minor: minor, letter: letter, prerelease: pre)
  }

  public static func < (a: TmuxVersion, b: TmuxVersion) -> Bool {
    (a.major, a.minor, a.prerelease ? 0 : 1, a.letter)
      < (b.major, b.minor, b.prerelease ? 0 : 1, b.letter)
  }

  public var description: String {
    let base = "\(major).\(minor)"
    let suffix = letter > 0 ? String(UnicodeScalar(UInt8(0x60 + min(letter, 26)))) : ""
    return prerelease ? base + suffix + "-rc" : base + suffix
  }
}

extension Character {
  fileprivate var isASCIIDigit: Bool {
    guard let a = asciiValue else { return false }
    return a >= 0x30 && a <= 0x39
  }
}

/// Whether tmux `version` is at least `minimum` (`tmuxVersionAtLeast("3.2", "3.3a")` is
/// true). nil when either cannot be parsed, or `version` is nil: unknown, not older.
public func tmuxVersionAtLeast(_ minimum: String, _ version: String?) -> Bool? {
  guard let version, let v = TmuxVersion(version), let m = TmuxVersion(minimum) else {
    return nil
  }
  return v >= m
}
