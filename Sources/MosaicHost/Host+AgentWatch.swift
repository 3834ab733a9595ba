import FleetCore
import LuaBridge
import MosaicSupport

#if canImport(Glibc)
  import Glibc
#endif

extension LuaRuntime {
  /// Raw agent primitives (capture, watch, attach); the friendly API is
  /// lua/mosaic/agent.lua, which resolves agent names to panes and sessions first.
  func agentWatchFunctions() -> [(String, HostFunction)] {
    let paths = self.paths
    return [
      (
        "agent_capture",
        { call throws(LuaCallError) in
          // agent_capture(pane_id, socket, {escapes=, history=}) -> capture | nil, message
          let pane = try paneId(call, 1)
          let socket = try call.string(2)
          let o = try call.options(3, known: ["escapes", "history"])
          let history =
            try o["history"].map { v throws(LuaCallError) in
              try AgentVerbOptions.history(v, arg: 3)
            } ?? 0
          let escapes = o["escapes"]?.boolValue ?? false
          let result = TmuxClient(socket: socket, timeout: 5).capture(
            paneId: pane, escapes: escapes, history: history)
          switch result {
          case .failure(let error): return call.fail(error.description)
          case .success(let c):
            call.push(
              .object([
                ("pane", .string(c.paneId)),
                ("width", .int(Int64(c.width))),
                ("height", .int(Int64(c.height))),
                ("cursor_x", .int(Int64(c.cursorX))),
                ("cursor_y", .int(Int64(c.cursorY))),
                ("cursor_visible", .bool(c.cursorVisible)),
                ("alternate_on", .bool(c.alternateOn)),
                ("dead", .bool(c.dead)),
                ("dead_status", .from(c.deadStatus)),
                ("in_mode", .bool(c.inMode)),
                ("history_size", .int(Int64(c.historySize))),
                ("history", .int(Int64(c.lines.count - c.height))),
                ("escapes", .bool(c.escapes)),
              ]))
            // The text as tmux printed it (any bytes), not through JSON.
            call.push(bytes: c.text)
            call.setField("text")
            return 1
          }
        }
      ),
      (
        "agent_watch",
        { call throws(LuaCallError) in
          // agent_watch(pane_id, socket, {agent=, interval=, once=, heartbeat_interval=})
          //   -> status [, message]   (blocks until the operator quits)
          let pane = try paneId(call, 1)
          let socket = try call.string(2)
          let o = try call.options(3, known: ["agent", "interval", "once", "heartbeat_interval"])
          guard let agent = o["agent"]?.stringValue else {
            throw .argument(3, "agent: string expected")
          }
          var options = WatchOptions(agent: agent, paneId: pane, socket: socket, runDir: paths.run)
          if let v = o["interval"] { options.interval = try AgentVerbOptions.interval(v, arg: 3) }
          if let v = o["heartbeat_interval"], let d = v.doubleValue, d > 0 {
            options.heartbeatInterval = d
          }
          options.once = o["once"]?.boolValue ?? false
          Console.flush()
          let outcome = AgentWatch(options).run()
          call.push(Int64(outcome.status))
          guard let message = outcome.message else { return 1 }
          call.push(message)
          return 2
        }
      ),
      (
        "agent_attach_identity",
        { call in
          // agent_attach_identity() -> {user, host, tty, pid, holder, audit_log, inside_tmux}
          let id = AttachIdentity.current()
          call.push(
            .object([
              ("user", .string(id.user)), ("host", .string(id.host)), ("tty", .from(id.tty)),
              ("pid", .int(Int64(id.pid))), ("holder", .string(id.holder)),
              ("audit_log", .string(AuditLog(stateDir: paths.state).path)),
              ("inside_tmux", .bool(Environment.nonEmpty("TMUX") != nil)),
            ]))
          return 1
        }
      ),
      (
        "agent_tmux_prefix",
        { call throws(LuaCallError) in
          // agent_tmux_prefix(socket) -> "C-b" | nil   (the server's prefix key)
          let socket = try call.string(1)
          let r = TmuxClient(socket: socket, timeout: 3).run(
            TmuxArgv.prefix(socket: socket) + ["show-options", "-gv", "prefix"])
          guard case .success(let out) = r else { return 0 }
          let key = out.stdoutText.split(separator: "\n").first.map(String.init) ?? ""
          guard !key.isEmpty else { return 0 }
          call.push(key)
          return 1
        }
      ),
      (
        "agent_attach",
        { call throws(LuaCallError) in
          // agent_attach{agent=, tenant=, session=, socket=, pane=}
          //   -> status, message|nil, refused   (blocks while attached)
          let o = try call.options(1, known: ["agent", "tenant", "session", "socket", "pane"])
          func field(_ name: String) throws(LuaCallError) -> String {
            guard let s = o[name]?.stringValue, !s.isEmpty else {
              throw .argument(1, "\(name): non-empty string expected")
            }
            return s
          }
          let options = AttachOptions(
            agent: try field("agent"), tenant: o["tenant"]?.stringValue,
            session: try field("session"), socket: try field("socket"),
            paneId: o["pane"]?.stringValue, runDir: paths.run, stateDir: paths.state)
          guard HeartbeatStore.isValidAgentName(options.agent) else {
            return pushAttach(
              call,
              AttachOutcome(
                status: 3,
                message: "'\(options.agent)' cannot hold a lease (not a valid agent name)",
                refused: true))
          }
          Console.flush()
          return pushAttach(call, AgentAttach(options).run())
        }
      ),
    ]
  }
}

private func pushAttach(_ call: LuaCall, _ outcome: AttachOutcome) -> Int32 {
  call.push(Int64(outcome.status))
  if let m = outcome.message { call.push(m) } else { call.pushNil() }
  call.push(outcome.refused)
  return 3
}

private func paneId(_ call: LuaCall, _ i: Int32) throws(LuaCallError) -> String {
  let s = try call.string(i)
  guard TmuxArgv.isPaneId(s) else { throw .argument(i, "pane id (%N) expected, got '\(s)'") }
  return s
}
