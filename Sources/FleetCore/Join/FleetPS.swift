import MosaicSupport

/// What `fleet ps` is asked for.
public struct FleetPSOptions: Sendable {
  /// tmux socket name; nil means the roster's.
  public var socket: String?
  /// Only agents of this tenant (unrostered sessions, which have none, are left out too).
  public var tenant: String?
  /// Probe every listed agent's responder before reading heartbeats.
  public var probe: Bool
  public var probeTimeout: Double
  /// `<run>`: heartbeats, probes, leases.
  public var runDir: String
  /// The runtimes' profiles by name (`lua/mosaic/runtimes.lua`): how `activity` is read.
  /// Empty: every `activity` is unknown.
  public var profiles: [String: RuntimeProfile] = [:]

  public init(
    socket: String? = nil, tenant: String? = nil, probe: Bool = false, probeTimeout: Double = 2,
    runDir: String
  ) {
    self.socket = socket
    self.tenant = tenant
    self.probe = probe
    self.probeTimeout = probeTimeout
    self.runDir = runDir
  }
}

/// The sources the join reads, injectable for tests.
public struct FleetPlanes {
  public var runner: any CommandRunner
  public var systemd: any SystemdQuerying
  public var tmuxProgram: String
  public var procRoot: String
  /// This machine's short host name.
  public var host: String
  /// Wall clock (epoch seconds).
  public var now: () -> Double
  /// Lua's `string.find(subject, pattern) ~= nil` for roster `match` patterns.
  public var matcher: (String, String) -> Bool

  public init(
    runner: any CommandRunner, systemd: any SystemdQuerying, tmuxProgram: String = "tmux",
    procRoot: String = "/proc", host: String = shortHostName(),
    now: @escaping () -> Double = Clock.now,
    matcher: @escaping (String, String) -> Bool
  ) {
    self.runner = runner
    self.systemd = systemd
    self.tmuxProgram = tmuxProgram
    self.procRoot = procRoot
    self.host = host
    self.now = now
    self.matcher = matcher
  }
}

/// The join behind `fleet ps` (SPEC 2.4): one row per roster agent plus one per
/// unrostered session, each plane read once for the whole fleet (one tmux query, the
/// systemd plane's one or two, `/proc` and files in-process). A plane that cannot be read
/// leaves its cells null and adds a fleet-level warning; the rest of each row is filled.
public enum FleetPS {
  /// Unit-file states with which an active unit also starts at boot (SPEC 2.4).
  public static let bootSafeStates: Set<String> = ["enabled", "static", "generated"]

  public static let schema = "mosaic.fleet.ps/v1"

  public static func snapshot(roster: Roster, options: FleetPSOptions, planes: FleetPlanes)
    -> JSONValue
  {
    let socket = options.socket ?? roster.socket
    var warnings: [JSONValue] = []
    func warn(_ code: String, _ message: String) {
      warnings.append(.object([("code", .string(code)), ("message", .string(message))]))
    }
    let agents = roster.agents.filter { options.tenant == nil || $0.tenant == options.tenant }
    let local = agents.filter { $0.host == planes.host }
    if local.count < agents.count {
      warn(
        "remote-agents",
        "\(agents.count - local.count) agent(s) run on other hosts; mosaic reads only this host's planes"
      )
    }

    // <run>: created private if missing; an unsafe one is not read at all.
    var runDirProblem: String? = nil
    if let failure = catching({ () throws(FileError) in
      try Files.ensurePrivateDirectory(options.runDir)
    }) {
      runDirProblem = failure.message
      warn("run-dir-unsafe", "heartbeats not read: \(failure.message)")
    }
    let store = HeartbeatStore(runDir: options.runDir)

    // Probes first, for all agents at once, so their answers are what we read below.
    var probeAnswers: [String: Bool] = [:]
    if options.probe, runDirProblem == nil {
      var pending: [String: String] = [:]
      for agent in local {
        if let nonce = try? store.sendProbe(agent: agent.name) { pending[agent.name] = nonce }
      }
      probeAnswers = store.awaitProbes(pending, timeout: options.probeTimeout)
    }

    // The external queries run at the same time (one tmux process; the systemd plane's
    // one or two) while this thread reads /proc and the run directory.
    let tmux = TmuxClient(socket: socket, runner: planes.runner, program: planes.tmuxProgram)
    let tmuxTask = Background { tmux.listPanes(withCommand: false) }
    let systemd = planes.systemd
    let unitNames = local.map(\.unit)
    let systemdTask = Background { (systemd.status(of: unitNames), systemd.lingerEnabled()) }

    let now = planes.now()
    let leaseStore = LeaseStore(runDir: options.runDir)
    var files: [String: (HeartbeatReading, Lease?)] = [:]
    func readFiles(_ name: String, interval: Double) -> (HeartbeatReading, Lease?)? {
      guard runDirProblem == nil else { return nil }
      if let known = files[name] { return known }
      let read = (
        store.read(agent: name, interval: interval, now: now), leaseStore.read(agent: name)
      )
      files[name] = read
      return read
    }
    for agent in local { _ = readFiles(agent.name, interval: agent.heartbeatInterval) }

    var listing: TmuxListing? = nil
    switch tmuxTask.wait() {
    case .success(let l):
      listing = l
      if let v = l.version, tmuxVersionAtLeast("3.2", v) == false {
        warn(
          "tmux-too-old", "tmux \(v) is older than 3.2: read-only and size guarantees do not hold")
      }
    case .failure(let error):
      if case .serverAbsent = error {
        warn("tmux-server-absent", "no tmux server is running on socket \(socket)")
      } else {
        warn("tmux-unreadable", "tmux socket \(socket): \(error)")
      }
    }
    // The process in each live pane, read while systemd is still answering.
    // A dead pane keeps its old pid, which may be another process's by now: only live
    // panes are looked up, and only on the pane's own terminal.
    let agentPanes = listing?.agentPanes ?? [:]
    let live = (listing?.panes ?? []).filter {
      !$0.dead && $0.panePid != nil && agentPanes[$0.session] == $0
    }
    let foregrounds = ProcPlane.foregroundGroups(
      of: live.map { ($0.paneId, $0.panePid!, $0.tty) }, procRoot: planes.procRoot)

    var units: [String: UnitStatus]? = nil
    let (unitResult, linger) = systemdTask.wait()
    switch unitResult {
    case .success(let u): units = u
    case .failure(let error): warn("user-manager-unreachable", error.message)
    }
    if linger == false {
      warn(
        "linger-disabled",
        "lingering is disabled for this user: the user manager, and so the fleet, starts only at login"
          + " (loginctl enable-linger)")
    }

    let context = RowContext(
      now: now, planes: planes, probed: options.probe, foregrounds: foregrounds,
      profiles: options.profiles,
      reader: ActivityReader(procRoot: planes.procRoot, matcher: planes.matcher), tmux: tmux,
      screenCache: runDirProblem == nil ? "\(options.runDir)/screens.cache" : nil)
    var inputs: [RowInput] = []
    for agent in agents {
      let isLocal = agent.host == planes.host
      let file = isLocal ? files[agent.name] : nil
      inputs.append(
        RowInput(
          name: agent.name, agent: agent,
          unit: isLocal && units != nil ? .known(units?[agent.unit]) : .unknown,
          pane: isLocal && listing != nil
            ? .known(agentPanes[agent.session]) : .unknown,
          heartbeat: file?.0, interval: agent.heartbeatInterval, lease: file?.1,
          probeAnswer: isLocal ? probeAnswers[agent.name] : nil))
    }
    if options.tenant == nil, let listing {
      let rostered = Set(roster.agents.map(\.session))
      for session in listing.sessions.sorted() where !rostered.contains(session) {
        let file = readFiles(session, interval: roster.heartbeatInterval)
        inputs.append(
          RowInput(
            name: session, agent: nil, unit: .unknown,
            pane: .known(agentPanes[session]), heartbeat: file?.0,
            interval: roster.heartbeatInterval, lease: file?.1, probeAnswer: nil,
            defaultTenant: roster.tenant))
      }
    }
    let rows = context.rows(inputs)

    return .object([
      ("schema", .string(schema)),
      ("generated_at", .string(ISO8601.format(now))),
      ("host", .string(planes.host)),
      ("socket", .string(socket)),
      ("roster", .string(roster.path)),
      ("warnings", .array(warnings)),
      ("agents", .array(rows)),
    ])
  }
}

/// A plane's answer for one row: unknown (the plane could not be read), or known (and
/// then possibly nothing: no such unit, no such session).
enum Cell<T> {
  case unknown
  case known(T?)
}

/// What one row is made of, already read.
struct RowInput {
  var name: String
  /// nil for an unrostered session.
  var agent: RosterAgent?
  var unit: Cell<UnitStatus>
  var pane: Cell<TmuxPane>
  /// nil when the run directory could not be read.
  var heartbeat: HeartbeatReading?
  var interval: Double
  var lease: Lease?
  var probeAnswer: Bool?
  /// The tenant of an unrostered session: the roster's default (SPEC 2.4).
  var defaultTenant: String? = nil
}

struct RowContext {
  var now: Double
  var planes: FleetPlanes
  var probed: Bool
  /// The foreground group of each live agent pane.
  var foregrounds: [String: ForegroundGroup]
  var profiles: [String: RuntimeProfile]
  var reader: ActivityReader
  var tmux: TmuxClient
  /// Where screen verdicts are kept between runs (`ScreenVerdictCache`); nil: not kept.
  var screenCache: String? = nil

  /// The live pane of a row, its foreground group, the agent's program in it, and whether
  /// that program is the roster's runtime (nil: could not be told).
  struct Found {
    var pane: TmuxPane
    var group: ForegroundGroup
    var process: ProcessSnapshot
    var matched: Bool?
    var runtime: String?
  }

  func found(_ input: RowInput) -> Found? {
    guard case .known(let p?) = input.pane, !p.dead, let group = foregrounds[p.paneId] else {
      return nil
    }
    if let agent = input.agent {
      let f = group.agentProcess {
        RuntimeDetector.matches(
          runtime: agent.runtime, argv: $0.argv, match: agent.match,
          patternMatcher: planes.matcher)
      }
      return Found(
        pane: p, group: group, process: f.process, matched: f.matched, runtime: agent.runtime)
    }
    let f = group.agentProcess { RuntimeDetector.detect(argv: $0.argv) != nil }
    let runtime = f.matched == true ? RuntimeDetector.detect(argv: f.process.argv) : nil
    return Found(pane: p, group: group, process: f.process, matched: f.matched, runtime: runtime)
  }

  /// Every row, reading `activity` from records first and looking at the screens of the
  /// panes that still need it in one tmux call.
  func rows(_ inputs: [RowInput]) -> [JSONValue] {
    let founds = inputs.map(found)
    reader.prefetchClaudeRecords(
      founds.compactMap { f in f.flatMap { profile($0)?.record == "claude" ? $0.process : nil } })
    var activities: [Activity?] = Array(repeating: nil, count: inputs.count)
    var needScreen: [Int] = []
    for (i, input) in inputs.enumerated() {
      guard let f = founds[i] else { continue }
      let profile = self.profile(f)
      guard profile != nil else { continue }
      let a = activity(input, f, profile: profile, screen: nil)
      activities[i] = a
      let settled =
        (a.source == "agent" && a.state != .starting && a.state != .unknown) || a.source == "hook"
      if !settled, !(profile?.screen.isEmpty ?? true) || profile?.prompt != nil {
        needScreen.append(i)
      }
    }
    if !needScreen.isEmpty {
      let verdicts = screenVerdicts(needScreen.compactMap { founds[$0] })
      for i in needScreen {
        guard let f = founds[i], let verdict = verdicts[f.pane.paneId] else { continue }
        activities[i] = reader.read(
          profile: profile(f), process: f.process, heartbeat: inputs[i].heartbeat?.heartbeat,
          heartbeatHealthy: inputs[i].heartbeat?.health == "healthy", onScreen: verdict)
      }
    }
    return inputs.indices.map { row(inputs[$0], found: founds[$0], activity: activities[$0]) }
  }

  /// The profile `activity` is read with: the roster's runtime, or, when another program
  /// runs (drift), that program's, since activity describes what really runs.
  func profile(_ f: Found) -> RuntimeProfile? {
    if f.matched == false {
      return RuntimeDetector.detect(argv: f.process.argv).flatMap { profiles[$0] }
    }
    return f.runtime.flatMap { profiles[$0] }
  }

  func activity(_ input: RowInput, _ f: Found, profile: RuntimeProfile?, screen: SendScreen?)
    -> Activity
  {
    reader.read(
      profile: profile, process: f.process, heartbeat: input.heartbeat?.heartbeat,
      heartbeatHealthy: input.heartbeat?.health == "healthy", screen: screen)
  }

  /// One row of SPEC 2.4's `agents`.
  func row(_ input: RowInput, found: Found?, activity: Activity?) -> JSONValue {
    var flags: [String] = []
    let agent = input.agent

    // systemd
    var status: UnitStatus? = nil
    if case .known(let s) = input.unit { status = s }
    let systemd: JSONValue = .object([
      ("unit", .from(agent?.unit)),
      ("active", .from(status?.active)),
      ("sub", .from(status?.sub)),
      ("enabled", .from(status?.enabled)),
    ])
    var bootWarning: Bool? = nil
    if let active = status?.active {
      if active != "active" {
        bootWarning = false
      } else if let enabled = status?.enabled {
        bootWarning = !FleetPS.bootSafeStates.contains(enabled)
      }
    }

    // tmux, and the process in the pane
    var paneJSON = emptyPane(state: .null)
    let group = found?.group
    if case .known(let pane) = input.pane {
      if let p = pane {
        if p.dead { flags.append("dead") }
        let idle = p.windowActivity.map { max(0, Int64(now) - Int64($0)) }
        paneJSON = .object([
          ("state", .string(p.dead ? "dead" : "alive")),
          ("id", .string(p.paneId)),
          ("pid", .from(p.panePid.map { Int($0) })),
          ("command", .from(group.map { commandName($0.leader) })),
          ("idle_s", idle.map { .int($0) } ?? .null),
          ("width", .from(p.width)),
          ("height", .from(p.height)),
          ("in_mode", .bool(p.inMode)),
          ("session", .string(p.session)),
          ("tty", .string(p.tty)),
          ("input_off", .bool(p.inputOff)),
          ("dead_status", .from(p.deadStatus)),
        ])
      } else {
        flags.append("absent")
        paneJSON = emptyPane(state: .string("absent"))
      }
    }
    if group?.stopped == true { flags.append("stopped") }

    // drift: the roster's runtime against every member of the pane's foreground group
    let process = found?.process
    let drift: Bool? = agent == nil ? nil : found?.matched.map { !$0 }
    let runtime: JSONValue = .from(agent?.runtime ?? found?.runtime)
    let activity = activity ?? .unknown
    if activity.state == .waiting { flags.append("waiting") }

    // heartbeat
    var heartbeat: JSONValue
    if let reading = input.heartbeat {
      if reading.health == "stale" { flags.append("stale") }
      if reading.skew { flags.append("skew") }
      heartbeat = reading.jsonValue
      if case .object(var pairs) = heartbeat {
        pairs.append(("seq", .from(reading.heartbeat?.seq.map { Int($0) })))
        pairs.append(("ack", .from(reading.heartbeat?.ack)))
        pairs.append(("progress", .from(reading.heartbeat?.progress)))
        pairs.append(
          ("probe_answered", probed && agent != nil ? .bool(input.probeAnswer ?? false) : .null))
        heartbeat = .object(pairs)
      }
    } else {
      heartbeat = .object([
        ("health", .string("unknown")), ("age_s", .null), ("ts", .null), ("pid", .null),
        ("status", .null), ("interval_s", .double(input.interval)),
        ("reason", .string("heartbeat files not read")),
      ])
    }

    if input.lease != nil { flags.append("leased") }
    if bootWarning == true { flags.insert("boot-enable", at: 0) }
    if drift == true { flags.insert("drift", at: 0) }
    if agent == nil { flags.append("unrostered") }

    return .object([
      ("name", .string(input.name)),
      ("tenant_id", .from(agent?.tenant ?? input.defaultTenant)),
      ("host", .string(agent?.host ?? planes.host)),
      ("runtime", runtime),
      ("systemd", systemd),
      ("pane", paneJSON),
      ("process", process.map { processJSON($0, group: group) } ?? .null),
      ("heartbeat", heartbeat),
      ("activity", activity.jsonValue),
      ("lease", input.lease?.jsonValue ?? .null),
      ("drift", .from(drift)),
      ("boot_enable_warning", .from(bootWarning)),
      ("flags", .array(flags.map { .string($0) })),
    ])
  }
}

/// A `pane` object with every key (SPEC 2.4) and nothing known but its state.
func emptyPane(state: JSONValue) -> JSONValue {
  .object(
    [("state", state)]
      + [
        "id", "pid", "command", "idle_s", "width", "height", "in_mode", "session", "tty",
        "input_off", "dead_status",
      ].map { ($0, JSONValue.null) })
}

/// What tmux calls `pane_current_command`: the basename of the foreground program's argv[0].
func commandName(_ p: ProcessSnapshot) -> String {
  guard let first = p.argv.first, !first.isEmpty else { return p.comm }
  return first.split(separator: "/").last.map(String.init) ?? first
}

/// SPEC 2.4's `process` (the agent's program) and the foreground group's `members` it was
/// found among, shallowest first.
func processJSON(_ p: ProcessSnapshot, group: ForegroundGroup?) -> JSONValue {
  guard case .object(var pairs) = p.jsonValue else { return p.jsonValue }
  pairs.append(("cwd", .from(ProcPlane.cwd(of: p.pid))))
  pairs.append(("members", .array((group?.members ?? []).map { $0.process.jsonValue })))
  return .object(pairs)
}
