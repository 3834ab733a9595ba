import FleetCore
import LuaBridge
import MosaicSupport

/// The raw primitives behind other hosts (SPEC 2.12): `exec_many` runs the ssh children of a
/// fan-out at the same time, `exec_terminal` runs one on this terminal (`ssh -t` for watch
/// and attach). The routing itself is Lua: `lua/mosaic/hosts.lua`.
extension LuaRuntime {
  func hostsFunctions() -> [(String, HostFunction)] {
    [("exec_many", execMany), ("exec_terminal", execTerminal), ("hosts_merge", hostsMerge)]
  }
}

/// A list of argv strings from a JSON array, refused with a message naming `what`.
private func argvList(_ value: JSONValue, _ what: String) throws(LuaCallError) -> [String] {
  guard case .array(let items) = value, !items.isEmpty else {
    throw .argument(1, "\(what): non-empty list of strings expected")
  }
  var argv: [String] = []
  for (n, item) in items.enumerated() {
    guard case .string(let s) = item else {
      throw .argument(1, "\(what): list of strings expected")
    }
    guard !s.utf8.contains(0) else { throw .argument(1, "\(what)[\(n + 1)] contains a NUL byte") }
    argv.append(s)
  }
  return argv
}

/// exec_many({ {argv=, stdin=, timeout=}, ... }) -> { result, ... }
/// Each result is exec's table ({status, signal, stdout, stderr, timed_out}) or
/// {error = message} when that program could not start. All run at once; each is killed at
/// its own timeout (default 30 s), and the script's time limit bounds them all.
private func execMany(_ call: LuaCall) throws(LuaCallError) -> Int32 {
  guard case .array(let items) = try call.json(1) else {
    throw .argument(1, "list of {argv=, stdin=, timeout=} tables expected")
  }
  guard items.count <= 1024 else { throw .argument(1, "at most 1024 commands at once") }
  let limit = min(call.memoryLimit.map { max($0, 1) } ?? 1 << 30, 1 << 30)
  var requests: [CommandRequest] = []
  for (n, item) in items.enumerated() {
    guard case .object(let pairs) = item else {
      throw .argument(1, "item \(n + 1): {argv=, stdin=, timeout=} table expected")
    }
    var request = CommandRequest([])
    var timeout = 30.0
    for (key, value) in pairs {
      switch key {
      case "argv": request.argv = try argvList(value, "item \(n + 1).argv")
      case "stdin":
        guard case .string(let s) = value else {
          throw .argument(1, "item \(n + 1).stdin: string expected")
        }
        request.input = Array(s.utf8)
      case "timeout":
        guard let d = value.doubleValue, d > 0, !d.isNaN else {
          throw .argument(1, "item \(n + 1).timeout: positive number expected")
        }
        timeout = min(d, 24 * 86_400)
      default:
        throw .argument(1, "item \(n + 1): unknown field '\(key)' (argv, stdin, timeout)")
      }
    }
    guard !request.argv.isEmpty else { throw .argument(1, "item \(n + 1).argv: missing") }
    if let left = call.timeLeft { timeout = min(timeout, left) }
    request.timeout = timeout
    // Shared between the children: together they stay under the script's memory cap.
    request.outputLimit = max(1, limit / max(1, items.count))
    requests.append(request)
  }
  if let message = call.abortMessage { throw .raw(message) }
  let results = ParallelRunner.runAll(requests)
  var out: [JSONValue] = []
  for (request, result) in zip(requests, results) {
    switch result {
    case .failure(let error):
      out.append(.object([("error", .string(error.description))]))
    case .success(let r):
      let error: JSONValue =
        r.outputExceeded
        ? .string("\(request.argv[0]): output larger than \(request.outputLimit ?? 0) bytes")
        : .null
      out.append(
        .object([
          ("status", .int(Int64(r.status))),
          ("signal", .from(r.signal.map { Int($0) })),
          ("stdout", .string(r.stdoutText)), ("stderr", .string(r.stderrText)),
          ("timed_out", .bool(r.timedOut)), ("error", error),
        ]))
    }
  }
  call.push(.array(out))
  return 1
}

/// exec_terminal(argv) -> status | nil, message
/// Runs the program on this terminal and waits: its exit status (128 + N for signal N).
private func execTerminal(_ call: LuaCall) throws(LuaCallError) -> Int32 {
  let argv = try argvList(try call.json(1), "argv")
  if let message = call.abortMessage { throw .raw(message) }
  let (status, message) = ForegroundCommand.run(argv)
  if status == 1, let message, message.hasPrefix("cannot ") { return call.fail(message) }
  call.push(Int64(status))
  return 1
}

/// hosts_merge(local_json, answers, here [, pretty]) -> merged JSON text | nil, message
/// `answers`: a list of {name=, ssh=, error=, stdout=} (error nil when the host answered).
/// The join of `fleet ps` across hosts (`HostsMerge`), in Swift: no Lua tables are built.
private func hostsMerge(_ call: LuaCall) throws(LuaCallError) -> Int32 {
  let localText = try call.bytes(1)
  guard case .array(let items) = try call.json(2, strictUTF8: false) else {
    throw .argument(2, "list of {name=, ssh=, error=, stdout=} tables expected")
  }
  let here = try call.string(3)
  let pretty = call.boolean(4)
  var answers: [HostAnswer] = []
  for (n, item) in items.enumerated() {
    guard case .string(let name)? = item["name"], case .string(let ssh)? = item["ssh"] else {
      throw .argument(2, "item \(n + 1): name and ssh (strings) expected")
    }
    var error: String? = nil
    switch item["error"] {
    case .string(let e)?: error = e
    case nil, .null?: break
    default: throw .argument(2, "item \(n + 1).error: string or nil expected")
    }
    var stdout: [UInt8] = []
    switch item["stdout"] {
    case .string(let s)?: stdout = Array(s.utf8)
    case nil, .null?: break
    default: throw .argument(2, "item \(n + 1).stdout: string expected")
    }
    answers.append(HostAnswer(name: name, ssh: ssh, error: error, stdout: stdout))
  }
  let local: JSONValue
  do throws(JSONCodec.DecodeError) {
    local = try JSONCodec.decode(localText)
  } catch {
    return call.fail("invalid local snapshot: \(error.description)")
  }
  let merged = HostsMerge.merge(local: local, answers: answers, here: here)
  call.push(JSONCodec.encode(merged, indent: pretty ? 2 : 0))
  return 1
}
