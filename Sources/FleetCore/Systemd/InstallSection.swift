/// What the `[Install]` section of a unit file says, as far as the unit-file state of an
/// *instance* depends on it (systemd 252 src/shared/install.c `unit_file_load`,
/// `install_info_has_rules`, `install_info_has_also`; src/shared/conf-parser.c
/// `config_parse`).
///
/// For an instance, `DefaultInstance=` is ignored by systemd itself, and the values of `Alias=`,
/// `WantedBy=` and `RequiredBy=` matter only through "is the list empty". `parse` returns nil
/// for anything it cannot read exactly as systemd would (invalid UTF-8, carriage returns or NUL
/// bytes, a byte-order mark, a malformed section header, quotes or backslashes in an
/// `[Install]` value, an `Also=` entry that is not a plain valid unit name): the caller then
/// asks systemd.
struct InstallSection: Equatable {
  /// `Alias=`, `WantedBy=` or `RequiredBy=` is non-empty.
  var hasRules = false
  /// `Also=` names at least one unit.
  var hasAlso = false

  private static let whitespace: Set<UInt8> = [
    UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\n"), UInt8(ascii: "\r"),
  ]

  static func parse(_ bytes: [UInt8]) -> InstallSection? {
    guard !bytes.contains(0), !bytes.contains(UInt8(ascii: "\r")) else { return nil }
    guard let text = String(validating: bytes, as: UTF8.self), !text.contains("\u{FEFF}") else {
      return nil
    }
    var lines = text.utf8.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
      .map(Array.init)
    if lines.last?.isEmpty == true { lines.removeLast() }

    var state = Parser()
    var continuation: [UInt8]? = nil
    for line in lines {
      // Comment lines are dropped before continuation handling, as config_parse does.
      if let first = line.first(where: { !whitespace.contains($0) }),
        first == UInt8(ascii: "#") || first == UInt8(ascii: ";")
      {
        continue
      }
      var p = (continuation ?? []) + line
      var escaped = false
      for c in p {
        if escaped {
          escaped = false
        } else if c == UInt8(ascii: "\\") {
          escaped = true
        }
      }
      if escaped {
        p[p.count - 1] = UInt8(ascii: " ")
        continuation = p
        continue
      }
      continuation = nil
      guard state.parseLine(p) else { return nil }
    }
    if let continuation {
      guard state.parseLine(continuation) else { return nil }
    }
    return InstallSection(
      hasRules: state.alias || state.wantedBy || state.requiredBy, hasAlso: state.also)
  }

  private struct Parser {
    var inInstall = false
    var alias = false
    var wantedBy = false
    var requiredBy = false
    var also = false

    /// False when the line makes systemd fail or when this parser cannot follow it exactly.
    mutating func parseLine(_ raw: [UInt8]) -> Bool {
      let l = Self.strip(raw[...])
      guard !l.isEmpty else { return true }
      if l.first == UInt8(ascii: "[") {
        guard l.count >= 2, l.last == UInt8(ascii: "]") else { return false }
        let name = l.dropFirst().dropLast()
        for c in name {
          if c < 0x20 || c == 0x7f || c == UInt8(ascii: "\"") || c == UInt8(ascii: "'")
            || c == UInt8(ascii: "\\")
          {
            return false
          }
        }
        inInstall = Array(name) == Array("Install".utf8)
        return true
      }
      guard inInstall else { return true }
      guard let eq = l.firstIndex(of: UInt8(ascii: "=")), eq != l.startIndex else { return true }
      let key = String(decoding: Self.strip(l[l.startIndex..<eq]), as: UTF8.self)
      let value = Self.strip(l[(eq + 1)...])
      switch key {
      case "Alias": return Self.assign(value, &alias)
      case "WantedBy": return Self.assign(value, &wantedBy)
      case "RequiredBy": return Self.assign(value, &requiredBy)
      case "Also":
        guard Self.isPlain(value) else { return false }
        for word in Self.words(value) {
          guard UnitName.classify(String(decoding: word, as: UTF8.self)) != nil,
            !word.contains(UInt8(ascii: "%"))
          else { return false }
          also = true
        }
        return true
      default:
        // DefaultInstance= is ignored for instances; other keys only draw a warning.
        return true
      }
    }

    /// `config_parse_strv`: an empty value resets the list, words append to it.
    private static func assign(_ value: ArraySlice<UInt8>, _ flag: inout Bool) -> Bool {
      if value.isEmpty {
        flag = false
        return true
      }
      guard isPlain(value) else { return false }
      if !words(value).isEmpty { flag = true }
      return true
    }

    private static func isPlain(_ value: ArraySlice<UInt8>) -> Bool {
      !value.contains(where: {
        $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "'") || $0 == UInt8(ascii: "\\")
      })
    }

    private static func words(_ value: ArraySlice<UInt8>) -> [ArraySlice<UInt8>] {
      value.split(whereSeparator: { InstallSection.whitespace.contains($0) })
    }

    private static func strip(_ s: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
      var s = s
      while let f = s.first, InstallSection.whitespace.contains(f) { s.removeFirst() }
      while let l = s.last, InstallSection.whitespace.contains(l) { s.removeLast() }
      return s
    }
  }
}
