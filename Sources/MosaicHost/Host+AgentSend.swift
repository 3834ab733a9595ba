import FleetCore
import LuaBridge
import MosaicSupport

extension LuaRuntime {
  /// Raw agent primitives (Send); the friendly API is lua/mosaic/agent.lua.
  func agentSendFunctions() -> [(String, HostFunction)] {
    let paths = self.paths
    return [
      (
        "agent_send",
        { [unowned self] call throws(LuaCallError) in
          // agent_send(name, text, {verify=, timeout=, force=, nonce=, socket=, roster=,
          //   lock_timeout=}) -> result | nil, "<name>: <why>", result (refused)
          let name = try call.strictString(1)
          let text = try call.strictBytes(2)
          let o = try call.options(
            3,
            known: [
              "verify", "timeout", "force", "nonce", "socket", "roster", "lock_timeout", "command",
              "raw", "runtimes",
            ])
          let socket = try sendString(o["socket"], "socket")
          let rosterPath = try sendString(o["roster"], "roster")
          var options = AgentSendOptions(runDir: paths.run)
          options.verify = try sendFlag(o["verify"], "verify")
          options.force = try sendFlag(o["force"], "force")
          options.appendNonce = try sendFlag(o["nonce"], "nonce")
          options.timeout = try sendSeconds(o["timeout"], "timeout") ?? 5
          options.lockWait = try sendSeconds(o["lock_timeout"], "lock_timeout") ?? 30
          options.socket = socket
          options.command = try sendFlag(o["command"], "command")
          options.raw = try sendFlag(o["raw"], "raw")
          options.profiles = try profiles(o["runtimes"], 3)

          let roster: Roster
          // The roster rule of every agent verb (`agentRoster`): none yet is an empty
          // roster; a named or broken one refuses.
          switch agentRoster(rosterPath) {
          case .success(let loaded):
            roster = loaded.roster
            options.rosterMissing = loaded.missing
          case .failure(let error):
            var refused = AgentSendResult(
              agent: name, host: shortHostName(), socket: socket ?? Roster.defaultSocket)
            refused.refused = error.message
            refused.refusedCode = "roster-invalid"
            refused.detail = error.message
            call.pushNil()
            call.push("\(name): \(error.message)")
            call.push(refused.jsonValue)
            return 3
          }
          let matcher = PatternMatcher()
          let sender = AgentSender(matcher: { matcher.matches($0, $1) })
          let result = sender.send(name, text: text, roster: roster, options: options)
          if let why = result.refused {
            call.pushNil()
            call.push("\(name): \(why)")
            call.push(result.jsonValue)
            return 3
          }
          call.push(result.jsonValue)
          return 1
        }
      )
    ]
  }
}

private func sendString(_ v: JSONValue?, _ name: String) throws(LuaCallError) -> String? {
  guard let v else { return nil }
  guard let s = v.stringValue else { throw .argument(3, "\(name): string expected") }
  return s
}

private func sendFlag(_ v: JSONValue?, _ name: String) throws(LuaCallError) -> Bool {
  guard let v else { return false }
  guard let b = v.boolValue else { throw .argument(3, "\(name): boolean expected") }
  return b
}

private func sendSeconds(_ v: JSONValue?, _ name: String) throws(LuaCallError) -> Double? {
  guard let v else { return nil }
  guard let d = v.doubleValue, d > 0, d.isFinite else {
    throw .argument(3, "\(name): positive number of seconds expected")
  }
  return d
}
