import MosaicSupport

/// Turns the value a roster file returned into a `Roster`, or refuses it.
///
/// The host evaluates the Lua file and converts what it returns to a `JSONValue` (tables
/// with string keys become objects, sequences arrays, an empty table `.array([])`; a
/// value it cannot convert arrives as a string such as `"<function>"`, which is reported
/// as a wrong type here). Validation stops at the first problem and throws: a broken
/// roster never yields part of a fleet.
///
/// Rules (SPEC 2.2):
/// - top level: `tenant` (default "default"), `socket` (default "mosaic-factory"),
///   `heartbeat_interval` (default 15), `agents` (required list), `hosts` (other hosts by
///   name, `Hosts/RosterHost.swift`; an agent's `host` is this machine or one of them).
///   Nothing else.
/// - per agent: `name` (required, `^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$`), `runtime`
///   (required), `tenant`, `host` (default `defaultHost`), `unit` (default
///   `mosaic-agent@<name>.service`), `session` (default the name, same rule as names),
///   `heartbeat_interval`, `match` (a Lua pattern). Nothing else; a misspelt field gets a
///   "did you mean".
/// - `runtime` outside `RosterAgent.knownRuntimes` needs `match`: mosaic has no rule to
///   recognise an unknown program, and would otherwise report drift it cannot judge.
/// - names and sessions are unique across the roster.
/// - a nil field is absent (as in Lua).
///
/// Identifiers beyond SPEC's name rule, chosen to keep values safe in file names, tmux
/// arguments and tables: tenants, runtimes and socket names match
/// `^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`; hosts the same up to 253 characters; units are
/// systemd service names (`[A-Za-z0-9:_.\-]` plus one `@` with a non-empty instance,
/// ending in `.service`, at most 255 characters); intervals are positive and at most
/// 86400 seconds.
public enum RosterValidator {
  static let topFields = ["tenant", "socket", "heartbeat_interval", "agents", "hosts"]
  static let agentFields = [
    "name", "runtime", "tenant", "host", "unit", "session", "heartbeat_interval", "match",
  ]
  static let maxInterval = 86400.0

  /// Validates the roster value that the file at `path` returned. `defaultHost` is this
  /// machine's short host name.
  public static func validate(_ value: JSONValue, path: String, defaultHost: String)
    throws(RosterError) -> Roster
  {
    let top = try fields(of: value, path: path, agent: nil, what: "the roster")
    try rejectUnknown(top, allowed: topFields, path: path, agent: nil)

    let tenant =
      try identifier(top, "tenant", path: path, agent: nil, maxLength: 64)
      ?? Roster.defaultTenant
    let socket =
      try identifier(top, "socket", path: path, agent: nil, maxLength: 64)
      ?? Roster.defaultSocket
    let interval =
      try number(top, "heartbeat_interval", path: path, agent: nil)
      ?? Roster.defaultHeartbeatInterval

    guard let agentsValue = present(top, "agents") else {
      throw RosterError(
        path: path, field: "agents",
        problem: "missing required field \"agents\" (a list of agent tables)")
    }
    let items: [JSONValue]
    switch agentsValue {
    case .array(let a): items = a
    case .object:
      throw RosterError(
        path: path, field: "agents",
        problem:
          "field \"agents\" must be a list of agent tables ({ { name = ..., runtime = ... }, "
          + "... }), got a table with named fields")
    default:
      throw RosterError(
        path: path, field: "agents",
        problem: "field \"agents\" must be a list of agent tables, got \(typeName(agentsValue))")
    }

    var agents: [RosterAgent] = []
    var byName: [String: Int] = [:]
    var bySession: [String: Int] = [:]
    for (offset, item) in items.enumerated() {
      let index = offset + 1
      let agent = try validateAgent(
        item, index: index, path: path, tenant: tenant, interval: interval,
        defaultHost: defaultHost)
      if let first = byName[agent.name] {
        throw RosterError(
          path: path, field: "name",
          problem: "duplicate agent name \(quote(agent.name)) (agents #\(first) and #\(index))")
      }
      if let first = bySession[agent.session] {
        throw RosterError(
          path: path, agent: "agent \(quote(agent.name))", field: "session",
          problem:
            "session \(quote(agent.session)) is already used by agent "
            + "\(quote(agents[first - 1].name)) (agents #\(first) and #\(index))")
      }
      byName[agent.name] = index
      bySession[agent.session] = index
      agents.append(agent)
    }
    // hosts (SPEC 2.12): Hosts/RosterHost.swift
    let hosts = try validateHosts(top, path: path)
    try checkAgentHosts(agents, hosts: hosts, defaultHost: defaultHost, path: path)
    return Roster(
      path: path, tenant: tenant, socket: socket, heartbeatInterval: interval, agents: agents,
      hosts: hosts)
  }

  static func validateAgent(
    _ value: JSONValue, index: Int, path: String, tenant: String, interval: Double,
    defaultHost: String
  ) throws(RosterError) -> RosterAgent {
    let numbered = "agent #\(index)"
    let object = try fields(of: value, path: path, agent: numbered, what: "an agent")

    // Name the agent in messages once its name is known to be good.
    var label = numbered
    if case .string(let n)? = present(object, "name"), nameProblem(n) == nil {
      label = "agent \"" + n + "\""  // `quote(n)`: a valid name has nothing to escape
    }
    try rejectUnknown(object, allowed: agentFields, path: path, agent: label)

    guard let nameValue = present(object, "name") else {
      throw RosterError(
        path: path, agent: label, field: "name", problem: "missing required field \"name\"")
    }
    let name = try string(nameValue, "name", path: path, agent: label)
    if let why = nameProblem(name) {
      throw RosterError(
        path: path, agent: label, field: "name", problem: "name \(quote(name)) is invalid: \(why)"
      )
    }

    guard let runtimeValue = present(object, "runtime") else {
      throw RosterError(
        path: path, agent: label, field: "runtime",
        problem:
          "missing required field \"runtime\" (one of "
          + RosterAgent.knownRuntimes.joined(separator: ", ") + ")")
    }
    let runtime = try string(runtimeValue, "runtime", path: path, agent: label)
    if let why = identifierProblem(runtime, extra: identifierExtra, maxLength: 64) {
      throw RosterError(
        path: path, agent: label, field: "runtime",
        problem: "runtime \(quote(runtime)) is invalid: \(why)")
    }

    let agentTenant =
      try identifier(object, "tenant", path: path, agent: label, maxLength: 64) ?? tenant
    let host =
      try identifier(object, "host", path: path, agent: label, maxLength: 253) ?? defaultHost

    var unit = RosterAgent.defaultUnit(for: name)
    if let v = present(object, "unit") {
      unit = try string(v, "unit", path: path, agent: label)
      if let why = unitProblem(unit) {
        throw RosterError(
          path: path, agent: label, field: "unit", problem: "unit \(quote(unit)) is invalid: \(why)"
        )
      }
    }

    var session = name
    if let v = present(object, "session") {
      session = try string(v, "session", path: path, agent: label)
      if let why = nameProblem(session) {
        throw RosterError(
          path: path, agent: label, field: "session",
          problem: "session \(quote(session)) is invalid: \(why)")
      }
    }

    let agentInterval =
      try number(object, "heartbeat_interval", path: path, agent: label) ?? interval

    var match: String? = nil
    if let v = present(object, "match") {
      let pattern = try string(v, "match", path: path, agent: label)
      if pattern.isEmpty {
        throw RosterError(
          path: path, agent: label, field: "match",
          problem: "field \"match\" must not be empty (a Lua pattern for the command line)")
      }
      match = pattern
    }

    if !RosterAgent.knownRuntimes.contains(runtime), match == nil {
      var problem = "unknown runtime \(quote(runtime))"
      if let s = Suggestion.closest(to: runtime, in: RosterAgent.knownRuntimes) {
        problem += " (did you mean \(quote(s))?)"
      }
      problem +=
        "; known runtimes are " + RosterAgent.knownRuntimes.joined(separator: ", ")
        + ", another needs a \"match\" pattern"
      throw RosterError(path: path, agent: label, field: "runtime", problem: problem)
    }

    return RosterAgent(
      name: name, runtime: runtime, tenant: agentTenant, host: host, unit: unit,
      session: session, heartbeatInterval: agentInterval, match: match)
  }

  // MARK: - Name rules

  /// Why `name` is not a valid agent or session name
  /// (`^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$`), or nil when it is.
  public static func nameProblem(_ name: String) -> String? {
    identifierProblem(name, extra: nameExtra, maxLength: 64)
  }

  // The characters besides letters and digits that names and identifiers may hold (built
  // once: a roster of a thousand agents checks several names each, on every fleet ps).
  static let nameExtra: Set<Character> = ["_", "-"]
  static let identifierExtra: Set<Character> = ["_", "-", "."]

  /// Why `unit` is not a systemd service name the roster accepts, or nil when it is.
  public static func unitProblem(_ unit: String) -> String? {
    let suffix = ".service"
    guard unit.hasSuffix(suffix) else { return "must end in \".service\"" }
    guard unit.utf8.count <= 255 else { return "longer than 255 characters" }
    let stem = unit.dropLast(suffix.count)
    guard !stem.isEmpty else { return "empty name before \".service\"" }
    let ats = stem.utf8.lazy.filter { $0 == UInt8(ascii: "@") }.count
    guard ats <= 1 else { return "more than one \"@\"" }
    if ats == 1 {
      guard stem.utf8.first != UInt8(ascii: "@") else { return "empty name before \"@\"" }
      if stem.utf8.last == UInt8(ascii: "@") {
        return "a template without an instance (\"name@instance.service\") cannot run"
      }
    }
    // By scalar, not Character: a roster of a thousand agents is validated on every fleet ps.
    for c in stem.unicodeScalars where c != "@" {
      if !(c.isASCII && isASCIIAlnum(UInt8(c.value)) || ":_.-\\".unicodeScalars.contains(c)) {
        return "character \(quote(String(c))) is not allowed in a unit name"
      }
    }
    return nil
  }

  static func identifierProblem(_ s: String, extra: Set<Character>, maxLength: Int) -> String? {
    // The common case, an ASCII name of allowed bytes, without Character iteration.
    if let first = s.utf8.first, isASCIIAlnum(first), s.utf8.count <= maxLength,
      s.utf8.allSatisfy({ b in
        isASCIIAlnum(b) || (b < 0x80 && extra.contains(Character(Unicode.Scalar(b))))
      })
    {
      return nil
    }
    guard let first = s.first else { return "must not be empty" }
    guard s.count <= maxLength else { return "longer than \(maxLength) characters" }
    guard isASCIIAlnum(first) else { return "must start with a letter or a digit" }
    for c in s where !(isASCIIAlnum(c) || extra.contains(c)) {
      let allowed = ["_", "-", "."].filter { extra.contains(Character($0)) }
        .map { "\"\($0)\"" }.joined(separator: ", ")
      var why = "character \(quote(String(c))) is not allowed (letters, digits and \(allowed) are)"
      if c == "." || c == ":" {
        why += "; tmux rewrites \".\" and \":\" in session names"
      }
      return why
    }
    return nil
  }

  static func isASCIIAlnum(_ a: UInt8) -> Bool {
    (a >= 0x30 && a <= 0x39) || (a >= 0x41 && a <= 0x5A) || (a >= 0x61 && a <= 0x7A)
  }

  static func isASCIIAlnum(_ c: Character) -> Bool {
    guard let a = c.asciiValue else { return false }
    return (a >= 0x30 && a <= 0x39) || (a >= 0x41 && a <= 0x5A) || (a >= 0x61 && a <= 0x7A)
  }

  // MARK: - Field access

  /// The pairs of a table; an empty table (`.array([])`) has none.
  static func fields(of value: JSONValue, path: String, agent: String?, what: String)
    throws(RosterError) -> [(String, JSONValue)]
  {
    switch value {
    case .object(let pairs): return pairs
    case .array(let a) where a.isEmpty: return []
    case .array:
      throw RosterError(
        path: path, agent: agent,
        problem: "\(what) must be a table with named fields, got a list")
    default:
      throw RosterError(
        path: path, agent: agent, problem: "\(what) must be a table, got \(typeName(value))")
    }
  }

  static func present(_ pairs: [(String, JSONValue)], _ key: String) -> JSONValue? {
    guard let v = pairs.first(where: { $0.0 == key })?.1, !v.isNull else { return nil }
    return v
  }

  static func rejectUnknown(
    _ pairs: [(String, JSONValue)], allowed: [String], path: String, agent: String?
  ) throws(RosterError) {
    for (key, _) in pairs where !allowed.contains(key) {
      var problem = "unknown field \(quote(key))"
      if let s = Suggestion.closest(to: key, in: allowed) {
        problem += " (did you mean \(quote(s))?)"
      } else {
        problem += " (known: " + allowed.joined(separator: ", ") + ")"
      }
      throw RosterError(path: path, agent: agent, field: key, problem: problem)
    }
  }

  static func string(_ value: JSONValue, _ key: String, path: String, agent: String?)
    throws(RosterError) -> String
  {
    if case .string(let s) = value, luaTypeSentinel(s) == nil { return s }
    throw RosterError(
      path: path, agent: agent, field: key,
      problem: "field \(quote(key)) must be a string, got \(typeName(value))")
  }

  static func identifier(
    _ pairs: [(String, JSONValue)], _ key: String, path: String, agent: String?, maxLength: Int
  ) throws(RosterError) -> String? {
    guard let v = present(pairs, key) else { return nil }
    let s = try string(v, key, path: path, agent: agent)
    if let why = identifierProblem(s, extra: identifierExtra, maxLength: maxLength) {
      throw RosterError(
        path: path, agent: agent, field: key, problem: "\(key) \(quote(s)) is invalid: \(why)")
    }
    return s
  }

  static func number(
    _ pairs: [(String, JSONValue)], _ key: String, path: String, agent: String?
  ) throws(RosterError) -> Double? {
    guard let v = present(pairs, key) else { return nil }
    guard let d = v.doubleValue else {
      throw RosterError(
        path: path, agent: agent, field: key,
        problem: "field \(quote(key)) must be a number of seconds, got \(typeName(v))")
    }
    guard d.isFinite, d > 0, d <= maxInterval else {
      throw RosterError(
        path: path, agent: agent, field: key,
        problem:
          "field \(quote(key)) must be a positive number of seconds up to "
          + "\(Int(maxInterval)), got \(formatNumber(d))")
    }
    return d
  }

  // MARK: - Messages

  /// The Lua type a value had, as an operator wrote it.
  static func typeName(_ value: JSONValue) -> String {
    switch value {
    case .null: return "nil"
    case .bool: return "boolean"
    case .int, .double: return "number"
    case .string(let s): return luaTypeSentinel(s) ?? "string"
    case .array, .object: return "table"
    }
  }

  /// `"<function>"` and the like stand for Lua values the host could not convert; returns
  /// the Lua type name, or nil for an ordinary string.
  static func luaTypeSentinel(_ s: String) -> String? {
    guard s.hasPrefix("<"), s.hasSuffix(">"), s.count > 2 else { return nil }
    let inner = s.dropFirst().dropLast()
    for type in ["function", "userdata", "lightuserdata", "light userdata", "thread"] {
      if inner == type || inner.hasPrefix(type + ":") || inner.hasPrefix(type + " ") {
        return type
      }
    }
    return nil
  }

  /// A value quoted for a message: escapes quotes, backslashes and control characters,
  /// and shortens long values, so a message stays one readable line.
  static func quote(_ s: String) -> String {
    var out = "\""
    var count = 0
    for scalar in s.unicodeScalars {
      if count == 80 {
        out += "..."
        break
      }
      count += 1
      switch scalar {
      case "\"": out += "\\\""
      case "\\": out += "\\\\"
      case "\n": out += "\\n"
      case "\t": out += "\\t"
      case "\r": out += "\\r"
      default:
        if scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value) {
          out += "\\u{" + String(scalar.value, radix: 16) + "}"
        } else {
          out.unicodeScalars.append(scalar)
        }
      }
    }
    return out + "\""
  }

  static func formatNumber(_ d: Double) -> String {
    if d.isFinite, d == d.rounded(), abs(d) < 1e15 { return String(Int64(d)) }
    return String(d)
  }
}
