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
    if let failure = catchingFile({ () throws(FileError) in
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

    // tmux plane: one query.
    let tmux = TmuxClient(socket: socket, runner: planes.runner, program: planes.tmuxProgram)
    var listing: TmuxListing? = nil
    switch tmux.listPanes() {
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

    // systemd plane: one or two queries for every unit.
    var units: [String: UnitStatus]? = nil
    switch planes.systemd.status(of: local.map(\.unit)) {
    case .success(let u): units = u
    case .failure(let error): warn("user-manager-unreachable", error.message)
    }
    if planes.systemd.lingerEnabled() == false {
      warn(
        "linger-disabled",
        "lingering is disabled for this user: the user manager, and so the fleet, starts only at login"
          + " (loginctl enable-linger)")
    }

    let now = planes.now()
    var rows: [JSONValue] = []
    var rostered = Set<String>()
    for agent in roster.agents { rostered.insert(agent.session) }
    for agent in agents {
      let isLocal = agent.host == planes.host
      let pane = isLocal ? listing.map { $0.agentPane(of: agent.session) } : nil
      rows.append(
        row(
          name: agent.name, tenant: .string(agent.tenant), host: agent.host,
          runtime: .string(agent.runtime), unit: .string(agent.unit),
          unitStatus: isLocal ? units?[agent.unit] : nil, unitsKnown: isLocal && units != nil,
          pane: pane, listingKnown: isLocal && listing != nil, rosterAgent: agent,
          interval: agent.heartbeatInterval,
          heartbeatReadable: isLocal && runDirProblem == nil, store: store,
          probeAnswer: probeAnswers[agent.name], probed: options.probe && isLocal,
          now: now, planes: planes, runDir: options.runDir))
    }
    if options.tenant == nil, let listing {
      for session in listing.sessions.sorted() where !rostered.contains(session) {
        rows.append(
          row(
            name: session, tenant: .null, host: planes.host, runtime: .null, unit: .null,
            unitStatus: nil, unitsKnown: false, pane: listing.agentPane(of: session),
            listingKnown: true, rosterAgent: nil, interval: roster.heartbeatInterval,
            heartbeatReadable: runDirProblem == nil, store: store, probeAnswer: nil,
            probed: false, now: now, planes: planes, runDir: options.runDir))
      }
    }

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

  // swift-format-ignore: FunctionParameterCount
  private static func row(
    name: String, tenant: JSONValue, host: String, runtime: JSONValue, unit: JSONValue,
    unitStatus: UnitStatus?, unitsKnown: Bool, pane: TmuxPane??, listingKnown: Bool,
    rosterAgent: RosterAgent?, interval: Double, heartbeatReadable: Bool, store: HeartbeatStore,
    probeAnswer: Bool?, probed: Bool, now: Double, planes: FleetPlanes, runDir: String
  ) -> JSONValue {
    var flags: [String] = []

    // systemd
    let systemd: JSONValue = .object([
      ("unit", unit),
      ("active", .from(unitStatus?.active)),
      ("sub", .from(unitStatus?.sub)),
      ("enabled", .from(unitStatus?.enabled)),
    ])
    var bootWarning: Bool? = nil
    if let s = unitStatus, let active = s.active, let enabled = s.enabled {
      bootWarning = active == "active" && !bootSafeStates.contains(enabled)
    } else if unitsKnown, unitStatus?.active != nil, unitStatus?.active != "active" {
      bootWarning = false
    }

    // tmux and the process in the pane
    var paneJSON: JSONValue = .object([("state", .null)])
    var process: ProcessSnapshot? = nil
    if listingKnown {
      if case .some(.some(let p)) = pane {
        if p.dead {
          flags.append("dead")
        } else if let pid = p.panePid {
          process = ProcPlane.foreground(ofPanePid: pid, paneTTY: p.tty, procRoot: planes.procRoot)
        }
        let idle = p.windowActivity.map { max(0, Int64(now) - Int64($0)) }
        paneJSON = .object([
          ("state", .string(p.dead ? "dead" : "alive")),
          ("id", .string(p.paneId)),
          ("pid", .from(p.panePid.map { Int($0) })),
          ("command", .string(p.currentCommand)),
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
        paneJSON = .object([("state", .string("absent"))])
      }
    }
    if process?.isStopped == true { flags.append("stopped") }

    // drift: roster runtime vs what runs in the pane
    var drift: Bool? = nil
    if let agent = rosterAgent, let process {
      if let ok = RuntimeDetector.matches(
        runtime: agent.runtime, argv: process.argv, match: agent.match,
        patternMatcher: planes.matcher)
      {
        drift = !ok
      }
    }
    var detected: JSONValue = runtime
    if rosterAgent == nil, let process, let r = RuntimeDetector.detect(argv: process.argv) {
      detected = .string(r)
    }

    // heartbeat
    var heartbeat: JSONValue
    if heartbeatReadable {
      let reading = store.read(agent: name, interval: interval, now: now)
      if reading.health == "stale" { flags.append("stale") }
      if reading.skew { flags.append("skew") }
      heartbeat = reading.jsonValue
      if case .object(var pairs) = heartbeat {
        pairs.append(("seq", .from(reading.heartbeat?.seq.map { Int($0) })))
        pairs.append(("ack", .from(reading.heartbeat?.ack)))
        pairs.append(("progress", .from(reading.heartbeat?.progress)))
        pairs.append(("probe_answered", probed ? .bool(probeAnswer ?? false) : .null))
        heartbeat = .object(pairs)
      }
    } else {
      heartbeat = .object([
        ("health", .string("unknown")), ("age_s", .null), ("ts", .null), ("pid", .null),
        ("status", .null), ("interval_s", .double(interval)),
        ("reason", .string("heartbeat files not read")),
      ])
    }

    // lease
    let lease = heartbeatReadable ? LeaseStore(runDir: runDir).read(agent: name) : nil
    if lease != nil { flags.append("leased") }

    if drift == true { flags.insert("drift", at: 0) }
    if bootWarning == true { flags.insert("boot-enable", at: drift == true ? 1 : 0) }
    if rosterAgent == nil { flags.append("unrostered") }

    return .object([
      ("name", .string(name)),
      ("tenant_id", tenant),
      ("host", .string(host)),
      ("runtime", detected),
      ("systemd", systemd),
      ("pane", paneJSON),
      ("process", process?.jsonValue ?? .null),
      ("heartbeat", heartbeat),
      ("lease", lease?.jsonValue ?? .null),
      ("drift", .from(drift)),
      ("boot_enable_warning", .from(bootWarning)),
      ("flags", .array(flags.map { .string($0) })),
    ])
  }
}

func catchingFile(_ body: () throws(FileError) -> Void) -> FileError? {
  do {
    try body()
    return nil
  } catch {
    return error
  }
}
