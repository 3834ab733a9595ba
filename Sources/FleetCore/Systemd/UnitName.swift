// Unit names as systemd 252 reads them (src/basic/unit-name.c, unit-file.c, path-util.c).

/// Unit-name rules, ported from systemd so the in-process unit-file resolver names things the
/// way systemd does.
enum UnitName {
  /// `foo.service`, `foo@.service`, `foo@bar.service`.
  enum Kind: Equatable {
    case plain
    case template
    case instance
  }

  /// Unit type suffixes systemd 252 knows.
  static let types: Set<String> = [
    "service", "mount", "swap", "socket", "target", "device", "automount", "timer", "path",
    "slice", "scope",
  ]

  /// `UNIT_NAME_MAX`: names must be shorter than this many bytes.
  static let maxLength = 256

  /// The kind of a valid unit name, nil for anything systemd would reject
  /// (`unit_name_is_valid(name, UNIT_NAME_ANY)`).
  static func classify(_ name: String) -> Kind? {
    var name = name
    return name.withUTF8 { classify(bytes: $0) }
  }

  private static func classify(bytes: UnsafeBufferPointer<UInt8>) -> Kind? {
    guard !bytes.isEmpty, bytes.count < maxLength else { return nil }
    guard let dot = bytes.lastIndex(of: UInt8(ascii: ".")), dot > 0 else { return nil }
    guard types.contains(String(decoding: bytes[(dot + 1)...], as: UTF8.self)) else { return nil }
    var at: Int? = nil
    for i in 0..<dot {
      let c = bytes[i]
      if c == UInt8(ascii: "@"), at == nil { at = i }
      guard isValidCharacter(c) || c == UInt8(ascii: "@") else { return nil }
    }
    guard let at else { return .plain }
    if at == 0 { return nil }
    return dot > at + 1 ? .instance : .template
  }

  /// `[A-Za-z0-9:_.\\-]`, the characters of a unit name besides `@`.
  static func isValidCharacter(_ c: UInt8) -> Bool {
    switch c {
    case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
      UInt8(ascii: "0")...UInt8(ascii: "9"):
      return true
    case UInt8(ascii: ":"), UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."),
      UInt8(ascii: "\\"):
      return true
    default:
      return false
    }
  }

  /// The type suffix (`service`), nil if there is no dot.
  static func type(of name: String) -> String? {
    let u = name.utf8
    guard let dot = u.lastIndex(of: UInt8(ascii: ".")) else { return nil }
    return String(decoding: u[u.index(after: dot)...], as: UTF8.self)
  }

  // These helpers run for every fleet unit on every `fleet ps`: they work on the UTF-8 bytes
  // (`@` and `.` are ASCII, and a valid unit name is ASCII only), not on Characters.

  /// The first `@` and the last `.`, when the `@` comes first.
  private static func atAndDot(_ name: String) -> (at: String.Index, dot: String.Index)? {
    let u = name.utf8
    guard let at = u.firstIndex(of: UInt8(ascii: "@")),
      let dot = u.lastIndex(of: UInt8(ascii: ".")), at < dot
    else { return nil }
    return (at, dot)
  }

  /// `foo@.service` for `foo@bar.service` (and for `foo@.service` itself); nil for plain names.
  static func template(of name: String) -> String? {
    guard let (at, dot) = atAndDot(name) else { return nil }
    let u = name.utf8
    return String(decoding: u[...at], as: UTF8.self) + String(decoding: u[dot...], as: UTF8.self)
  }

  /// `bar` for `foo@bar.service`; nil when there is no instance part.
  static func instance(of name: String) -> String? {
    guard let (at, dot) = atAndDot(name) else { return nil }
    let u = name.utf8
    let value = u[u.index(after: at)..<dot]
    return value.isEmpty ? nil : String(decoding: value, as: UTF8.self)
  }

  /// `foo@bar.service` from the template `foo@.service` (or any `foo@x.service`) and `bar`.
  static func replacingInstance(_ name: String, with instance: String) -> String? {
    guard let (at, dot) = atAndDot(name) else { return nil }
    let u = name.utf8
    let result =
      String(decoding: u[...at], as: UTF8.self) + instance
      + String(decoding: u[dot...], as: UTF8.self)
    return classify(result) == .instance ? result : nil
  }

  private static let templateTypes: Set<String> = ["service", "socket", "target", "timer", "path"]
  private static let aliasTypes: Set<String> = [
    "service", "socket", "target", "device", "timer", "path",
  ]

  /// `unit_type_may_template()`.
  static func mayTemplate(_ type: String?) -> Bool {
    guard let type else { return false }
    return templateTypes.contains(type)
  }

  /// `unit_type_may_alias()`.
  static func mayAlias(_ type: String?) -> Bool {
    guard let type else { return false }
    return aliasTypes.contains(type)
  }

  private static let ignoredNames: Set<String> = ["lost+found", "aquota.user", "aquota.group"]
  private static let backupSuffixes: Set<String> = [
    "rpmnew", "rpmsave", "rpmorig", "dpkg-old", "dpkg-new", "dpkg-tmp", "dpkg-dist", "dpkg-bak",
    "dpkg-backup", "dpkg-remove", "ucf-new", "ucf-old", "ucf-dist", "swp", "bak", "old", "new",
  ]

  /// `hidden_or_backup_file()`: names systemd's directory walks (FOREACH_DIRENT) skip.
  static func isHiddenOrBackup(_ name: String) -> Bool {
    let u = name.utf8
    if u.first == UInt8(ascii: ".") || u.last == UInt8(ascii: "~") { return true }
    if ignoredNames.contains(name) { return true }
    guard let dot = u.lastIndex(of: UInt8(ascii: ".")) else { return false }
    return backupSuffixes.contains(String(decoding: u[u.index(after: dot)...], as: UTF8.self))
  }

  /// `unit_validate_alias_symlink_or_warn()`: may a symlink named `source` (in the search path)
  /// point to a unit file named `target` and count as an alias?
  static func isValidAlias(source: String, target: String) -> Bool {
    guard let sourceKind = classify(source) else { return false }
    let sourceType = type(of: source)
    guard mayAlias(sourceType) else { return false }
    if sourceKind != .plain, !mayTemplate(sourceType) { return false }
    guard source != target, let targetKind = classify(target) else { return false }
    guard targetKind == sourceKind || (sourceKind == .instance && targetKind == .template) else {
      return false
    }
    if targetKind == .instance, instance(of: source) != instance(of: target) { return false }
    return type(of: target) == sourceType
  }
}
