import MosaicSupport

/// A host the roster names (SPEC 2.2, 2.12): `hosts = { ["vm-b"] = { ssh = "fleet@vm-b",
/// mosaic = "/usr/bin/mosaic", ssh_options = { "Port=2222" } } }`. Its agents (`host =
/// "vm-b"`) are reached with the operator's own `ssh`.
public struct RosterHost: Sendable, Equatable {
  /// The key: the host's name as agents' `host` fields give it (its short host name).
  public var name: String
  /// The ssh destination (`[user@]host`, or a `Host` alias of the operator's ssh config).
  public var ssh: String
  /// The mosaic binary on that host (default `mosaic`, found on the remote PATH).
  public var mosaic: String
  /// Extra `-o Key=Value` options for ssh, in order.
  public var sshOptions: [String]

  public static let defaultMosaic = "mosaic"
  public static let fields = ["ssh", "mosaic", "ssh_options"]

  public init(name: String, ssh: String, mosaic: String = defaultMosaic, sshOptions: [String] = [])
  {
    self.name = name
    self.ssh = ssh
    self.mosaic = mosaic
    self.sshOptions = sshOptions
  }

  public var jsonValue: JSONValue {
    .object([
      ("name", .string(name)),
      ("ssh", .string(ssh)),
      ("mosaic", .string(mosaic)),
      ("ssh_options", .array(sshOptions.map { .string($0) })),
    ])
  }

  /// Why `s` is not an ssh destination mosaic passes on, or nil. It becomes one argv
  /// element after `--`, but ssh still parses `user@host`, so it is kept to the characters
  /// of user names, host names, IPv6 literals and config aliases, never a leading `-`.
  public static func destinationProblem(_ s: String) -> String? {
    guard let first = s.first else { return "must not be empty" }
    guard s.utf8.count <= 255 else { return "longer than 255 characters" }
    guard first != "-" else { return "must not start with \"-\" (ssh would read an option)" }
    for c in s {
      guard let a = c.asciiValue else { return "only ASCII characters are allowed" }
      let ok =
        RosterValidator.isASCIIAlnum(c) || c == "." || c == "-" || c == "_" || c == "@"
        || c == ":" || c == "[" || c == "]" || c == "%" || c == "+"
      if !ok || a < 0x21 {
        return "character \(RosterValidator.quote(String(c))) is not allowed in an ssh destination"
      }
    }
    return nil
  }

  /// Why `s` is not a remote mosaic path, or nil: the remote sshd hands its command line to
  /// the user's shell, so the path is held to characters no shell gives a meaning to.
  public static func mosaicPathProblem(_ s: String) -> String? {
    guard !s.isEmpty else { return "must not be empty" }
    guard s.utf8.count <= 1024 else { return "longer than 1024 characters" }
    guard s.first != "-" else { return "must not start with \"-\"" }
    for c in s {
      let ok =
        RosterValidator.isASCIIAlnum(c) || c == "/" || c == "." || c == "-" || c == "_"
        || c == "+"
      if !ok {
        return
          "character \(RosterValidator.quote(String(c))) is not allowed (letters, digits, "
          + "\"/\", \".\", \"-\", \"_\", \"+\" are: the path is part of the remote command line)"
      }
    }
    return nil
  }

  /// Why `s` is not an `ssh -o` option, or nil: `Key=Value` with a letters-only key and a
  /// value without control characters (each is one argv element; no shell sees it).
  public static func optionProblem(_ s: String) -> String? {
    guard let eq = s.firstIndex(of: "=") else { return "must be Key=Value (e.g. \"Port=2222\")" }
    let key = s[..<eq]
    guard !key.isEmpty, key.allSatisfy({ RosterValidator.isASCIIAlnum($0) }),
      key.first!.isLetter
    else { return "the key must be an ssh option name (letters and digits)" }
    for scalar in s.unicodeScalars where scalar.value < 0x20 || scalar.value == 0x7F {
      return "control characters are not allowed"
    }
    guard s.utf8.count <= 1024 else { return "longer than 1024 characters" }
    return nil
  }
}

extension RosterValidator {
  /// Validates the roster's `hosts` table: keys are host names (the rule of agents'
  /// `host`), each value a table with `ssh` (required), `mosaic`, `ssh_options`.
  static func validateHosts(_ top: [(String, JSONValue)], path: String) throws(RosterError)
    -> [RosterHost]
  {
    guard let value = present(top, "hosts") else { return [] }
    let pairs: [(String, JSONValue)]
    switch value {
    case .object(let p): pairs = p
    case .array(let a) where a.isEmpty: return []
    default:
      throw RosterError(
        path: path, field: "hosts",
        problem:
          "field \"hosts\" must be a table of hosts by name ({ [\"vm-b\"] = { ssh = "
          + "\"fleet@vm-b\" } }), got \(listOrType(value))")
    }
    var hosts: [RosterHost] = []
    for (name, entry) in pairs.sorted(by: { $0.0 < $1.0 }) {
      let label = "host \(quote(name))"
      if let why = identifierProblem(name, extra: ["_", "-", "."], maxLength: 253) {
        throw RosterError(
          path: path, agent: label, field: "hosts", problem: "host name is invalid: \(why)")
      }
      let object = try fields(of: entry, path: path, agent: label, what: "a host")
      try rejectUnknown(object, allowed: RosterHost.fields, path: path, agent: label)
      guard let sshValue = present(object, "ssh") else {
        throw RosterError(
          path: path, agent: label, field: "ssh",
          problem: "missing required field \"ssh\" (the ssh destination, e.g. \"fleet@\(name)\")")
      }
      let ssh = try string(sshValue, "ssh", path: path, agent: label)
      if let why = RosterHost.destinationProblem(ssh) {
        throw RosterError(
          path: path, agent: label, field: "ssh", problem: "ssh \(quote(ssh)) is invalid: \(why)")
      }
      var mosaic = RosterHost.defaultMosaic
      if let v = present(object, "mosaic") {
        mosaic = try string(v, "mosaic", path: path, agent: label)
        if let why = RosterHost.mosaicPathProblem(mosaic) {
          throw RosterError(
            path: path, agent: label, field: "mosaic",
            problem: "mosaic \(quote(mosaic)) is invalid: \(why)")
        }
      }
      var options: [String] = []
      if let v = present(object, "ssh_options") {
        let items: [JSONValue]
        switch v {
        case .array(let a): items = a
        default:
          throw RosterError(
            path: path, agent: label, field: "ssh_options",
            problem:
              "field \"ssh_options\" must be a list of \"Key=Value\" strings, got "
              + (isObject(v) ? "a table with named fields" : typeName(v)))
        }
        for (i, item) in items.enumerated() {
          let option = try string(item, "ssh_options", path: path, agent: label)
          if let why = RosterHost.optionProblem(option) {
            throw RosterError(
              path: path, agent: label, field: "ssh_options",
              problem: "ssh_options[\(i + 1)] \(quote(option)) is invalid: \(why)")
          }
          options.append(option)
        }
      }
      hosts.append(RosterHost(name: name, ssh: ssh, mosaic: mosaic, sshOptions: options))
    }
    return hosts
  }

  private static func listOrType(_ v: JSONValue) -> String {
    if case .array = v { return "a list" }
    return typeName(v)
  }

  private static func isObject(_ v: JSONValue) -> Bool {
    if case .object = v { return true }
    return false
  }

  /// Every agent's `host` is this machine or a rostered host (SPEC 2.2).
  static func checkAgentHosts(
    _ agents: [RosterAgent], hosts: [RosterHost], defaultHost: String, path: String
  ) throws(RosterError) {
    let known = Set(hosts.map(\.name)).union([defaultHost])
    for agent in agents where !known.contains(agent.host) {
      var problem =
        "host \(quote(agent.host)) is neither this machine (\(quote(defaultHost))) nor a "
        + "roster host"
      let candidates = Array(known).sorted()
      if let s = Suggestion.closest(to: agent.host, in: candidates) {
        problem += " (did you mean \(quote(s))?)"
      } else {
        problem += "; add it to hosts: hosts = { [\(quote(agent.host))] = { ssh = \"...\" } }"
      }
      throw RosterError(
        path: path, agent: "agent \(quote(agent.name))", field: "host", problem: problem)
    }
  }
}
