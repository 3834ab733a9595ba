import FleetCore
import LuaBridge
import MosaicSupport

#if canImport(Glibc)
  import Glibc
#endif

/// The version printed by `mosaic --version`.
public let mosaicVersion = "0.1.0"

/// A Lua state set up as mosaic's: the raw host primitives in `package.loaded["mosaic._host"]`,
/// the module searcher (SPEC 2.9: `<config>/lua`, `$MOSAIC_LUA_PATH`, shipped, system),
/// and the API modules as globals (`mosaic`, `fleet`, `agent`, `heartbeat`).
public final class LuaRuntime {
  public let lua: LuaState
  public let paths: MosaicPaths
  /// Directories searched before the shipped modules, in order.
  public let luaRoots: [String]
  /// The last roster loaded, with the identity of its file (`loadRoster`).
  var rosterCache: (key: FileIdentity, roster: Roster)?

  public init(memoryLimit: Int = 0, paths: MosaicPaths = .fromEnvironment()) throws(LuaError) {
    self.paths = paths
    var roots = [paths.config + "/lua"]
    if let extra = Environment.nonEmpty("MOSAIC_LUA_PATH") {
      roots += extra.split(separator: ":").map(String.init).filter { !$0.isEmpty }
    }
    luaRoots = roots
    lua = try LuaState()
    installHost()
    try boot()
    // The cap is for the code that runs next: the runtime's own set-up always fits.
    lua.memoryLimit = memoryLimit
  }

  /// Source of a shipped file (`lua/<path>`), if any.
  public static func shipped(_ path: String) -> String? { EmbeddedLua.files[path] }

  /// The compiled form of a shipped Lua file (`lua/<path>`), if any: what `require` and the
  /// command dispatcher load, so no shipped file is parsed at run time.
  public static func shippedChunk(_ path: String) -> [UInt8]? {
    EmbeddedLua.chunks[path].map(latin1Bytes)
  }

  /// The bytes of a string whose every scalar is below U+0100 (how the build tool writes
  /// bytecode into a literal): one byte a scalar.
  static func latin1Bytes(_ literal: String) -> [UInt8] {
    var text = literal
    return text.withUTF8 { utf8 in
      [UInt8](unsafeUninitializedCapacity: utf8.count) { out, count in
        var i = 0
        var n = 0
        while i < utf8.count {
          let b = utf8[i]
          if b < 0x80 {
            out[n] = b
            i += 1
          } else {
            guard i + 1 < utf8.count else { break }
            out[n] = (b & 0x03) << 6 | (utf8[i + 1] & 0x3f)
            i += 2
          }
          n += 1
        }
        count = n
      }
    }
  }

  /// Every shipped file path.
  public static var shippedPaths: [String] { EmbeddedLua.files.keys.sorted() }

  private func installHost() {
    var entries: [(String, HostFunction)] = []
    entries += baseFunctions()
    entries += fleetFunctions()
    entries += heartbeatFunctions()
    entries += agentSendFunctions()
    entries += agentWatchFunctions()
    entries += agentResolveFunctions()
    entries += lockFunctions()
    entries += hostsFunctions()  // SPEC 2.12: Host+Hosts.swift
    lua.pushModule(entries)
    lua.pushArrayMetatable()
    lua.setField("array_mt", in: -2)
    lua.pushJSONNull()
    lua.setField("null", in: -2)
    // package.loaded["mosaic._host"] = module
    lua.getGlobal("package")
    lua.getField("loaded", in: -1)
    lua.pushValue(-3)
    lua.setField("mosaic._host", in: -2)
    lua.pop(3)
  }

  private func boot() throws(LuaError) {
    if let chunk = LuaRuntime.shippedChunk("mosaic/_boot.lua"), lua.loadShippedChunk(chunk) {
      try lua.call(nargs: 0, nresults: 0)
      return
    }
    guard let source = LuaRuntime.shipped("mosaic/_boot.lua") else {
      throw LuaError(.file, "the shipped Lua runtime is missing mosaic/_boot.lua")
    }
    try lua.load(source, name: "@[mosaic]/mosaic/_boot.lua")
    try lua.call(nargs: 0, nresults: 0)
  }

  // MARK: Running code

  /// Runs a loaded function (on the stack with its arguments) as a top-level chunk:
  /// Ctrl-C interrupts it; errors come back with a traceback.
  public func runTopLevel(nargs: Int32) throws(LuaError) {
    try lua.catchingInterrupts { () throws(LuaError) in
      try lua.call(nargs: nargs, nresults: 0)
    }
  }

  /// Sets the global `arg` table as `lua` does: `arg[0]` the script, `arg[1...]` its
  /// arguments, negative indices what came before.
  public func setArg(script: String, before: [String], args: [String]) {
    lua.newTable()
    for (n, a) in before.enumerated() {
      lua.pushString(a)
      lua.rawSet(index: -2, at: Int64(n - before.count))
    }
    lua.pushString(script)
    lua.rawSet(index: -2, at: 0)
    for (n, a) in args.enumerated() {
      lua.pushString(a)
      lua.rawSet(index: -2, at: Int64(n + 1))
    }
    lua.setGlobal("arg")
  }
}

extension LuaRuntime {
  /// Calls `require(module).main(argv)` as a top-level program and returns its integer
  /// result as the exit status (errors: `mosaic: ` + traceback, status 1).
  public func runMain(module: String, argv: [String]) -> Int32 {
    let base = lua.top
    defer { lua.top = base }
    do {
      lua.getGlobal("require")
      lua.pushString(module)
      try lua.call(nargs: 1, nresults: 1)
      lua.getField("main", in: -1)
      lua.newTable()
      for (n, a) in argv.enumerated() {
        lua.pushString(a)
        lua.rawSet(index: -2, at: Int64(n + 1))
      }
      try lua.catchingInterrupts { () throws(LuaError) in
        try lua.call(nargs: 1, nresults: 1)
      }
      Console.flush()
      return Int32(truncatingIfNeeded: lua.integer(at: -1) ?? 0)
    } catch {
      return LuaRuntime.report(error)
    }
  }
}

extension LuaRuntime {
  /// Prints an uncaught error of a top-level chunk and gives its exit status: Ctrl-C is
  /// one line and 130 (as shells report SIGINT), anything else `mosaic: ` + traceback, 1.
  static func report(_ error: LuaError) -> Int32 {
    Console.flush()
    if error.kind == .aborted, error.message.contains("interrupted") {
      Console.error("\nmosaic: interrupted\n")
      return 130
    }
    Console.error("mosaic: \(error.message)\n")
    return ExitCode.failure
  }
}
