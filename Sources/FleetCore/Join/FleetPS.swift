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
  public static func snapshot(roster: Roster, options: FleetPSOptions, planes: FleetPlanes)
    -> FleetSnapshot
  {
    let socket = options.socket ?? roster.socket
    var warnings: [FleetWarning] = []
    func warn(_ code: FleetWarning.Code, _ message: String) {
      warnings.append(FleetWarning(code, message))
    }
    let agents = roster.agents.filter { options.tenant == nil || $0.tenant == options.tenant }
    let local = agents.filter { $0.host == planes.host }
    if local.count < agents.count {
      warn(
        .remoteAgents,
        "\(agents.count - local.count) agent(s) run on other hosts; mosaic reads only this host's planes"
      )
    }

    // <run>: created private if missing; an unsafe one is not read at all.
    var runDirProblem: String? = nil
    if let failure = catching({ () throws(FileError) in
      try Files.ensurePrivateDirectory(options.runDir)
    }) {
      runDirProblem = failure.message
      warn(.runDirUnsafe, "heartbeats not read: \(failure.message)")
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

    // While tmux answers, the foreground groups under the server's children, which are the
    // panes' processes: matched to panes by pid (and terminal) once the listing is back, so
    // the listing and the /proc walk, the two slowest reads, overlap. A pane not found this
    // way (a server that could not be identified, a pane started since) is walked after.
    // Not under `--tenant`, whose rows are a part of the server's panes.
    var early: [Int32: ForegroundGroup] = [:]
    if options.tenant == nil, planes.procRoot == "/proc", let server = tmux.serverPID(),
      let panePids = ProcPlane.children(of: server), panePids.count <= 20_000
    {
      let groups = mapInHalves(panePids) {
        ProcPlane.foregroundGroup(ofPanePid: $0, paneTTY: nil)
      }
      for (pid, group) in zip(panePids, groups) { early[pid] = group }
    }

    let now = planes.now()
    let leaseStore = LeaseStore(runDir: options.runDir)
    var files: [String: (HeartbeatReading, Lease?)] = [:]
    // One listing of <run> says which files exist: most agents hold no lease, and a missing
    // file would cost an open each.
    let present = runDirProblem == nil ? Files.names(in: options.runDir) : nil
    func readFiles(_ name: String, interval: Double) -> (HeartbeatReading, Lease?)? {
      guard runDirProblem == nil else { return nil }
      if let known = files[name] { return known }
      let read = (
        store.read(agent: name, interval: interval, now: now, present: present),
        leaseStore.read(agent: name, present: present)
      )
      files[name] = read
      return read
    }
    for agent in local { _ = readFiles(agent.name, interval: agent.heartbeatInterval) }

    Timing.mark("process groups and heartbeat files read")
    var listing: TmuxListing? = nil
    switch tmuxTask.wait() {
    case .success(let l):
      listing = l
      if let v = l.version, tmuxVersionAtLeast("3.2", v) == false {
        warn(
          .tmuxTooOld, "tmux \(v) is older than 3.2: read-only and size guarantees do not hold")
      }
    case .failure(let error):
      if case .serverAbsent = error {
        warn(.tmuxServerAbsent, "no tmux server is running on socket \(socket)")
      } else {
        warn(.tmuxUnreadable, "tmux socket \(socket): \(error)")
      }
    }
    Timing.mark("tmux listed")
    // The process in each live pane, read while systemd is still answering.
    // A dead pane keeps its old pid, which may be another process's by now: only live
    // panes are looked up, and only on the pane's own terminal.
    let agentPanes = listing?.agentPanes ?? [:]
    let live = (listing?.panes ?? []).filter {
      !$0.dead && $0.panePid != nil && agentPanes[$0.session] == $0
    }
    var foregrounds: [String: ForegroundGroup] = [:]
    var unwalked: [TmuxPane] = []
    for pane in live {
      if let group = early[pane.panePid!], let tty = group.paneTTY,
        ProcPlane.ttyDevice(pane.tty) == tty
      {
        foregrounds[pane.paneId] = group
      } else {
        unwalked.append(pane)
      }
    }
    for (id, group) in ProcPlane.foregroundGroups(
      of: unwalked.map { ($0.paneId, $0.panePid!, $0.tty) }, procRoot: planes.procRoot)
    {
      foregrounds[id] = group
    }

    // The rows' other planes, and each agent program's own files, while systemd answers.
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
          name: agent.name, agent: agent, unit: .unknown,
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
    let programs = context.programs(inputs)

    let (unitResult, linger) = systemdTask.wait()
    switch unitResult {
    case .success(let units):
      for (i, agent) in agents.enumerated() where agent.host == planes.host {
        inputs[i].unit = .known(units[agent.unit])
      }
    case .failure(let error): warn(.userManagerUnreachable, error.message)
    }
    if linger == false {
      warn(
        .lingerDisabled,
        "lingering is disabled for this user: the user manager, and so the fleet, starts only at login"
          + " (loginctl enable-linger)")
    }
    Timing.mark("systemd answered")

    let rows = context.rows(inputs, programs)
    Timing.mark("rows built")
    return FleetSnapshot(
      generatedAt: now, host: planes.host, socket: socket, roster: roster.path,
      warnings: warnings, agents: rows)
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
    let f = group.program(of: input.agent, matcher: planes.matcher)
    return Found(
      pane: p, group: group, process: f.process, matched: f.matched, runtime: f.runtime)
  }

  /// Each row's program (`found`) and the programs' working directories: what `rows`
  /// needs besides systemd's answer, so the join reads it while systemd answers.
  struct Programs {
    var founds: [Found?]
    var cwds: [Int32: String]
  }

  func programs(_ inputs: [RowInput]) -> Programs {
    let founds = inputs.map(found)
    // Each agent process's own files, read at once on two threads: its working directory,
    // and a Claude's status record (its `environ` for HOME, then the file).
    let procRoot = planes.procRoot
    let programs = founds.compactMap { f in
      f.map { ($0.process, profile($0)?.record == "claude") }
    }
    let read = mapInHalves(programs) { program, claude in
      (
        program.pid, ProcPlane.cwd(of: program.pid, procRoot: procRoot),
        claude ? ClaudeRecord.status(of: program, procRoot: procRoot) : nil
      )
    }
    var cwds: [Int32: String] = [:]
    for (pid, cwd, record) in read {
      cwds[pid] = cwd
      if let record { reader.remember(record, of: pid) }
    }
    return Programs(founds: founds, cwds: cwds)
  }

  /// Every row, from `inputs` (with systemd's answer) and their `programs`, reading
  /// `activity` from records first and looking at the screens of the panes that still need
  /// it in one tmux call.
  func rows(_ inputs: [RowInput], _ programs: Programs) -> [AgentRow] {
    let founds = programs.founds
    let cwds = programs.cwds
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
    return inputs.indices.map {
      row(
        inputs[$0], found: founds[$0], activity: activities[$0],
        cwd: founds[$0].flatMap { cwds[$0.process.pid] })
    }
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

  /// One row of SPEC 2.4's `agents`: the planes' answers put together; its flags follow
  /// from them (`AgentRow.flags`).
  func row(_ input: RowInput, found: Found?, activity: Activity?, cwd: String?) -> AgentRow {
    let agent = input.agent
    var status: UnitStatus? = nil
    if case .known(let s) = input.unit { status = s }

    let pane: AgentRow.Pane
    switch input.pane {
    case .unknown: pane = .unknown
    case .known(nil): pane = .absent
    case .known(let p?):
      pane = AgentRow.Pane(p, command: found.map { commandName($0.group.leader) }, now: now)
    }
    let process = found.map {
      AgentRow.Process(program: $0.process, group: $0.group, cwd: cwd)
    }
    let probed = self.probed && agent != nil && input.heartbeat != nil
    return AgentRow(
      name: input.name, tenantId: agent?.tenant ?? input.defaultTenant,
      host: agent?.host ?? planes.host, runtime: agent?.runtime ?? found?.runtime,
      rostered: agent != nil, unit: AgentRow.Unit(name: agent?.unit, status: status),
      pane: pane, process: process,
      heartbeat: AgentRow.HeartbeatCell(
        reading: input.heartbeat, intervalS: input.interval,
        probeAnswered: probed ? (input.probeAnswer ?? false) : nil),
      activity: activity ?? .unknown, lease: input.lease,
      // drift: the roster's runtime against every member of the pane's foreground group
      drift: agent == nil ? nil : found?.matched.map { !$0 })
  }
}

/// What tmux calls `pane_current_command`: the basename of the foreground program's argv[0].
func commandName(_ p: ProcessSnapshot) -> String {
  guard let first = p.argv.first, !first.isEmpty else { return p.comm }
  return first.split(separator: "/").last.map(String.init) ?? first
}
