import MosaicSupport

#if canImport(Glibc)
  import Glibc
#endif

/// The systemd plane over `systemctl --user`, in one or two processes per query whatever the
/// number of units, or none:
///
/// 1. With `Options.bus`, one in-process D-Bus `ListUnitsByPatterns` on the manager's private
///    socket (`SystemdBus`) gives the load, active and sub states; when the bus cannot answer,
///    `systemctl --user --all --no-pager --output=json list-units -- PATTERN...` gives the load,
///    active and sub states of every loaded unit asked for. A unit that is not loaded is
///    inactive/dead, which is what `systemctl show` reports for it. Aliases are looked up under
///    the id of the unit they name (`UnitFileIndex.unitID`), since `list-units` lists ids only.
///    With many units the patterns become one glob per template (`foo@*.service`), so the
///    command line and the manager's matching stay small.
/// 2. Unit-file (boot) states come from `UnitFileIndex` in-process where that is exact (the
///    fleet's `mosaic-agent@NAME.service` instances), from one
///    `systemctl --user list-unit-files -- NAME...` for names that have unit files of their own,
///    and from one `systemctl --user is-enabled -- NAME...` for anything the index cannot decide
///    (that call then also covers the names with unit files, so there are never three calls).
///
/// `UnitFileIndex` ports systemd 252's rules, so it is used only when the user manager runs a
/// systemd version it was checked against (`verifiedSystemdVersions`, the manager's version read
/// from its memory map by `UserManagerProcess.systemdVersion`). With any other version, or one
/// that cannot be read, every unit-file state comes from the batched
/// `systemctl --user is-enabled -- NAME...`, which is systemd's own answer at about 1.3 ms per
/// unit inside the manager. `MOSAIC_SYSTEMD_UNIT_FILES` (`Options.unitFileStates`) overrides the
/// choice: `systemctl` always asks systemd, `index` uses the index whatever the version.
///
/// A unit without any unit file has `enabled == "not-found"`: systemd 252's `is-enabled` prints
/// nothing for it and fails with "No such file or directory" (later versions print
/// `not-found`). States systemd cannot compute (`bad`, errors) are nil.
public struct SystemctlPlane: SystemdQuerying {
  /// The systemd versions (major) whose unit-file-state rules `UnitFileIndex` was verified
  /// against, by `SystemdUnitFileStateTests` comparing it with `systemctl --user is-enabled` on
  /// a real manager (Debian 12's 252).
  public static let verifiedSystemdVersions: Set<Int> = [252]

  /// Where unit-file (boot) states come from.
  public enum UnitFileStates: String, Sendable {
    /// The in-process index when the manager's systemd version is a verified one, else
    /// `systemctl`.
    case auto
    /// The in-process index whatever the version (names it cannot decide still go to systemd).
    case index
    /// One batched `systemctl --user is-enabled` for every name.
    case systemctl

    /// The environment variable that sets the mode; values `auto`, `index`, `systemctl`
    /// (anything else is `auto`).
    public static let environmentKey = "MOSAIC_SYSTEMD_UNIT_FILES"
  }

  /// Whether the in-process index answers, for a mode and the manager's systemd version.
  public static func usesIndex(_ mode: UnitFileStates, systemdVersion: Int?) -> Bool {
    switch mode {
    case .index: return true
    case .systemctl: return false
    case .auto: return systemdVersion.map { verifiedSystemdVersions.contains($0) } ?? false
    }
  }

  public struct Options: Sendable {
    /// This process's environment as far as the plane reads it (`XDG_RUNTIME_DIR`); nil reads
    /// the real one.
    public var environment: [String: String]?
    /// Parent of the per-user runtime directories (`/run/user`).
    public var runUserRoot: String
    /// The user manager's process environment, which decides its unit search path; nil finds
    /// the manager through its private socket and reads `/proc/<pid>/environ`.
    public var managerEnvironment: [String: String]?
    /// Where logind records lingering users.
    public var lingerDirectory: String
    /// The user whose lingering is checked; nil is the user this process runs as.
    public var userName: String?
    /// Time limit of each systemctl call, in seconds.
    public var timeout: Double
    /// Above this many patterns, instances of one template are matched with one glob.
    public var maxExactPatterns: Int
    /// Where unit-file states come from; nil reads `MOSAIC_SYSTEMD_UNIT_FILES` (default auto).
    public var unitFileStates: UnitFileStates?
    /// The manager's systemd major version; nil reads it from the manager process.
    public var systemdVersion: Int?
    /// Ask the manager for the active states over D-Bus in-process (`SystemdBus`) before
    /// spawning `systemctl list-units`; `systemctl` still answers when the bus cannot.
    public var bus: Bool
    /// Monotonic time (`Clock.monotonic`) by which the bus call must have answered.
    public var deadline: Double?

    public init(
      environment: [String: String]? = nil, runUserRoot: String = "/run/user",
      managerEnvironment: [String: String]? = nil,
      lingerDirectory: String = "/var/lib/systemd/linger", userName: String? = nil,
      timeout: Double = 15, maxExactPatterns: Int = 64, unitFileStates: UnitFileStates? = nil,
      systemdVersion: Int? = nil, bus: Bool = false, deadline: Double? = nil
    ) {
      self.environment = environment
      self.runUserRoot = runUserRoot
      self.managerEnvironment = managerEnvironment
      self.lingerDirectory = lingerDirectory
      self.userName = userName
      self.timeout = timeout
      self.maxExactPatterns = maxExactPatterns
      self.unitFileStates = unitFileStates
      self.systemdVersion = systemdVersion
      self.bus = bus
      self.deadline = deadline
    }
  }

  public let runner: any CommandRunner
  public let options: Options

  public init(runner: any CommandRunner, options: Options = Options()) {
    self.runner = runner
    self.options = options
  }

  // MARK: - Queries

  public func status(of units: [String]) -> Result<[String: UnitStatus], SystemdError> {
    var names: [String] = []
    var seen = Set<String>()
    for unit in units where seen.insert(unit).inserted { names.append(unit) }
    guard !names.isEmpty else { return .success([:]) }

    let extraEnvironment = childEnvironment()
    let runtimeDirectory =
      extraEnvironment["XDG_RUNTIME_DIR"] ?? ownEnvironment("XDG_RUNTIME_DIR")
    // 1a. Active states over the bus, on a thread of its own while the index is built. The
    // names' aliases (known from the index) are asked after, if the first answer lacks them.
    let valid = names.filter { UnitName.classify($0) != nil }
    let socket = runtimeDirectory.map { SystemdBus.privateSocket(runtimeDirectory: $0) }
    let timeout = options.deadline.map { min(options.timeout, $0 - Clock.monotonic()) }
    let maxExact = options.maxExactPatterns
    func busList(_ units: [String]) -> [String: UnitStatus]? {
      guard let socket else { return nil }
      let answer = SystemdBus.listUnits(
        socket: socket, patterns: Self.patterns(for: units, max: maxExact),
        timeout: timeout ?? options.timeout)
      guard case .success(let rows) = answer else { return nil }
      return rows
    }
    let busTask = options.bus && socket != nil ? Background { busList(valid) } : nil

    // The index only where it is exact for the manager's systemd (see the type's doc).
    let managerEnvironment =
      usesIndex(runtimeDirectory: runtimeDirectory)
      ? options.managerEnvironment
        ?? runtimeDirectory.flatMap { UserManagerProcess.environment(runtimeDirectory: $0) }
      : nil
    let index =
      managerEnvironment
      .flatMap { UnitSearchPath.user(environment: $0, uid: geteuid()) }
      .map { UnitFileIndex(searchPath: $0) }

    var answers: [String: UnitFileAnswer] = [:]
    var ids: [String: String] = [:]
    if let index {
      answers = index.answers(for: names)
      ids = index.unitIDs(for: names)
    } else {
      for name in names { answers[name] = UnitName.classify(name) == nil ? .error : .askSystemd }
    }
    let aliasIDs = names.compactMap { name in ids[name].flatMap { $0 == name ? nil : $0 } }

    var rows = busTask?.wait()
    if let listed = rows, case let missing = aliasIDs.filter({ listed[$0] == nil }),
      !missing.isEmpty
    {
      rows = busList(missing).map { listed.merging($0) { kept, _ in kept } }
    }

    // 1b. Active states from systemctl when the bus could not answer.
    if rows == nil {
      let patterns = Self.patterns(for: valid + aliasIDs, max: options.maxExactPatterns)
      switch run(Self.listUnitsArguments(patterns: patterns), environment: extraEnvironment) {
      case .failure(let error):
        return .failure(error)
      case .success(let result):
        guard result.ok else { return .failure(Self.unreachable(result)) }
        switch Self.parseListUnits(result.stdout) {
        case .failure(let error): return .failure(error)
        case .success(let parsed): rows = parsed
        }
      }
    }
    let units = rows ?? [:]

    // 2. Unit-file states systemd must compute.
    let ask = names.filter { answers[$0] == .askSystemd }
    let listed = names.filter { answers[$0] == .listed }
    var fileStates: [String: UnitFileAnswer] = [:]
    if !ask.isEmpty {
      fileStates = isEnabled(listed + ask, environment: extraEnvironment)
    } else if !listed.isEmpty {
      if case .success(let result) = run(
        Self.listUnitFilesArguments(listed), environment: extraEnvironment),
        result.status == 0 || result.status == 1,
        case .success(let states) = Self.parseListUnitFiles(result.stdout)
      {
        for name in listed {
          if let state = states[name], state != "bad" { fileStates[name] = .state(state) }
        }
      }
    }

    // Without the index, aliases are not known to be aliases until is-enabled says so, and
    // list-units lists unit ids only: one `show` gives the active state of the unit they name.
    var aliasRows: [String: UnitStatus] = [:]
    if index == nil {
      let aliases = names.filter { units[$0] == nil && fileStates[$0] == .state("alias") }
      if !aliases.isEmpty,
        case .success(let result) = run(
          Self.showArguments(aliases), environment: extraEnvironment), result.ok
      {
        aliasRows = Self.parseShow(result.stdoutText, names: aliases)
      }
    }

    // 3. Join.
    var out: [String: UnitStatus] = [:]
    for name in names {
      var status = UnitStatus(unit: name)
      let answer = fileStates[name] ?? answers[name] ?? .error
      switch answer {
      case .state(let s): status.enabled = s
      case .notFound: status.enabled = "not-found"
      case .error, .listed, .askSystemd: status.enabled = nil
      }
      if let row = units[name] ?? ids[name].flatMap({ units[$0] }) ?? aliasRows[name] {
        status.load = row.load
        status.active = row.active
        status.sub = row.sub
      } else if ids[name] != nil
        || (index == nil && status.enabled != nil && status.enabled != "alias"
          && UnitName.classify(name) != .template)
      {
        // (A template cannot be loaded: systemd reports no state for it.)
        // Not loaded: systemd reports such a unit inactive/dead.
        status.active = "inactive"
        status.sub = "dead"
        switch status.enabled {
        case "not-found": status.load = "not-found"
        case "masked", "masked-runtime": status.load = "masked"
        default: status.load = nil
        }
      }
      out[name] = status
    }
    return .success(out)
  }

  /// The unit-file-state source this query uses (see the type's documentation).
  func usesIndex(runtimeDirectory: String?) -> Bool {
    let mode =
      options.unitFileStates
      ?? ownEnvironment(UnitFileStates.environmentKey).flatMap(UnitFileStates.init(rawValue:))
      ?? .auto
    guard mode == .auto else { return Self.usesIndex(mode, systemdVersion: nil) }
    let version =
      options.systemdVersion
      ?? runtimeDirectory.flatMap { UserManagerProcess.systemdVersion(runtimeDirectory: $0) }
    return Self.usesIndex(mode, systemdVersion: version)
  }

  /// `is-enabled` for `names`, batched: it stops at the first name it cannot answer, so the
  /// call is repeated for the names after that one. As many processes as failing names plus
  /// one (fleet units are instances of an existing template and never fail).
  func isEnabled(_ names: [String], environment: [String: String]) -> [String: UnitFileAnswer] {
    var out: [String: UnitFileAnswer] = [:]
    var rest = names[...]
    while !rest.isEmpty {
      guard
        case .success(let result) = run(
          Self.isEnabledArguments(Array(rest)), environment: environment)
      else { break }
      let answers = Self.parseIsEnabled(result, names: Array(rest))
      out.merge(answers) { a, _ in a }
      // Past the answered names and the one that failed.
      var answered = 0
      for name in rest {
        guard case .state = answers[name] else { break }
        answered += 1
      }
      if answered == rest.count || result.timedOut { break }
      // No verdict on the name it stopped at (the manager went away): stop too.
      guard answers[rest[rest.startIndex + answered]] != nil else { break }
      rest = rest.dropFirst(answered + 1)
    }
    return out
  }

  public func lingerEnabled() -> Bool? {
    let user: String
    if let name = options.userName {
      user = name
    } else if let pw = getpwuid(geteuid()), let name = pw.pointee.pw_name {
      user = String(cString: name)
    } else {
      return nil
    }
    guard !user.isEmpty, !user.contains("/") else { return nil }
    var st = stat()
    if stat(PathText.join(options.lingerDirectory, user), &st) == 0 { return true }
    return errno == ENOENT || errno == ENOTDIR ? false : nil
  }

  // MARK: - Commands

  static func listUnitsArguments(patterns: [String]) -> [String] {
    ["systemctl", "--user", "--all", "--no-pager", "--output=json", "list-units", "--"]
      + patterns
  }

  static func listUnitFilesArguments(_ names: [String]) -> [String] {
    ["systemctl", "--user", "--no-pager", "--output=json", "list-unit-files", "--"] + names
  }

  static func isEnabledArguments(_ names: [String]) -> [String] {
    ["systemctl", "--user", "--no-pager", "is-enabled", "--"] + names
  }

  static func showArguments(_ names: [String]) -> [String] {
    ["systemctl", "--user", "--no-pager", "show", "-p", "LoadState,ActiveState,SubState", "--"]
      + names
  }

  /// `show -p LoadState,ActiveState,SubState NAME...`: one block per name, in order, blocks
  /// separated by an empty line.
  static func parseShow(_ stdout: String, names: [String]) -> [String: UnitStatus] {
    var out: [String: UnitStatus] = [:]
    let blocks = stdout.split(separator: "\n\n", omittingEmptySubsequences: false)
    for (name, block) in zip(names, blocks) {
      var status = UnitStatus(unit: name)
      for line in block.split(separator: "\n") {
        let kv = line.split(separator: "=", maxSplits: 1)
        guard kv.count == 2 else { continue }
        switch kv[0] {
        case "LoadState": status.load = String(kv[1])
        case "ActiveState": status.active = String(kv[1])
        case "SubState": status.sub = String(kv[1])
        default: break
        }
      }
      if status.active != nil { out[name] = status }
    }
    return out
  }

  /// The `list-units` patterns for `names`: the names themselves, or, past `max`, one glob per
  /// template for its instances; past 16 times that, none at all (every loaded unit).
  static func patterns(for names: [String], max: Int) -> [String] {
    var unique: [String] = []
    var seen = Set<String>()
    for name in names where seen.insert(name).inserted { unique.append(name) }
    guard unique.count > max else { return unique }
    var out: [String] = []
    var globbed = Set<String>()
    for name in unique {
      if UnitName.classify(name) == .instance, let template = UnitName.template(of: name),
        let at = template.firstIndex(of: "@")
      {
        let glob = String(template[...at]) + "*" + String(template[template.index(after: at)...])
        if globbed.insert(glob).inserted { out.append(glob) }
      } else {
        out.append(name)
      }
    }
    return out.count > max * 16 ? [] : out
  }

  // MARK: - Parsing

  /// Rows of `list-units --output=json`, keyed by unit id.
  static func parseListUnits(_ stdout: [UInt8]) -> Result<[String: UnitStatus], SystemdError> {
    let value: JSONValue
    do {
      value = try JSONCodec.decode(stdout)
    } catch {
      return .failure(SystemdError("systemctl --user list-units: unreadable output: \(error)"))
    }
    guard let array = value.arrayValue else {
      return .failure(SystemdError("systemctl --user list-units: output is not a JSON array"))
    }
    var rows: [String: UnitStatus] = [:]
    for item in array {
      guard let unit = item["unit"]?.stringValue else { continue }
      rows[unit] = UnitStatus(
        unit: unit, load: item["load"]?.stringValue, active: item["active"]?.stringValue,
        sub: item["sub"]?.stringValue)
    }
    return .success(rows)
  }

  /// `list-unit-files --output=json`: unit file name → state.
  static func parseListUnitFiles(_ stdout: [UInt8]) -> Result<[String: String], SystemdError> {
    guard let value = try? JSONCodec.decode(stdout), let array = value.arrayValue else {
      return .failure(SystemdError("systemctl --user list-unit-files: unreadable output"))
    }
    var states: [String: String] = [:]
    for item in array {
      if let unit = item["unit_file"]?.stringValue, let state = item["state"]?.stringValue {
        states[unit] = state
      }
    }
    return .success(states)
  }

  /// `is-enabled NAME...` prints one state per name, in order, and stops at the first name it
  /// cannot answer (stderr: "Failed to get unit file state for NAME: REASON"). Names after that
  /// stay unknown.
  static func parseIsEnabled(_ result: CommandResult, names: [String]) -> [String: UnitFileAnswer] {
    var out: [String: UnitFileAnswer] = [:]
    let lines = result.stdoutText.split(separator: "\n", omittingEmptySubsequences: false)
    var answered = 0
    for (name, line) in zip(names, lines) {
      let state = line.trimmingWhitespace()
      guard !state.isEmpty else { break }
      out[name] = .state(state)
      answered += 1
    }
    if answered < names.count {
      let failed = names[answered]
      for line in result.stderrText.split(separator: "\n")
      where line.hasPrefix("Failed to get unit file state for \(failed): ") {
        out[failed] = line.hasSuffix(": No such file or directory") ? .notFound : .error
      }
    }
    return out
  }

  static func unreachable(_ result: CommandResult) -> SystemdError {
    if result.timedOut {
      return SystemdError("user manager unreachable: systemctl --user did not answer in time")
    }
    let first = result.stderrText.split(separator: "\n").first.map { $0.trimmingWhitespace() }
    if let first, !first.isEmpty { return SystemdError("user manager unreachable: \(first)") }
    return SystemdError("user manager unreachable: systemctl exited with status \(result.status)")
  }

  // MARK: - Environment

  private func ownEnvironment(_ key: String) -> String? {
    let value = options.environment.map { $0[key] } ?? Environment.get(key)
    guard let value, !value.isEmpty else { return nil }
    return value
  }

  /// Extra environment for systemctl: `XDG_RUNTIME_DIR` when it is unset (cron) but the user's
  /// runtime directory exists, so `systemctl --user` finds the manager.
  func childEnvironment() -> [String: String] {
    guard ownEnvironment("XDG_RUNTIME_DIR") == nil else { return [:] }
    let dir = PathText.join(options.runUserRoot, String(geteuid()))
    var st = stat()
    guard stat(dir, &st) == 0, st.st_mode & S_IFMT == S_IFDIR else { return [:] }
    return ["XDG_RUNTIME_DIR": dir]
  }

  private func run(_ argv: [String], environment: [String: String])
    -> Result<CommandResult, SystemdError>
  {
    do {
      return .success(
        try runner.run(
          CommandRequest(argv, environment: environment, timeout: options.timeout)))
    } catch {
      return .failure(SystemdError("user manager unreachable: \(error.description)"))
    }
  }
}

extension Substring {
  fileprivate func trimmingWhitespace() -> String {
    var s = self[...]
    while let f = s.first, f == " " || f == "\t" || f == "\r" { s = s.dropFirst() }
    while let l = s.last, l == " " || l == "\t" || l == "\r" { s = s.dropLast() }
    return String(s)
  }
}
