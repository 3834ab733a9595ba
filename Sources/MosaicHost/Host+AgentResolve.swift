import FleetCore
import LuaBridge
import MosaicSupport

extension LuaRuntime {
  /// The roster for a verb that addresses one agent by name (send, capture, watch,
  /// attach): no roster file where mosaic looks by default (`$MOSAIC_ROSTER`, else
  /// `<config>/fleet/roster.lua`) is an empty roster, so unrostered sessions stay
  /// addressable, and `missing` makes "no such agent" say how to write one. A roster named
  /// with `roster` must exist; a broken roster is an error for every verb.
  func agentRoster(_ path: String?) -> Result<(roster: Roster, missing: Bool), RosterLoadError> {
    if path == nil, !Files.exists(paths.roster) {
      return .success((Roster(path: paths.roster, agents: []), true))
    }
    return loadRoster(path).map { ($0, false) }
  }

  /// The resolver for a hook event (`agent_of_pane`, `agent_programs`), from the
  /// `{roster=, socket=}` table at argument `arg`; the roster must exist, as for every
  /// fleet-wide verb (the caller reports a failure as `roster-invalid`).
  func hookResolver(_ call: LuaCall, arg: Int32) throws(LuaCallError)
    -> Result<AgentResolver, RosterLoadError>
  {
    let o = try call.options(arg, known: ["roster", "socket"])
    let socket = try optionString(o["socket"], arg, "socket")
    return loadRoster(try optionString(o["roster"], arg, "roster"))
      .map { AgentResolver(roster: $0, socket: socket, host: shortHostName()) }
  }

  /// `agent_resolve`, `agent_of_pane` and `agent_unknown`: the one agent resolver
  /// (`AgentResolver`) for Lua.
  func agentResolveFunctions() -> [(String, HostFunction)] {
    let paths = self.paths
    return [
      (
        "agent_resolve",
        { [unowned self] call throws(LuaCallError) in
          // agent_resolve(name, {roster=, socket=, <the verb's options>}, verb)
          //   -> target | nil, "<name>: <why>", code
          // `verb` ("capture", "watch", "attach") adds that verb's options, checked here
          // (`AgentVerbOptions`) before anything is looked up: a bad one is a programming
          // error whether or not the agent exists.
          let name = try call.strictString(1)
          let verb = try call.optString(3)
          let known = ["roster", "socket"] + AgentVerbOptions.names(verb)
          let o = try call.options(2, known: known)
          try AgentVerbOptions.check(o, arg: 2)
          let rosterPath = try optionString(o["roster"], 2, "roster")
          let socket = try optionString(o["socket"], 2, "socket")
          let loaded: (roster: Roster, missing: Bool)
          switch agentRoster(rosterPath) {
          case .success(let r): loaded = r
          case .failure(let e): return pushLookupFailure(call, e.message, "roster-invalid")
          }
          let resolver = AgentResolver(
            roster: loaded.roster, rosterMissing: loaded.missing, socket: socket,
            host: shortHostName())
          let tmux = TmuxClient(
            socket: resolver.socket,
            runner: call.timeLeft.map {
              DeadlineRunner(SpawnRunner(), deadline: Clock.monotonic() + $0)
            } ?? SpawnRunner())
          switch resolver.resolve(name, tmux: tmux) {
          case .failure(let e):
            if let message = call.abortMessage { throw .raw(message) }
            return pushLookupFailure(call, "\(name): \(e.message)", e.code.rawValue)
          case .success(let target):
            let lease =
              HeartbeatStore.isValidAgentName(name)
              ? LeaseStore(runDir: paths.run).read(agent: name) : nil
            call.push(targetJSON(target, lease: lease))
            return 1
          }
        }
      ),
      (
        "agent_of_pane",
        { [unowned self] call throws(LuaCallError) in
          // agent_of_pane(pane_id, {roster=, socket=}) -> name | nil, message, code
          // The agent whose pane this is (hook events: $TMUX_PANE), from the roster and
          // one `list-panes`. The roster must exist, as for every fleet-wide verb.
          let pane = try call.strictString(1)
          let resolver: AgentResolver
          switch try hookResolver(call, arg: 2) {
          case .success(let r): resolver = r
          case .failure(let e): return pushLookupFailure(call, e.message, "roster-invalid")
          }
          let listing: Result<TmuxListing, TmuxError> =
            TmuxArgv.isPaneId(pane)
            ? TmuxClient(socket: resolver.socket).listPanes(withCommand: false)
            : .success(TmuxListing(version: nil, panes: []))
          switch resolver.agent(ofPane: pane, in: listing) {
          case .success(let name):
            call.push(name)
            return 1
          case .failure(let e): return pushLookupFailure(call, e.message, e.code.rawValue)
          }
        }
      ),
      (
        "agent_programs",
        { [unowned self] call throws(LuaCallError) in
          // agent_programs({roster=, socket=}) -> {{name=, runtime=, pane_state=, cwd=}, ...}
          //   | nil, message, code
          // What runs in each agent's pane (hook events of a shared Codex daemon are told
          // apart by cwd): the roster, one `list-panes` and /proc; no systemd, no screens.
          let resolver: AgentResolver
          switch try hookResolver(call, arg: 1) {
          case .success(let r): resolver = r
          case .failure(let e): return pushLookupFailure(call, e.message, "roster-invalid")
          }
          let listing: TmuxListing
          switch TmuxClient(socket: resolver.socket).listPanes(withCommand: false) {
          case .success(let l): listing = l
          case .failure(.serverAbsent): listing = TmuxListing(version: nil, panes: [])
          case .failure(let e):
            return pushLookupFailure(
              call, "tmux socket \(resolver.socket): \(e)", "tmux-unreadable")
          }
          let matcher = PatternMatcher()
          let programs = resolver.programs(in: listing, matcher: { matcher.matches($0, $1) })
          call.push(
            .array(
              programs.map {
                .object([
                  ("name", .string($0.name)), ("runtime", $0.runtime.map { .string($0) } ?? .null),
                  ("pane_state", .string($0.paneState.rawValue)),
                  ("cwd", $0.cwd.map { .string($0) } ?? .null),
                ])
              }))
          return 1
        }
      ),
      (
        "agent_unknown",
        { call throws(LuaCallError) in
          // agent_unknown(name, names, socket, roster_path) -> "<name>: <why>", code
          // The one "no such agent" message, for verbs that looked `name` up among the
          // rows of a fleet ps snapshot (`names`) themselves.
          let name = try call.string(1)
          let names = try nameList(call, 2)
          let resolver = AgentResolver(
            roster: Roster(path: try call.string(4), agents: []), socket: try call.string(3),
            host: shortHostName())
          switch resolver.lookup(name, in: names) {
          case .success: return 0
          case .failure(let e):
            call.push("\(name): \(e.message)")
            call.push(e.code.rawValue)
            return 2
          }
        }
      ),
    ]
  }
}

/// The options of the agent verbs besides the resolver's, checked in one place (here, for
/// the resolver, and again by the verb's host function when it is called directly).
enum AgentVerbOptions {
  static func names(_ verb: String?) -> [String] {
    switch verb {
    case "capture": return ["escapes", "history"]
    case "watch": return ["interval", "once"]
    case "attach": return ["yes"]
    default: return []
    }
  }

  static func check(_ o: [String: JSONValue], arg: Int32) throws(LuaCallError) {
    if let v = o["history"] { _ = try history(v, arg: arg) }
    if let v = o["interval"] { _ = try interval(v, arg: arg) }
  }

  /// Lines of scrollback: 0 to 1,000,000.
  static func history(_ v: JSONValue, arg: Int32) throws(LuaCallError) -> Int {
    guard let i = v.intValue, i >= 0, i <= 1_000_000 else {
      throw .argument(arg, "history: non-negative integer expected")
    }
    return Int(i)
  }

  /// Seconds between looks, at least `WatchOptions.minimumInterval`, at most an hour.
  static func interval(_ v: JSONValue, arg: Int32) throws(LuaCallError) -> Double {
    guard let d = v.doubleValue, d.isFinite, d >= WatchOptions.minimumInterval else {
      throw .argument(
        arg, "interval: a number of seconds of at least \(WatchOptions.minimumInterval) expected")
    }
    return min(d, 3600)
  }
}

/// A Lua list of names (strings; other items are skipped); `{}` is an empty list.
func nameList(_ call: LuaCall, _ i: Int32) throws(LuaCallError) -> [String] {
  switch try call.json(i) {
  case .array(let items): return items.compactMap(\.stringValue)
  case .object(let pairs) where pairs.isEmpty: return []
  default: throw .argument(i, "list of names expected")
  }
}

private func pushLookupFailure(_ call: LuaCall, _ message: String, _ code: String) -> Int32 {
  call.pushNil()
  call.push(message)
  call.push(code)
  return 3
}

private func optionString(_ v: JSONValue?, _ arg: Int32, _ name: String) throws(LuaCallError)
  -> String?
{
  guard let v else { return nil }
  guard let s = v.stringValue else { throw .argument(arg, "\(name): string expected") }
  return s
}

/// What the agent verbs need to know of a resolved agent, as a Lua table.
private func targetJSON(_ t: AgentTarget, lease: Lease?) -> JSONValue {
  let id = t.identity
  let p = t.pane
  return .object([
    ("name", .string(id.name)),
    ("tenant_id", .string(id.tenant)),
    ("host", .string(id.host)),
    ("socket", .string(id.socket)),
    ("session", .string(id.session)),
    ("rostered", .bool(id.rostered != nil)),
    ("runtime", .from(id.rostered?.runtime)),
    ("heartbeat_interval", .double(id.heartbeatInterval)),
    (
      "pane",
      .object([
        ("id", .string(p.paneId)),
        ("state", .string(p.dead ? "dead" : "alive")),
        ("pid", .from(p.panePid.map { Int($0) })),
        ("command", .string(p.currentCommand)),
        ("width", .from(p.width)),
        ("height", .from(p.height)),
        ("in_mode", .bool(p.inMode)),
        ("dead_status", .from(p.deadStatus)),
      ])
    ),
    ("lease", lease?.jsonValue ?? .null),
  ])
}
