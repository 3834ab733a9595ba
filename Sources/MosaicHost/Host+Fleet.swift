import FleetCore
import LuaBridge
import MosaicSupport

#if canImport(Glibc)
  import Glibc
#endif

extension LuaRuntime {
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

  /// Raw fleet primitives (the roster, the join, probes); the friendly API is
  /// lua/mosaic/fleet.lua. The heartbeat primitives are in Host+Heartbeat.swift.
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
        "read_files",
        { call throws(LuaCallError) in
          // read_files(paths) -> how many of them could be read, seconds the reads took (each
          // read as fleet ps reads its /proc and run-directory files; the conversion of the
          // list is not timed): scripts/bench/fleet-ps.lua's "reads" column
          let paths = try nameList(call, 1)
          let start = Clock.monotonic()
          let read = ProcPlane.readEach(paths)
          call.push(read)
          call.push(Clock.monotonic() - start)
          return 2
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
          call.push(bytes: snapshot.encoded(indent: call.boolean(2) ? 2 : 0))
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
    ]
  }
}

/// The `runtimes` option: the runtime profiles (`lua/mosaic/runtimes.lua`).
func profiles(_ v: JSONValue?, _ arg: Int32) throws(LuaCallError) -> [String: RuntimeProfile] {
  guard let v, v != .null else { return [:] }
  do throws(RuntimeProfile.DecodeError) {
    return try RuntimeProfile.decodeAll(v)
  } catch {
    throw .argument(arg, error.description)
  }
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
