import FleetCore
import LuaBridge
import MosaicSupport

#if canImport(Glibc)
  import Glibc
#endif

/// Loads a roster file: evaluates it in a fresh Lua state (standard libraries only, a
/// time limit and a memory cap, so a broken roster cannot hang or exhaust `fleet ps`),
/// converts the returned table and validates it (SPEC 2.2). Errors are one line.
public struct RosterLoadError: Error, CustomStringConvertible {
  public let message: String
  public var description: String { message }
}

public enum RosterLoader {
  /// Seconds a roster may take to evaluate, at most.
  public static let timeLimit = 2.0

  public static func load(
    path: String, host: String = shortHostName(), timeLimit: Double = RosterLoader.timeLimit
  ) -> Result<Roster, RosterLoadError> {
    // The first run: no roster yet. Say how to make one rather than "No such file".
    var st = stat()
    if lstat(path, &st) != 0, errno == ENOENT {
      return .failure(
        RosterLoadError(
          message: "roster: \(path): no roster yet ('mosaic fleet init' writes one)"))
    }
    // The roster is code: the same trust check as every file mosaic runs (SPEC 2.2), and
    // an open that cannot block (a FIFO is refused, not waited on).
    let source: [UInt8]
    switch Files.readCode(path, limit: 4 << 20) {
    case .success(let bytes): source = bytes
    case .failure(let refused):
      return .failure(RosterLoadError(message: "roster: " + Files.refusal(path, refused)))
    }
    let value: JSONValue
    do {
      let lua = try LuaState(memoryLimit: 64 << 20)
      lua.setTimeLimit(max(timeLimit, 0.001))
      try lua.load(MosaicCLI.stripShebang(source), name: "@" + path)
      try lua.call(nargs: 0, nresults: 1, traceback: false)
      guard lua.type(at: -1) == .table else {
        return .failure(
          RosterLoadError(
            message: "roster: \(path): must return a table, got \(lua.typeName(at: -1))"))
      }
      do {
        value = try lua.json(at: -1)
      } catch {
        var where_ =
          error.message.hasPrefix("value") ? "roster" + error.message.dropFirst(5) : error.message
        // `0/0`, `1/0`: say what is wrong in the operator's terms, not JSON's.
        if where_.hasSuffix(" is not a JSON number"), let colon = where_.lastIndex(of: ":") {
          let got = where_[colon...].dropFirst(2).dropLast(" is not a JSON number".count)
          where_ =
            String(where_[..<colon]) + ": must be a finite number, got "
            + (got.hasSuffix("nan") ? "NaN (0/0)" : got.hasPrefix("-") ? "-inf" : "inf")
        }
        return .failure(RosterLoadError(message: "roster: \(path): \(where_)"))
      }
    } catch {
      if error.kind == .aborted {
        return .failure(
          RosterLoadError(
            message: "roster: \(path): \(error.message.split(separator: "\n").first ?? "") "
              + "(evaluating it may take at most 2 s and 64 MiB)"))
      }
      let first = error.message.split(separator: "\n").first.map(String.init) ?? error.message
      return .failure(RosterLoadError(message: "roster: \(first)"))
    }
    let roster: Roster
    do throws(RosterError) {
      roster = try RosterValidator.validate(value, path: path, defaultHost: host)
    } catch {
      return .failure(RosterLoadError(message: "roster: \(error.description)"))
    }
    // `match` is a Lua pattern: compiled here, so a broken one is an error naming the agent
    // and field, not an agent that silently shows drift.
    let matcher = PatternMatcher()
    var valid = Set<String>()  // a fleet's agents mostly share a few patterns
    for agent in roster.agents {
      guard let pattern = agent.match, !valid.contains(pattern) else { continue }
      guard let why = matcher.compileError(pattern) else {
        valid.insert(pattern)
        continue
      }
      return .failure(
        RosterLoadError(
          message:
            "roster: \(path): agent \"\(agent.name)\": field \"match\" is not a valid Lua "
            + "pattern: \(why)"))
    }
    return .success(roster)
  }
}

/// Lua's `string.find` for roster `match` patterns, in a small state of its own (never the
/// caller's, which may be inside a coroutine).
final class PatternMatcher {
  private var lua: LuaState?

  /// Why `pattern` is not a valid Lua pattern (Lua's own message), or nil when it is. It is
  /// tried against an empty subject and against one that reaches its every item.
  func compileError(_ pattern: String) -> String? {
    for subject in ["", pattern] {
      if case .failure(let e) = find(subject, pattern) { return e.message }
    }
    return nil
  }

  /// Answers already computed, by pattern then subject: a fleet's agents share patterns and
  /// often their subjects (the same program line, the same prompt row).
  private var answers: [String: [String: Bool]] = [:]

  func matches(_ subject: String, _ pattern: String) -> Bool {
    if let known = answers[pattern]?[subject] { return known }
    let answer = (try? find(subject, pattern).get()) ?? false
    if subject.utf8.count <= 4096 { answers[pattern, default: [:]][subject] = answer }
    return answer
  }

  struct PatternError: Error { var message: String }

  /// `string.find(subject, pattern) ~= nil`, or Lua's error (a bad pattern), in at most 1 s.
  private func find(_ subject: String, _ pattern: String) -> Result<Bool, PatternError> {
    if lua == nil { lua = try? LuaState(memoryLimit: 16 << 20) }
    guard let lua else { return .failure(PatternError(message: "no Lua state to check it")) }
    let base = lua.top
    defer { lua.top = base }
    lua.getGlobal("string")
    lua.getField("find", in: -1)
    lua.pushString(subject)
    lua.pushString(pattern)
    lua.setTimeLimit(1)
    defer { lua.setTimeLimit(0) }
    do {
      try lua.call(nargs: 2, nresults: 1, traceback: false)
    } catch {
      lua.clearAbort()
      return .failure(
        PatternError(
          message: error.message.split(separator: "\n").first.map(String.init) ?? error.message))
    }
    return .success(lua.type(at: -1) != .nil)
  }
}

extension Runtime {
  /// The roster at `path` (default: `$MOSAIC_ROSTER` or `<config>/fleet/roster.lua`).
  ///
  /// A roster is evaluated again only when its file changed (`FileIdentity`: device, inode,
  /// size, modification and change times): `fleet ps` asks for the roster's hosts first and
  /// then for the whole roster, and `--watch` asks every few seconds, so one process would
  /// otherwise evaluate and validate the same file again and again (10 ms at 1000 agents).
  func loadRoster(_ path: String?, timeLimit: Double = RosterLoader.timeLimit) -> Result<
    Roster, RosterLoadError
  > {
    let path = path ?? paths.roster
    let key = FileIdentity(path)
    if let key, let cached = rosterCache, cached.key == key { return .success(cached.roster) }
    let result = RosterLoader.load(path: path, timeLimit: timeLimit)
    if let key, case .success(let roster) = result, FileIdentity(path) == key {
      rosterCache = (key, roster)
    }
    return result
  }

  /// `fleet.ps` options (argument 1) → the snapshot, or nil after pushing
  /// `nil, message, code` (code `roster-invalid`: the roster could not be loaded).
  func psSnapshot(_ call: LuaCall) throws(LuaCallError) -> FleetSnapshot? {
    let o = try call.options(
      1, known: ["roster", "socket", "tenant", "probe", "probe_timeout", "runtimes"])
    let roster: Roster
    // Under a time limit (`mosaic.within`, `run --timeout`) the roster's evaluation too.
    let rosterLimit = min(RosterLoader.timeLimit, call.timeLeft ?? RosterLoader.timeLimit)
    switch loadRoster(try string(o["roster"], 1, "roster"), timeLimit: rosterLimit) {
    case .success(let r): roster = r
    case .failure(let error):
      if let message = call.abortMessage { throw .raw(message) }
      _ = failing(call, error.message, code: "roster-invalid")
      return nil
    }
    Timing.mark("roster loaded")
    var options = FleetPSOptions(
      socket: try string(o["socket"], 1, "socket"), tenant: try string(o["tenant"], 1, "tenant"),
      probe: o["probe"]?.boolValue ?? false,
      probeTimeout: try number(o["probe_timeout"], 1, "probe_timeout") ?? 2,
      runDir: paths.run)
    options.profiles = try profiles(o["runtimes"], 1)
    // Under a script's time limit, tmux, systemctl and the probe wait end in time too.
    let left = call.timeLeft
    if let left { options.probeTimeout = min(options.probeTimeout, left) }
    let snapshot = FleetPS.snapshot(
      roster: roster, options: options,
      planes: fleetPlanes(deadline: left.map { Clock.monotonic() + $0 }))
    if let message = call.abortMessage { throw .raw(message) }
    return snapshot
  }

  /// The real planes; with a deadline, every external command ends by then.
  func fleetPlanes(deadline: Double? = nil) -> FleetPlanes {
    let matcher = PatternMatcher()
    let runner: any CommandRunner =
      deadline.map { DeadlineRunner(SpawnRunner(), deadline: $0) } ?? SpawnRunner()
    return FleetPlanes(
      runner: runner,
      systemd: SystemctlPlane(
        runner: runner,
        options: SystemctlPlane.Options(
          bus: Environment.get(SystemdBus.environmentKey) != "off", deadline: deadline)),
      matcher: { matcher.matches($0, $1) })
  }

  /// Raw fleet and heartbeat primitives; the friendly API is lua/mosaic/fleet.lua and
  /// lua/mosaic/heartbeat.lua.
  func fleetFunctions() -> [(String, HostFunction)] {
    let paths = self.paths
    return [
      (
        "fleet_roster",
        { [unowned self] call throws(LuaCallError) in
          switch loadRoster(try call.optString(1)) {
          case .success(let roster): call.push(roster.jsonValue)
          case .failure(let error): return call.fail(error.message)
          }
          return 1
        }
      ),
      (
        "fleet_roster_hosts",
        { [unowned self] call throws(LuaCallError) in
          // fleet_roster_hosts([path]) -> the roster's `hosts` list (roster.hosts), without
          // building its agents as Lua tables | nil, message
          switch loadRoster(try call.optString(1)) {
          case .success(let roster): call.push(.array(roster.hosts.map(\.jsonValue)))
          case .failure(let error): return call.fail(error.message)
          }
          return 1
        }
      ),
      (
        "fleet_ps",
        { [unowned self] call throws(LuaCallError) in
          guard let snapshot = try psSnapshot(call) else { return 3 }
          call.push(snapshot.jsonValue)
          return 1
        }
      ),
      (
        "fleet_ps_json",
        { [unowned self] call throws(LuaCallError) in
          // The same snapshot as JSON text, without building Lua tables (big fleets).
          guard let snapshot = try psSnapshot(call) else { return 3 }
          call.push(JSONCodec.encode(snapshot.jsonValue, indent: call.boolean(2) ? 2 : 0))
          Timing.mark("JSON encoded")
          return 1
        }
      ),
      (
        "fleet_rules",
        { call throws(LuaCallError) in
          // fleet_rules() -> the row's vocabulary as FleetCore defines it (lua/mosaic/rows.lua)
          call.push(FleetRules.jsonValue)
          return 1
        }
      ),
      (
        "fleet_probe",
        { call throws(LuaCallError) in
          // fleet_probe(names, timeout) -> {name = true|false}
          guard case .array(let items) = try call.json(1) else {
            throw .argument(1, "list of agent names expected")
          }
          let timeout = try call.optNumber(2) ?? 2
          guard timeout >= 0, timeout <= 86400 else {
            throw .argument(2, "timeout: seconds expected (0 to 86400), got \(timeout)")
          }
          let store = HeartbeatStore(runDir: paths.run)
          if let failure = catching({ () throws(HeartbeatError) in try store.ensureRunDir() }) {
            return call.fail(failure.message)
          }
          var pending: [String: String] = [:]
          var answers: [(String, JSONValue)] = []
          for item in items {
            guard let name = item.stringValue, HeartbeatStore.isValidAgentName(name) else {
              throw .argument(1, "invalid agent name \(JSONCodec.encode(item))")
            }
            do throws(HeartbeatError) {
              pending[name] = try store.sendProbe(agent: name)
            } catch {
              return call.fail(error.message)
            }
          }
          let result = store.awaitProbes(pending, timeout: timeout)
          for item in items {
            let name = item.stringValue!
            answers.append((name, .bool(result[name] ?? false)))
          }
          call.push(.object(answers))
          return 1
        }
      ),
      (
        "heartbeat_read",
        { call throws(LuaCallError) in
          // heartbeat_read(name, interval) -> the heartbeat object of a fleet ps row, with probe
          // and skew instead of probe_answered (HeartbeatReading.jsonValue(then:))
          let name = try call.string(1)
          guard HeartbeatStore.isValidAgentName(name) else {
            throw .argument(1, "invalid agent name '\(name)'")
          }
          let interval = call.isNoneOrNil(2) ? 15 : try interval(call, 2)
          let reading = HeartbeatStore(runDir: paths.run).read(agent: name, interval: interval)
          call.push(
            reading.jsonValue(then: [
              ("probe", .from(reading.heartbeat?.probe)), ("skew", .bool(reading.skew)),
            ]))
          return 1
        }
      ),
      (
        "heartbeat_health",
        { call throws(LuaCallError) in
          // heartbeat_health(ts, interval, now) -> health, age_s, reason
          let ts = try call.json(1)
          let interval = try interval(call, 2)
          let now = try call.optNumber(3) ?? Clock.now()
          guard now.isFinite else { throw .argument(3, "a finite time expected") }
          let epoch: Double
          if let d = ts.doubleValue {
            guard d.isFinite else { throw .argument(1, "a finite timestamp expected") }
            epoch = d
          } else if let s = ts.stringValue, let d = ISO8601.parse(s) {
            epoch = d
          } else {
            throw .argument(1, "timestamp (epoch seconds or ISO 8601) expected")
          }
          guard interval > 0 else { throw .argument(2, "positive interval expected") }
          let reading = HeartbeatHealth.evaluate(
            Heartbeat(ts: epoch, pid: 1), interval: interval, now: now)
          call.push(reading.health)
          call.push(.from(reading.ageS))
          call.push(.from(reading.reason))
          return 3
        }
      ),
      (
        "heartbeat_write",
        { call throws(LuaCallError) in
          // heartbeat_write(name, {status=, pid=, interval=, ack=, progress=, seq=}) -> true | nil, err
          let name = try call.string(1)
          guard HeartbeatStore.isValidAgentName(name) else {
            throw .argument(1, "invalid agent name '\(name)'")
          }
          let o = try call.options(
            2, known: ["status", "pid", "interval", "ack", "progress", "seq", "probe"])
          var pid = getpid()
          if let value = o["pid"] {
            guard let p = value.intValue.flatMap({ Int32(exactly: $0) }), p > 0 else {
              throw .argument(2, "pid: a process id expected (1 to \(Int32.max))")
            }
            pid = p
          }
          var hb = Heartbeat(ts: Clock.now(), pid: pid)
          hb.status = o["status"]?.stringValue ?? "ok"
          hb.interval = o["interval"]?.doubleValue
          hb.ack = o["ack"]?.stringValue
          hb.progress = o["progress"]?.stringValue
          hb.seq = o["seq"]?.intValue
          hb.probe = o["probe"]?.stringValue
          let store = HeartbeatStore(runDir: paths.run)
          do {
            try hb.validate()
          } catch {
            throw .argument(2, "\(error)")
          }
          if let failure = catching({ () throws(HeartbeatError) in
            try store.ensureRunDir()
            try store.write(agent: name, hb)
          }) {
            return call.fail(failure.message)
          }
          call.push(true)
          return 1
        }
      ),
      (
        "heartbeat_hook",
        { call throws(LuaCallError) in
          // heartbeat_hook(name, event, pid) -> the heartbeat written | nil, err
          // `event` is the JSON a runtime's hook got on stdin (a table).
          let name = try call.string(1)
          guard HeartbeatStore.isValidAgentName(name) else {
            throw .argument(1, "invalid agent name '\(name)'")
          }
          guard let event = HookEvent.parse(try call.json(2)) else {
            throw .argument(2, "a hook event with hook_event_name expected")
          }
          let pid = try call.optInteger(3) ?? Int64(getppid())
          guard let pid32 = Int32(exactly: pid), pid32 > 0 else {
            throw .argument(3, "a process id expected (1 to \(Int32.max))")
          }
          let store = HeartbeatStore(runDir: paths.run)
          var written: Heartbeat?
          if let failure = catching({ () throws(HeartbeatError) in
            try store.ensureRunDir()
            try store.update(agent: name) { current in
              let hb = event.apply(to: current, now: Clock.now(), pid: pid32)
              written = hb
              return hb
            }
          }) {
            return call.fail(failure.message)
          }
          call.push(written.map { JSONValue.string($0.render()) } ?? .null)
          return 1
        }
      ),
      (
        "heartbeat_respond",
        { call throws(LuaCallError) in
          // heartbeat_respond(name, interval, pid|nil, argv|nil) -> exit status (blocks)
          let name = try call.string(1)
          let interval = try interval(call, 2)
          let pid = try call.optInteger(3)
          if let pid, Int32(exactly: pid) == nil || pid <= 0 {
            throw .argument(3, "a process id expected (1 to \(Int32.max))")
          }
          var argv: [String] = []
          if !call.isNoneOrNil(4), case .array(let items) = try call.json(4) {
            argv = items.compactMap(\.stringValue)
          }
          Console.flush()
          let status: Int32
          if argv.isEmpty {
            status = HeartbeatResponder.runStandalone(
              agent: name, runDir: paths.run, interval: interval, pid: pid.map { Int32($0) })
          } else {
            status = HeartbeatResponder.runWrapped(
              agent: name, runDir: paths.run, interval: interval, argv: argv)
          }
          call.push(Int64(status))
          return 1
        }
      ),
      (
        "agent_stub",
        { call throws(LuaCallError) in
          // agent_stub(name, interval) -> exit status (blocks: the stub agent's loop)
          let name = try call.string(1)
          let interval = try interval(call, 2)
          Console.flush()
          call.push(Int64(StubAgent().run(agent: name, runDir: paths.run, interval: interval)))
          return 1
        }
      ),
    ]
  }
}

/// A heartbeat interval argument: a positive, finite number of seconds, at most a day.
/// The `runtimes` option: the runtime profiles (`lua/mosaic/runtimes.lua`).
func profiles(_ v: JSONValue?, _ arg: Int32) throws(LuaCallError) -> [String: RuntimeProfile] {
  guard let v, v != .null else { return [:] }
  do throws(RuntimeProfile.DecodeError) {
    return try RuntimeProfile.decodeAll(v)
  } catch {
    throw .argument(arg, error.description)
  }
}

private func interval(_ call: LuaCall, _ i: Int32) throws(LuaCallError) -> Double {
  let value = try call.number(i)
  guard value > 0, value <= 86400 else {
    throw .argument(i, "interval: seconds expected (more than 0, at most 86400)")
  }
  return value
}

/// Errors as data: pushes `nil, message, code` and returns 3.
func failing(_ call: LuaCall, _ message: String, code: String) -> Int32 {
  call.pushNil()
  call.push(message)
  call.push(code)
  return 3
}

private func string(_ v: JSONValue?, _ arg: Int32, _ name: String) throws(LuaCallError) -> String? {
  guard let v else { return nil }
  guard let s = v.stringValue else { throw .argument(arg, "\(name): string expected") }
  return s
}

private func number(_ v: JSONValue?, _ arg: Int32, _ name: String) throws(LuaCallError) -> Double? {
  guard let v else { return nil }
  guard let d = v.doubleValue, d > 0, d.isFinite else {
    throw .argument(arg, "\(name): positive number expected")
  }
  return d
}
