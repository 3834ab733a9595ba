import LuaBridge
import MosaicSupport

#if canImport(Glibc)
  import Glibc
#endif

/// Exit statuses shared by every command (SPEC 2.7, 2.9; sysexits for usage).
public enum ExitCode {
  public static let ok: Int32 = 0
  public static let failure: Int32 = 1
  public static let usage: Int32 = 64
}

/// `mosaic [options] <command> [args]`: decides what argv means and runs it.
public enum MosaicCLI {
  /// Runs the program for `argv` (without argv[0]) and returns the exit status.
  public static func main(_ argv: [String]) -> Int32 {
    Console.guardStandardStreams()
    Timing.mark("main")
    signal(SIGPIPE, SIG_IGN)
    return Console.finish(dispatch(argv))
  }

  static func dispatch(_ argv: [String]) -> Int32 {
    guard let first = argv.first else {
      return runCommand(["help"])
    }
    switch first {
    case "--version", "-v":
      print("mosaic \(mosaicVersion) (\(luaVersion()))")
      return ExitCode.ok
    case "-h", "--help":
      return runCommand(["help"] + argv.dropFirst())
    case "-e":
      if argv.count == 2, argv[1] == "--help" || argv[1] == "-h" {
        return runCommand(["help", "-e"])
      }
      return runChunks(argv)
    case "run":
      return runScriptCommand(Array(argv.dropFirst()))
    case "shell":
      return runShell(Array(argv.dropFirst()))
    case "-":
      return runScript(path: "-", args: Array(argv.dropFirst()), limits: ScriptLimits())
    default:
      if first.hasPrefix("-") {
        return usage("unknown option '\(first)'", hint: "mosaic --help")
      }
      if first.contains("/") || first.hasSuffix(".lua") {
        return runScript(path: first, args: Array(argv.dropFirst()), limits: ScriptLimits())
      }
      return runCommand(argv)
    }
  }

  static func luaVersion() -> String {
    LuaState.release
  }

  /// One line `mosaic: <what>` on stderr, a hint, exit 64.
  static func usage(_ message: String, hint: String? = nil) -> Int32 {
    var text = "mosaic: \(message)\n"
    if let hint { text += "Try '\(hint)'.\n" }
    Console.error(text)
    return ExitCode.usage
  }

  static func fail(_ message: String) -> Int32 {
    Console.error("mosaic: \(message)\n")
    return ExitCode.failure
  }

  static func makeLuaRuntime(memoryLimit: Int = 0) -> LuaRuntime? {
    do {
      return try LuaRuntime(memoryLimit: memoryLimit)
    } catch {
      Console.error("mosaic: cannot start the Lua runtime: \(error.message)\n")
      return nil
    }
  }

  // MARK: Scripts

  struct ScriptLimits {
    var timeout: Double = 0
    var memoryBytes: Int = 0
  }

  /// `mosaic run [--timeout S] [--memory MB] FILE [ARGS...]`
  static func runScriptCommand(_ argv: [String]) -> Int32 {
    var limits = ScriptLimits()
    var rest = argv[...]
    while let opt = rest.first, opt.hasPrefix("-"), opt != "-" {
      rest = rest.dropFirst()
      if opt == "--" { break }
      if opt == "-h" || opt == "--help" {
        // One text for `run --help`, `help run` and the man page: lua/mosaic/_commands.lua.
        return runCommand(["help", "run"])
      }
      guard opt == "--timeout" || opt == "--memory" else {
        return usage("run: unknown option '\(opt)'", hint: "mosaic run --help")
      }
      guard let value = rest.first, let n = Double(value), n > 0, n.isFinite else {
        return usage("run: \(opt) needs a positive number", hint: "mosaic run --help")
      }
      rest = rest.dropFirst()
      if opt == "--timeout" {
        limits.timeout = n
      } else {
        // At least a byte (a fraction of one is still a cap); at most a petabyte.
        limits.memoryBytes = Int(max(1, min(n, 1_073_741_824) * 1_048_576))
      }
    }
    guard let file = rest.first else {
      return usage("run: missing FILE", hint: "mosaic run --help")
    }
    return runScript(path: file, args: Array(rest.dropFirst()), limits: limits)
  }

  /// Runs a script file (or stdin for `-`) with `arg` as in `lua`.
  static func runScript(path: String, args: [String], limits: ScriptLimits) -> Int32 {
    let source: [UInt8]
    do {
      source = path == "-" ? try readAllStdin() : try Files.read(path)
    } catch {
      return fail("cannot read script: \(error.message)")
    }
    // The memory cap applies once `execute` starts the script (setArg must not fail).
    guard let runtime = makeLuaRuntime() else { return 1 }
    runtime.setArg(script: path, before: ["mosaic"], args: args)
    let name = path == "-" ? "=stdin" : "@" + path
    return execute(runtime, source: stripShebang(source), name: name, args: args, limits: limits)
  }

  /// `mosaic -e CHUNK [-e CHUNK ...] [FILE [ARGS...]]`
  static func runChunks(_ argv: [String]) -> Int32 {
    var chunks: [String] = []
    var rest = argv[...]
    while rest.first == "-e" {
      rest = rest.dropFirst()
      guard let chunk = rest.first else { return usage("-e: a chunk of Lua expected") }
      chunks.append(chunk)
      rest = rest.dropFirst()
    }
    guard let runtime = makeLuaRuntime() else { return 1 }
    let script = rest.first
    let args = Array(rest.dropFirst())
    runtime.setArg(
      script: script ?? "-e", before: ["mosaic"] + argv.prefix(argv.count - rest.count), args: args)
    for chunk in chunks {
      let status = execute(
        runtime, source: Array(chunk.utf8), name: "=(command line)", args: [],
        limits: ScriptLimits())
      if status != 0 { return status }
    }
    if let script {
      let source: [UInt8]
      do {
        source = script == "-" ? try readAllStdin() : try Files.read(script)
      } catch {
        return fail("cannot read script: \(error.message)")
      }
      return execute(
        runtime, source: stripShebang(source), name: "@" + script, args: args,
        limits: ScriptLimits())
    }
    return ExitCode.ok
  }

  /// Loads and runs a chunk as a top-level program: errors print `mosaic: ` with a
  /// traceback and give status 1; `os.exit` leaves directly.
  static func execute(
    _ runtime: LuaRuntime, source: [UInt8], name: String, args: [String], limits: ScriptLimits
  ) -> Int32 {
    let lua = runtime.lua
    do {
      try lua.load(source, name: name)
      for a in args { lua.pushString(a) }
      if limits.memoryBytes > 0 { lua.memoryLimit = limits.memoryBytes }
      if limits.timeout > 0 {
        lua.setTimeLimit(limits.timeout)
        Watchdog.arm(
          after: limits.timeout + Watchdog.grace,
          message:
            "mosaic: time limit exceeded (\(formatSeconds(limits.timeout))): the script could "
            + "not be stopped (a __gc finalizer runs without hooks); ending the process\n")
      }
      try runtime.runTopLevel(nargs: Int32(args.count))
      lua.setTimeLimit(0)
      Console.flush()
      return ExitCode.ok
    } catch {
      if error.kind == .aborted, error.message.contains("interrupted") {
        return LuaRuntime.report(error)
      }
      Console.flush()
      var message = error.message
      if error.kind == .aborted, limits.timeout > 0, message.hasPrefix("time limit exceeded") {
        message =
          "time limit exceeded (\(formatSeconds(limits.timeout)))"
          + message.dropFirst("time limit exceeded".count)
      }
      Console.error("mosaic: \(message)\n")
      return ExitCode.failure
    }
  }

  static func formatSeconds(_ s: Double) -> String {
    s == s.rounded() && s < 1e15 ? "\(Int(s)) s" : "\(s) s"
  }

  static func stripShebang(_ source: [UInt8]) -> [UInt8] {
    guard source.first == UInt8(ascii: "#") else { return source }
    // Keep the newline so line numbers in messages stay right.
    guard let nl = source.firstIndex(of: 0x0A) else { return [] }
    return Array(source[nl...])
  }

  static func readAllStdin() throws(FileError) -> [UInt8] {
    try Files.read("/dev/stdin")
  }

  // MARK: Commands

  /// Finds the script for `mosaic <group> <command>` or `mosaic <command>`.
  static func runCommand(_ argv: [String]) -> Int32 {
    guard let runtime = makeLuaRuntime() else { return 1 }
    return runtime.runMain(module: "mosaic._dispatch", argv: argv)
  }

  static func runShell(_ argv: [String]) -> Int32 {
    guard let runtime = makeLuaRuntime() else { return 1 }
    return Shell.run(runtime, argv: argv)
  }
}

/// The last resort behind a script's time limit: Lua runs `__gc` finalizers with hooks off,
/// so a finalizer that loops cannot be stopped by the limit's hook. `grace` seconds after
/// the limit, SIGALRM ends the process with one line (written by the handler with `write`,
/// which is safe there) and exit status 1.
enum Watchdog {
  static let grace = 2.0
  nonisolated(unsafe) private static var line: UnsafeMutablePointer<CChar>?
  nonisolated(unsafe) private static var length = 0

  static func arm(after seconds: Double, message: String) {
    if line == nil {
      line = strdup(message)
      length = message.utf8.count
      signal(SIGALRM) { _ in
        if let line = Watchdog.line { _ = write(2, line, Watchdog.length) }
        _exit(1)
      }
    }
    var timer = itimerval()
    let capped = min(max(seconds, 0.001), 100_000_000)  // a limit of years is no limit
    let whole = capped.rounded(.down)
    timer.it_value.tv_sec = Int(whole)
    timer.it_value.tv_usec = Int((capped - whole) * 1e6)
    setitimer(__itimer_which_t(ITIMER_REAL.rawValue), &timer, nil)
  }
}
