import LuaBridge
import MosaicSupport

#if canImport(Glibc)
  import Glibc
#endif

/// The raw primitives behind the `mosaic` module (json, exec, sleep, now, hostname, log,
/// files). The friendly API is `lua/mosaic/init.lua`.
extension LuaRuntime {
  func baseFunctions() -> [(String, HostFunction)] {
    let paths = self.paths
    let roots = luaRoots
    return [
      ("json_encode", jsonEncode),
      ("json_decode", jsonDecode),
      ("exec", exec),
      ("sleep", sleep),
      (
        "now",
        { call in
          call.push(Clock.now())
          return 1
        }
      ),
      (
        "monotonic",
        { call in
          call.push(Clock.monotonic())
          return 1
        }
      ),
      (
        "within",
        { call throws(LuaCallError) in
          // within(seconds, fn, ...) -> fn's results | nil, "timed out after S s", "timeout"
          // fn runs under a time limit of its own (the state's hook, as `run --timeout`);
          // host functions inside end their commands and waits by then.
          let seconds = try call.number(1)
          guard seconds > 0, seconds.isFinite else {
            throw .argument(1, "positive number of seconds expected")
          }
          try call.checkFunction(2)
          guard let n = try call.callWithin(seconds, function: 2) else {
            call.pushNil()
            call.push("timed out after \(MosaicCLI.formatSeconds(seconds))")
            call.push("timeout")
            return 3
          }
          return n
        }
      ),
      (
        "suggest",
        { call throws(LuaCallError) in
          // suggest(word, names) -> the closest name | nil (MosaicSupport's `Suggestion`)
          let word = try call.string(1)
          let names = try nameList(call, 2)
          guard let s = Suggestion.closest(to: word, in: names) else {
            call.pushNil()
            return 1
          }
          call.push(s)
          return 1
        }
      ),
      (
        "spawn_count",
        { call in
          // How many processes this process has started (benchmarks check fleet ps's).
          call.push(SpawnRunner.spawnCount)
          return 1
        }
      ),
      (
        "executable",
        { call in
          // The running binary's absolute path (units and panes start it by this path).
          var buf = [UInt8](repeating: 0, count: 4096)
          let n = buf.withUnsafeMutableBufferPointer { p in
            p.withMemoryRebound(to: CChar.self) {
              readlink("/proc/self/exe", $0.baseAddress!, 4095)
            }
          }
          guard n > 0 else { return call.fail("cannot read /proc/self/exe") }
          call.push(String(decoding: buf[0..<n], as: UTF8.self))
          return 1
        }
      ),
      (
        "hostname",
        { call in
          call.push(shortHostName())
          return 1
        }
      ),
      (
        "version",
        { call in
          call.push(mosaicVersion)
          return 1
        }
      ),
      (
        "log",
        { call throws(LuaCallError) in
          let line = try call.string(1)
          Console.error(line.hasSuffix("\n") ? line : line + "\n")
          return 0
        }
      ),
      (
        "isatty",
        { call throws(LuaCallError) in
          let fd = Int32(exactly: try call.integer(1))
          call.push(fd.map { isatty($0) == 1 } ?? false)
          return 1
        }
      ),
      (
        "paths",
        { call in
          call.push(
            .object([
              ("config", .string(paths.config)), ("run", .string(paths.run)),
              ("state", .string(paths.state)), ("roster", .string(paths.roster)),
              ("commands", .string(paths.config + "/commands")),
            ]))
          return 1
        }
      ),
      (
        "lua_roots",
        { call in
          call.push(.array(roots.map { .string($0) }))
          return 1
        }
      ),
      (
        "shipped",
        { call throws(LuaCallError) in
          // shipped(path) -> source or nil; shipped() -> list of shipped paths
          if call.isNoneOrNil(1) {
            call.push(.array(LuaRuntime.shippedPaths.map { .string($0) }))
            return 1
          }
          guard let src = LuaRuntime.shipped(try call.string(1)) else { return 0 }
          call.push(src)
          return 1
        }
      ),
      (
        "shipped_chunk",
        { call throws(LuaCallError) in
          // shipped_chunk(path) -> the shipped file's compiled function, or nil (none, or
          // bytecode this Lua cannot load: the caller loads the source instead)
          guard let chunk = LuaRuntime.shippedChunk(try call.string(1)),
            call.pushShippedChunk(chunk)
          else { return 0 }
          return 1
        }
      ),
      (
        "read_code",
        { call throws(LuaCallError) in
          // read_code(path) -> source | nil, message, missing   (SPEC 2.2: code files pass
          // the trust check of <run>'s files, and the open cannot block)
          let path = try call.string(1)
          switch Files.readCode(path) {
          case .success(let bytes):
            call.push(bytes: bytes)
            return 1
          case .failure(let refused):
            call.pushNil()
            call.push(Files.refusal(path, refused))
            call.push(refused == .missing)
            return 3
          }
        }
      ),
      (
        "list_dir",
        { call throws(LuaCallError) in
          call.push(.array(Files.list(try call.string(1)).map { .string($0) }))
          return 1
        }
      ),
      (
        "is_dir",
        { call throws(LuaCallError) in
          call.push(Files.isDirectory(try call.string(1)))
          return 1
        }
      ),
      (
        "write_file",
        { call throws(LuaCallError) in
          // write_file(path, bytes, mode) -> true | nil, err  (atomic)
          let path = try call.string(1)
          let data = try call.bytes(2)
          let mode = try call.optInteger(3) ?? 0o644
          guard (0...0o7777).contains(mode) else {
            throw .argument(3, "file mode expected (0 to 4095, e.g. tonumber('644', 8))")
          }
          if let failure = catching({ () throws(FileError) in
            try Files.writeAtomically(path, data, mode: mode_t(mode))
          }) {
            return call.fail(failure.message)
          }
          call.push(true)
          return 1
        }
      ),
      (
        "mkdir_private",
        { call throws(LuaCallError) in
          let path = try call.string(1)
          let failure = catching { () throws(FileError) in
            try Files.ensurePrivateDirectory(path)
          }
          if let failure { return call.fail(failure.message) }
          call.push(true)
          return 1
        }
      ),
    ]
  }
}

private func jsonEncode(_ call: LuaCall) throws(LuaCallError) -> Int32 {
  let value = try call.json(1)
  let indent = call.boolean(2) ? 2 : 0
  call.push(JSONCodec.encode(value, indent: indent))
  return 1
}

private func jsonDecode(_ call: LuaCall) throws(LuaCallError) -> Int32 {
  let text = try call.bytes(1)
  do {
    call.push(try JSONCodec.decode(text))
    return 1
  } catch {
    return call.fail("invalid JSON: \(error)")
  }
}

/// exec(argv, {stdin=, timeout=, env=}) -> {status, signal, stdout, stderr, timed_out}
/// or nil, message when the program cannot be started.
private func exec(_ call: LuaCall) throws(LuaCallError) -> Int32 {
  guard case .array(let items) = try call.json(1), !items.isEmpty else {
    throw .argument(1, "non-empty list of strings expected")
  }
  var argv: [String] = []
  for (n, item) in items.enumerated() {
    guard case .string(let s) = item else { throw .argument(1, "list of strings expected") }
    // A C string ends at NUL: the program would get a shorter argument than the script gave.
    guard !s.utf8.contains(0) else { throw .argument(1, "argv[\(n + 1)] contains a NUL byte") }
    argv.append(s)
  }
  let opts = try call.options(2, known: ["stdin", "timeout", "env"])
  var request = CommandRequest(argv)
  if opts["stdin"] != nil {
    // The raw bytes, not the JSON view (which would repair invalid UTF-8).
    guard let bytes = call.rawField(2, "stdin") else {
      throw .argument(2, "stdin: string expected")
    }
    request.input = bytes
  }
  if let t = opts["timeout"] {
    guard let d = t.doubleValue, d > 0, !d.isNaN else {
      throw .argument(2, "timeout: positive number expected")
    }
    // Longer than 24 days is as good as none (and the runner counts in 32-bit ms).
    request.timeout = min(d, 24 * 86_400)
  }
  switch opts["env"] {
  case .object(let env)?:
    for (k, v) in env {
      guard case .string(let s) = v else { throw .argument(2, "env.\(k): string expected") }
      // `A=B` as a name would be read back as variable A; NUL would cut either short.
      guard !k.isEmpty, !k.utf8.contains(UInt8(ascii: "=")), !k.utf8.contains(0) else {
        throw .argument(2, "env: invalid variable name '\(printable(k))' (empty, '=' or NUL)")
      }
      guard !s.utf8.contains(0) else { throw .argument(2, "env.\(k): contains a NUL byte") }
      request.environment[k] = s
    }
  case nil, .array([])?: break  // `{}` reads as an empty array
  default: throw .argument(2, "env: table of strings expected")
  }
  // Output is capped like the script's memory (`run --memory`), else at 1 GiB: a program
  // that writes more is stopped instead of growing mosaic past the cap.
  let limit = call.memoryLimit.map { max($0, 1) } ?? 1 << 30
  request.outputLimit = limit
  // The script's time limit bounds the child too (a hook cannot stop a host call).
  if let message = call.abortMessage { throw .raw(message) }
  if let left = call.timeLeft { request.timeout = min(request.timeout ?? left, left) }
  let result: CommandResult
  do {
    result = try SpawnRunner().run(request)
  } catch {
    return call.fail(error.description)
  }
  if result.timedOut, let message = call.abortMessage { throw .raw(message) }
  if result.outputExceeded {
    return call.fail(
      "\(argv[0]): output larger than \(limit) bytes (the script's memory limit); the program was stopped"
    )
  }
  call.push(
    .object([
      ("status", .int(Int64(result.status))),
      ("signal", .from(result.signal.map { Int($0) })),
      ("stdout", .null), ("stderr", .null),
      ("timed_out", .bool(result.timedOut)),
    ]))
  // stdout/stderr may hold any bytes: push them raw.
  call.push(bytes: result.stdout)
  call.setField("stdout")
  call.push(bytes: result.stderr)
  call.setField("stderr")
  return 1
}

/// `s` with control characters shown as `?` (for messages).
private func printable(_ s: String) -> String {
  String(s.unicodeScalars.map { $0.value < 0x20 || $0.value == 0x7f ? "?" : Character($0) })
}

/// sleep(seconds): stops early when the chunk is being stopped (Ctrl-C, time limit), with
/// the same error the hook would raise.
private func sleep(_ call: LuaCall) throws(LuaCallError) -> Int32 {
  let seconds = try call.number(1)
  guard seconds >= 0, seconds.isFinite else { throw .argument(1, "non-negative number expected") }
  let deadline = Clock.monotonic() + seconds
  while true {
    let left = deadline - Clock.monotonic()
    if left <= 0 { break }
    if let message = call.abortMessage { throw .raw(message) }
    Clock.sleep(min(left, 0.05))
  }
  return 0
}
