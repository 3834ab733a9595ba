import FleetCore
import LuaBridge
import MosaicSupport

#if canImport(Glibc)
  import Glibc
#endif

extension LuaRuntime {
  /// Raw heartbeat primitives (the friendly API is lua/mosaic/heartbeat.lua): reading and
  /// judging heartbeats, writing them, the hooks' updates, the responder and the stub agent.
  func heartbeatFunctions() -> [(String, HostFunction)] {
    let paths = self.paths
    return [
      (
        "heartbeat_read",
        { call throws(LuaCallError) in
          // heartbeat_read(name, interval) -> the heartbeat object of a fleet ps row, with probe
          // and skew instead of probe_answered (HeartbeatReading.jsonValue(then:))
          let name = try agentName(call, 1)
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
          let name = try agentName(call, 1)
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
          let name = try agentName(call, 1)
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
private func interval(_ call: LuaCall, _ i: Int32) throws(LuaCallError) -> Double {
  let value = try call.number(i)
  guard value > 0, value <= 86400 else {
    throw .argument(i, "interval: seconds expected (more than 0, at most 86400)")
  }
  return value
}

/// Argument `i`: a name the heartbeat files may carry (`HeartbeatStore.isValidAgentName`).
private func agentName(_ call: LuaCall, _ i: Int32) throws(LuaCallError) -> String {
  let name = try call.string(i)
  guard HeartbeatStore.isValidAgentName(name) else {
    throw .argument(i, "invalid agent name '\(name)'")
  }
  return name
}
