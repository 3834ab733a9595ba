import MosaicSupport

// The typed result of `fleet ps` (SPEC 2.4): what the join produces, what the flag rules
// read, and the one definition of its JSON. Lua gets the same `jsonValue` (pushed as tables
// by LuaBridge), so `fleet ps --json`, `fleet.ps()` and `fleet.ps_json()` cannot disagree.

/// One agent of `fleet ps`: a roster agent, or a session on the socket in no roster.
public struct AgentRow: Sendable, Equatable {
  public var name: String
  /// The roster's tenant; an unrostered session takes the roster's default.
  public var tenantId: String?
  public var host: String
  /// The roster's runtime; for an unrostered session, the runtime recognised in its pane.
  public var runtime: String?
  /// False for a session on the socket that is in no roster.
  public var rostered: Bool
  public var unit: Unit
  public var pane: Pane
  /// The agent's program in the pane, when the pane is alive and its process could be read.
  public var process: Process?
  public var heartbeat: HeartbeatCell
  public var activity: Activity
  public var lease: Lease?
  /// None of the pane's foreground group is the roster's runtime; nil when it cannot be
  /// told (no live pane, unrostered, unreadable).
  public var drift: Bool?

  public init(
    name: String, tenantId: String?, host: String, runtime: String?, rostered: Bool,
    unit: Unit, pane: Pane, process: Process?, heartbeat: HeartbeatCell,
    activity: Activity = .unknown, lease: Lease? = nil, drift: Bool? = nil
  ) {
    self.name = name
    self.tenantId = tenantId
    self.host = host
    self.runtime = runtime
    self.rostered = rostered
    self.unit = unit
    self.pane = pane
    self.process = process
    self.heartbeat = heartbeat
    self.activity = activity
    self.lease = lease
    self.drift = drift
  }

  /// The agent's systemd unit: its name (nil when unrostered) and what the user manager
  /// said of it (nil: not asked, unreachable, or no such unit).
  public struct Unit: Sendable, Equatable {
    public var name: String?
    public var status: UnitStatus?

    public init(name: String?, status: UnitStatus?) {
      self.name = name
      self.status = status
    }

    /// Unit-file states with which an active unit also starts at boot (SPEC 2.4).
    public static let bootSafeStates: [String] = ["enabled", "static", "generated"]
    /// Active states in which the unit counts as running (`fleet check`, `fleet export`).
    public static let activeStates: [String] = ["active", "reloading"]

    /// Active, but would not start at boot; nil when either state is unknown. An inactive
    /// unit has no gap (false).
    public var bootEnableWarning: Bool? {
      guard let active = status?.active else { return nil }
      guard active == "active" else { return false }
      return status?.enabled.map { !Self.bootSafeStates.contains($0) }
    }
  }

  /// `pane.state` (SPEC 2.4).
  public enum PaneState: String, Sendable, Equatable {
    case alive, dead, absent
  }

  /// The agent's tmux pane: unknown (tmux not read), absent (no session), or the pane.
  public struct Pane: Sendable, Equatable {
    /// nil: tmux could not be read.
    public var state: PaneState?
    /// The pane, when there is one (alive or dead).
    public var tmux: TmuxPane?
    /// What tmux calls `pane_current_command`: the basename of the foreground group
    /// leader's argv[0]; nil when no process was read.
    public var command: String?
    /// Seconds since the window's last activity.
    public var idleS: Int64?

    public static let unknown = Pane(state: nil)
    public static let absent = Pane(state: .absent)

    public init(
      state: PaneState?, tmux: TmuxPane? = nil, command: String? = nil, idleS: Int64? = nil
    ) {
      self.state = state
      self.tmux = tmux
      self.command = command
      self.idleS = idleS
    }

    /// A pane seen by tmux, `now` being the wall clock the idle time counts to.
    public init(_ p: TmuxPane, command: String?, now: Double) {
      self.init(
        state: p.dead ? .dead : .alive, tmux: p, command: command,
        idleS: p.windowActivity.map { max(0, Int64(now) - Int64($0)) })
    }
  }

  /// The agent's program and the foreground group it was found among.
  public struct Process: Sendable, Equatable {
    public var program: ProcessSnapshot
    /// The pane's foreground process group under the pane process, shallowest first.
    public var group: ForegroundGroup
    /// The program's working directory, nil when unreadable.
    public var cwd: String?

    public init(program: ProcessSnapshot, group: ForegroundGroup, cwd: String?) {
      self.program = program
      self.group = group
      self.cwd = cwd
    }
  }

  /// The agent's heartbeat as judged (`reading`; nil when the run directory could not be
  /// read) and, under `--probe`, whether it answered.
  public struct HeartbeatCell: Sendable, Equatable {
    public var reading: HeartbeatReading?
    /// The interval the health rule uses (the roster's).
    public var intervalS: Double
    /// nil unless probed (and rostered).
    public var probeAnswered: Bool?

    public init(reading: HeartbeatReading?, intervalS: Double, probeAnswered: Bool? = nil) {
      self.reading = reading
      self.intervalS = intervalS
      self.probeAnswered = probeAnswered
    }

    /// What the row shows when the heartbeat files were not read.
    public var shown: HeartbeatReading {
      reading
        ?? HeartbeatReading(
          health: HeartbeatHealth.unknown, reason: "heartbeat files not read", intervalS: intervalS)
    }
  }

  /// SPEC 2.4's `boot_enable_warning`.
  public var bootEnableWarning: Bool? { unit.bootEnableWarning }

  /// The row's flags (SPEC 2.4), in `AgentFlag`'s order: the one place their rules live.
  public var flags: [AgentFlag] { AgentFlag.allCases.filter { has($0) } }

  public func has(_ flag: AgentFlag) -> Bool {
    switch flag {
    case .drift: return drift == true
    case .bootEnable: return bootEnableWarning == true
    case .dead: return pane.state == .dead
    case .absent: return pane.state == .absent
    case .stopped: return process?.group.stopped == true
    case .waiting: return activity.state == .waiting
    case .stale: return heartbeat.reading?.health == HeartbeatHealth.stale
    case .skew: return heartbeat.reading?.skew == true
    case .leased: return lease != nil
    case .unrostered: return !rostered
    }
  }
}

/// The flags of a `fleet ps` row (SPEC 2.4), in the order a row lists them.
public enum AgentFlag: String, CaseIterable, Sendable {
  /// None of the pane's foreground group is the roster's runtime.
  case drift
  /// The unit is active but would not start at boot.
  case bootEnable = "boot-enable"
  /// The pane's program exited; tmux keeps the pane.
  case dead
  /// No session for the agent.
  case absent
  /// A member of the pane's foreground group is stopped (state T).
  case stopped
  /// The agent needs a human (`activity.state` waiting).
  case waiting
  /// The heartbeat is older than three intervals.
  case stale
  /// The heartbeat's timestamp is in the future by more than one interval.
  case skew
  /// An operator holds the agent through `agent attach`.
  case leased
  /// A session on the socket that is in no roster.
  case unrostered
}

/// A fleet-level warning of `fleet ps` (SPEC 2.4 `warnings`).
public struct FleetWarning: Sendable, Equatable {
  public var code: Code
  public var message: String

  public init(_ code: Code, _ message: String) {
    self.code = code
    self.message = message
  }

  /// Every code `fleet ps` can give, in the order `fleet export` lists them.
  public enum Code: String, CaseIterable, Sendable {
    /// No tmux server on the socket: no agent has a session.
    case tmuxServerAbsent = "tmux-server-absent"
    /// tmux answered with an error: every pane cell is unknown.
    case tmuxUnreadable = "tmux-unreadable"
    /// systemctl could not ask the user manager: every unit cell is unknown.
    case userManagerUnreachable = "user-manager-unreachable"
    /// Lingering is off: the user manager, and so the fleet, starts only at login.
    case lingerDisabled = "linger-disabled"
    /// tmux older than 3.2.
    case tmuxTooOld = "tmux-too-old"
    /// The run directory is unsafe: no heartbeat, probe or lease was read.
    case runDirUnsafe = "run-dir-unsafe"
    /// Agents rostered on other hosts: their planes are read only there.
    case remoteAgents = "remote-agents"
    /// A roster host did not answer its `fleet ps` over ssh: its agents' cells are unknown
    /// (SPEC 2.12; `fleet check` CRITICAL, SPEC 2.8).
    case hostUnreachable = "host-unreachable"
    /// A roster host calls itself by another name than its roster key.
    case hostNameMismatch = "host-name-mismatch"

    /// A plane the rows need could not be read, so their cells from it are unknown rather
    /// than fine (`fleet check` answers UNKNOWN).
    public var planeUnreadable: Bool {
      switch self {
      case .tmuxUnreadable, .userManagerUnreachable, .runDirUnsafe: return true
      default: return false
      }
    }
  }

  public var jsonValue: JSONValue {
    .object([("code", .string(code.rawValue)), ("message", .string(message))])
  }
}

/// What `fleet ps` returns (SPEC 2.4): the fleet-level facts, its warnings and its rows.
public struct FleetSnapshot: Sendable, Equatable {
  public static let schema = "mosaic.fleet.ps/v1"

  /// Wall clock of the reading (epoch seconds).
  public var generatedAt: Double
  public var host: String
  public var socket: String
  /// The roster file read.
  public var roster: String
  public var warnings: [FleetWarning]
  public var agents: [AgentRow]

  public init(
    generatedAt: Double, host: String, socket: String, roster: String,
    warnings: [FleetWarning], agents: [AgentRow]
  ) {
    self.generatedAt = generatedAt
    self.host = host
    self.socket = socket
    self.roster = roster
    self.warnings = warnings
    self.agents = agents
  }
}

// MARK: - The encoding (SPEC 2.4, docs/schemas/mosaic.fleet.ps.v1.json)

extension FleetSnapshot {
  /// The document of `fleet ps --json`, and the tables `fleet.ps()` gives Lua.
  public var jsonValue: JSONValue { jsonValue(rows: true) }

  /// The document; without `rows`, its `agents` member is empty.
  func jsonValue(rows: Bool) -> JSONValue {
    .object([
      ("schema", .string(Self.schema)),
      ("generated_at", .string(ISO8601.format(generatedAt))),
      ("host", .string(host)),
      ("socket", .string(socket)),
      ("roster", .string(roster)),
      ("warnings", .array(warnings.map(\.jsonValue))),
      ("agents", .array(rows ? agents.map(\.jsonValue) : [])),
    ])
  }

  /// `JSONCodec.encode(jsonValue, indent:)`, byte for byte, with the rows encoded in two
  /// halves at once (`fleet ps --json` at a thousand agents: the rows are most of the text).
  public func encoded(indent: Int) -> [UInt8] {
    guard case .object(var pairs) = jsonValue(rows: false), pairs.last?.0 == "agents" else {
      return Array(JSONCodec.encode(jsonValue, indent: indent).utf8)
    }
    pairs.removeLast()
    let rows = agents
    let n = rows.count
    let halves = n > 64 ? [0..<n / 2, n / 2..<n] : [0..<n]
    let parts = mapInHalves(halves, threshold: 1) { range -> [UInt8] in
      var out: [UInt8] = []
      out.reserveCapacity(range.count * 1536)
      for i in range {
        if i > 0 { out.append(UInt8(ascii: ",")) }
        JSONCodec.newline(&out, indent: indent, level: 2)
        JSONCodec.write(rows[i].jsonValue, into: &out, indent: indent, level: 2)
      }
      return out
    }
    var out: [UInt8] = []
    out.reserveCapacity(parts.reduce(4096) { $0 + $1.count })
    out.append(UInt8(ascii: "{"))
    for (key, value) in pairs {
      JSONCodec.newline(&out, indent: indent, level: 1)
      JSONCodec.writeString(key, into: &out)
      out.append(UInt8(ascii: ":"))
      if indent > 0 { out.append(UInt8(ascii: " ")) }
      JSONCodec.write(value, into: &out, indent: indent, level: 1)
      out.append(UInt8(ascii: ","))
    }
    JSONCodec.newline(&out, indent: indent, level: 1)
    JSONCodec.writeString("agents", into: &out)
    out.append(UInt8(ascii: ":"))
    if indent > 0 { out.append(UInt8(ascii: " ")) }
    if n == 0 {
      out += Array("[]".utf8)
    } else {
      out.append(UInt8(ascii: "["))
      for part in parts { out += part }
      JSONCodec.newline(&out, indent: indent, level: 1)
      out.append(UInt8(ascii: "]"))
    }
    JSONCodec.newline(&out, indent: indent, level: 0)
    out.append(UInt8(ascii: "}"))
    return out
  }
}

extension AgentRow {
  /// One object of SPEC 2.4's `agents`, every key present, unknown values null.
  public var jsonValue: JSONValue {
    .object([
      ("name", .string(name)),
      ("tenant_id", .from(tenantId)),
      ("host", .string(host)),
      ("runtime", .from(runtime)),
      ("systemd", unit.jsonValue),
      ("pane", pane.jsonValue),
      ("process", process?.jsonValue ?? .null),
      ("heartbeat", heartbeat.jsonValue),
      ("activity", activity.jsonValue),
      ("lease", lease?.jsonValue ?? .null),
      ("drift", .from(drift)),
      ("boot_enable_warning", .from(bootEnableWarning)),
      ("flags", .array(flags.map { .string($0.rawValue) })),
    ])
  }
}

extension AgentRow.Unit {
  public var jsonValue: JSONValue {
    .object([
      ("unit", .from(name)),
      ("active", .from(status?.active)),
      ("sub", .from(status?.sub)),
      ("enabled", .from(status?.enabled)),
    ])
  }
}

extension AgentRow.Pane {
  /// Every key always; a pane that is unknown or absent has only its state.
  public var jsonValue: JSONValue {
    let p = tmux
    return .object([
      ("state", .from(state?.rawValue)),
      ("id", .from(p?.paneId)),
      ("pid", .from(p?.panePid.map { Int($0) })),
      ("command", .from(command)),
      ("idle_s", idleS.map { .int($0) } ?? .null),
      ("width", .from(p?.width)),
      ("height", .from(p?.height)),
      ("in_mode", .from(p?.inMode)),
      ("session", .from(p?.session)),
      ("tty", .from(p?.tty)),
      ("input_off", .from(p?.inputOff)),
      ("dead_status", .from(p?.deadStatus)),
    ])
  }
}

extension AgentRow.Process {
  /// SPEC 2.4's `process` (pid, state, argv), its `cwd` and the group's `members`.
  public var jsonValue: JSONValue {
    guard case .object(var pairs) = program.jsonValue else { return program.jsonValue }
    pairs.append(("cwd", .from(cwd)))
    pairs.append(("members", .array(group.members.map { $0.process.jsonValue })))
    return .object(pairs)
  }
}

extension AgentRow.HeartbeatCell {
  public var jsonValue: JSONValue {
    shown.jsonValue(then: [("probe_answered", .from(probeAnswered))])
  }
}

/// The row's vocabulary as data, for Lua (`host.fleet_rules()`, read by `mosaic.row`):
/// `fleet check` and `fleet export` judge rows with these definitions instead of restating
/// them.
public enum FleetRules {
  public static var jsonValue: JSONValue {
    func strings(_ list: [String]) -> JSONValue { .array(list.map { .string($0) }) }
    return .object([
      ("flags", strings(AgentFlag.allCases.map(\.rawValue))),
      (
        "warnings",
        .array(
          FleetWarning.Code.allCases.map {
            .object([
              ("code", .string($0.rawValue)), ("plane_unreadable", .bool($0.planeUnreadable)),
            ])
          })
      ),
      ("boot_safe_states", strings(AgentRow.Unit.bootSafeStates)),
      ("active_states", strings(AgentRow.Unit.activeStates)),
    ])
  }
}
