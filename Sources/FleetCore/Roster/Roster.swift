import MosaicSupport

/// A validated fleet roster (SPEC 2.2): every default filled in, every name checked.
///
/// Built only by `RosterValidator.validate`, which throws on the first problem, so a
/// `Roster` value is always the whole fleet, never part of it.
public struct Roster: Sendable, Equatable {
  /// The file the roster came from, as given to the validator (used in messages).
  public var path: String
  /// The default tenant of every agent (`tenant`, default "default").
  public var tenant: String
  /// The tmux socket name (`tmux -L <socket>`; `socket`, default "mosaic-factory").
  public var socket: String
  /// The default heartbeat interval in seconds (`heartbeat_interval`, default 15).
  public var heartbeatInterval: Double
  /// The agents in roster order.
  public var agents: [RosterAgent]
  /// Other hosts by name, sorted (SPEC 2.12; `hosts`, default none).
  public var hosts: [RosterHost] = []

  public static let defaultTenant = "default"
  public static let defaultSocket = "mosaic-factory"
  public static let defaultHeartbeatInterval = 15.0

  public init(
    path: String, tenant: String = Roster.defaultTenant, socket: String = Roster.defaultSocket,
    heartbeatInterval: Double = Roster.defaultHeartbeatInterval, agents: [RosterAgent],
    hosts: [RosterHost] = []
  ) {
    self.hosts = hosts
    self.path = path
    self.tenant = tenant
    self.socket = socket
    self.heartbeatInterval = heartbeatInterval
    self.agents = agents
  }

  /// The agent called `name`, or nil.
  public func agent(named name: String) -> RosterAgent? {
    agents.first { $0.name == name }
  }

  /// The agent whose tmux session is `session`, or nil.
  public func agent(inSession session: String) -> RosterAgent? {
    agents.first { $0.session == session }
  }

  /// The roster as data, with SPEC's field names (`tenant_id`, `heartbeat_interval`).
  public var jsonValue: JSONValue {
    .object([
      ("path", .string(path)),
      ("tenant_id", .string(tenant)),
      ("socket", .string(socket)),
      ("heartbeat_interval", .double(heartbeatInterval)),
      ("agents", .array(agents.map(\.jsonValue))),
      ("hosts", .array(hosts.map(\.jsonValue))),
    ])
  }
}

/// One agent of the roster, with its defaults resolved.
///
/// `runtime` is one of `RosterAgent.knownRuntimes` (claude, codex, pi, opencode, stub),
/// each with a built-in rule for recognising its program in the pane
/// (`RuntimeDetector`). Any other runtime name is accepted only together with a `match`
/// pattern, because without one mosaic could never tell whether the agent runs what the
/// roster says (the `drift` flag) — the validator rejects it instead of guessing.
public struct RosterAgent: Sendable, Equatable {
  /// `^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$`; unique in the roster.
  public var name: String
  /// The runtime the roster expects in the pane (claude, codex, pi, opencode, stub, or a
  /// custom name that comes with `match`).
  public var runtime: String
  /// The agent's tenant (`tenant`, default the roster's tenant).
  public var tenant: String
  /// The machine the agent runs on (`host`, default this machine's short host name).
  public var host: String
  /// The systemd user unit that starts it (default `mosaic-agent@<name>.service`).
  public var unit: String
  /// The tmux session it runs in (default `name`); unique in the roster.
  public var session: String
  /// Heartbeat interval in seconds (default the roster's).
  public var heartbeatInterval: Double
  /// A Lua pattern tried with `string.find` against the foreground program's command line
  /// (argv joined by spaces); when set it replaces the runtime's built-in rule.
  public var match: String?

  /// Runtimes with a built-in recognition rule.
  public static let knownRuntimes = ["claude", "codex", "pi", "opencode", "stub"]

  public init(
    name: String, runtime: String, tenant: String = Roster.defaultTenant, host: String,
    unit: String? = nil, session: String? = nil,
    heartbeatInterval: Double = Roster.defaultHeartbeatInterval, match: String? = nil
  ) {
    self.name = name
    self.runtime = runtime
    self.tenant = tenant
    self.host = host
    self.unit = unit ?? RosterAgent.defaultUnit(for: name)
    self.session = session ?? name
    self.heartbeatInterval = heartbeatInterval
    self.match = match
  }

  /// `mosaic-agent@<name>.service`.
  public static func defaultUnit(for name: String) -> String {
    "mosaic-agent@\(name).service"
  }

  /// Whether `runtime` has a built-in recognition rule.
  public var hasKnownRuntime: Bool { RosterAgent.knownRuntimes.contains(runtime) }

  /// The agent as data, with SPEC's field names (`tenant_id`); `match` is null when unset.
  public var jsonValue: JSONValue {
    .object([
      ("name", .string(name)),
      ("tenant_id", .string(tenant)),
      ("host", .string(host)),
      ("runtime", .string(runtime)),
      ("unit", .string(unit)),
      ("session", .string(session)),
      ("heartbeat_interval", .double(heartbeatInterval)),
      ("match", .from(match)),
    ])
  }
}

/// Why a roster was refused: one line, `<file>: [agent "<name>" | agent #<n>: ]<why>`.
public struct RosterError: Error, CustomStringConvertible, Sendable, Equatable {
  /// The roster file, as given to the validator.
  public var path: String
  /// Which agent: `agent "coder-1"` when its name is valid, else `agent #3` (1-based
  /// position in `agents`); nil for roster-level problems.
  public var agent: String?
  /// The field at fault, when there is one.
  public var field: String?
  /// What is wrong, for humans.
  public var problem: String

  public init(path: String, agent: String? = nil, field: String? = nil, problem: String) {
    self.path = path
    self.agent = agent
    self.field = field
    self.problem = problem
  }

  /// The whole message on one line.
  public var description: String {
    var parts = [path]
    if let agent { parts.append(agent) }
    parts.append(problem)
    return parts.joined(separator: ": ")
  }
}
