import CLua
import CLuaShim
import MosaicSupport

/// A Lua error that reached Swift through a protected call.
public struct LuaError: Error, CustomStringConvertible, Sendable {
  public enum Kind: Sendable {
    case syntax, runtime, memory, handler, file
    /// The chunk was stopped by the host: Ctrl-C, time limit or memory limit.
    case aborted
  }
  public let kind: Kind
  /// The message, with a traceback when the call asked for one.
  public let message: String

  public init(_ kind: Kind, _ message: String) {
    self.kind = kind
    self.message = message
  }

  public var description: String { message }

  /// True for a syntax error caused by input that ended too early (REPL continuation).
  public var isIncompleteInput: Bool { kind == .syntax && message.hasSuffix("<eof>") }
}

/// One Lua state and the Swift functions registered in it.
///
/// The unsafe boundary lives here and in CLuaShim: Swift calls Lua only through
/// `mosaic_pcall`, so no Lua error longjmps through a Swift frame; host functions never
/// raise themselves (see `HostFunction`). A state belongs to one thread.
public final class LuaState {
  /// The main thread's `lua_State*`.
  public let L: OpaquePointer
  private let limits: UnsafeMutablePointer<mosaic_limits>
  var functions: [(name: String, body: HostFunction)] = []

  /// A new state with the standard libraries open. `memoryLimit` (bytes, 0 for none)
  /// caps what Lua code may allocate; host functions may exceed it briefly.
  public init(memoryLimit: Int = 0) throws(LuaError) {
    limits = .allocate(capacity: 1)
    limits.initialize(to: mosaic_limits())
    guard let L = mosaic_newstate(limits) else {
      limits.deallocate()
      throw LuaError(.memory, "cannot create a Lua state: out of memory")
    }
    self.L = L
    mosaic_set_dispatch(hostDispatch)
    mosaic_extraspace(L).pointee = Unmanaged.passUnretained(self).toOpaque()
    guard mosaic_pcall_openlibs(L) == LUA_OK else {
      lua_close(L)
      limits.deallocate()
      throw LuaError(.memory, "cannot open the Lua standard libraries")
    }
    installJSONMetatables()
    // The budget applies from here on, so the set-up (unprotected calls) never fails.
    limits.pointee.limit = memoryLimit > 0 ? size_t(memoryLimit) : 0
  }

  deinit {
    mosaic_extraspace(L).pointee = nil
    lua_close(L)
    limits.deallocate()
  }

  /// The Swift object owning a (main or coroutine) thread.
  static func owner(of L: OpaquePointer) -> LuaState? {
    guard let raw = mosaic_extraspace(L).pointee else { return nil }
    return Unmanaged<LuaState>.fromOpaque(raw).takeUnretainedValue()
  }

  // MARK: Limits

  public var memoryLimit: Int {
    get { Int(limits.pointee.limit) }
    set { limits.pointee.limit = newValue > 0 ? size_t(newValue) : 0 }
  }

  public var memoryUsed: Int { Int(limits.pointee.used) }
  public var memoryPeak: Int { Int(limits.pointee.peak) }

  /// Running code must finish within `seconds` of now (0 clears the limit).
  public func setTimeLimit(_ seconds: Double) { mosaic_set_deadline(L, seconds) }

  /// Stops the running chunk at its next instructions (signal- and thread-safe).
  public func requestInterrupt() { mosaic_request_abort(L, Int32(MOSAIC_ABORT_INTERRUPT.rawValue)) }

  /// Whether the running chunk has been asked to stop; host primitives that wait poll it.
  public var abortPending: Bool { mosaic_abort_pending(L) != 0 }

  /// Forgets an abort after the chunk returned, so the state can run code again.
  public func clearAbort() { mosaic_clear_abort(L) }

  /// Ctrl-C stops running Lua code while `body` runs.
  public func catchingInterrupts<R>(_ body: () throws(LuaError) -> R) throws(LuaError) -> R {
    mosaic_catch_sigint(L)
    defer { mosaic_release_sigint() }
    return try body()
  }

  // MARK: Stack

  public var top: Int32 {
    get { lua_gettop(L) }
    set { lua_settop(L, newValue) }
  }

  public func pop(_ n: Int32 = 1) { mosaic_pop(L, n) }

  // MARK: Loading and calling

  /// Compiles `code` and leaves the function on the stack. `name` follows Lua's chunk
  /// name convention: `@path` for files, `=name` for anything else.
  public func load(_ code: [UInt8], name: String, textOnly: Bool = true) throws(LuaError) {
    let bytes = code.isEmpty ? [UInt8(ascii: " ")] : code
    let status = bytes.withUnsafeBufferPointer { buf in
      buf.withMemoryRebound(to: CChar.self) { chars in
        mosaic_loadbuffer(L, chars.baseAddress, chars.count, name, textOnly ? "t" : "bt")
      }
    }
    guard status == LUA_OK else {
      let message = popErrorMessage()
      throw LuaError(status == LUA_ERRSYNTAX ? .syntax : .memory, message)
    }
  }

  /// Loads the compiled chunk `bytes` (`string.dump`'s form) onto `thread` (this state's
  /// main thread by default); false, with the stack unchanged, when it does not load, as
  /// bytecode from another Lua version does not. Only for the bytecode shipped inside the
  /// binary: code from anywhere else loads as text (`load(_:name:)`).
  public func loadShippedChunk(_ bytes: [UInt8], on thread: OpaquePointer? = nil) -> Bool {
    let L = thread ?? self.L
    let status = bytes.withUnsafeBufferPointer { buf in
      buf.withMemoryRebound(to: CChar.self) { chars in
        mosaic_loadbuffer(L, chars.baseAddress, chars.count, "=[mosaic]", "b")
      }
    }
    if status != LUA_OK { lua_settop(L, -2) }
    return status == LUA_OK
  }

  public func load(_ code: String, name: String) throws(LuaError) {
    try load(Array(code.utf8), name: name)
  }

  /// Calls the function below `nargs` arguments on the stack, in protected mode.
  /// On error, the stack is left as it was below the function and a `LuaError` carries
  /// the message (with a traceback if asked).
  public func call(nargs: Int32 = 0, nresults: Int32 = LUA_MULTRET, traceback: Bool = true)
    throws(LuaError)
  {
    let status = mosaic_pcall(L, nargs, nresults, traceback ? 1 : 0)
    guard status == LUA_OK else {
      let aborted = mosaic_abort_pending(L) != 0
      let message = popErrorMessage()
      switch status {
      case LUA_ERRMEM: throw LuaError(aborted ? .aborted : .memory, message)
      case LUA_ERRERR: throw LuaError(.handler, message)
      default: throw LuaError(aborted ? .aborted : .runtime, message)
      }
    }
  }

  /// Loads and runs a chunk, returning its results converted to JSON values (tests, the
  /// roster). Tables convert as `json(at:)` does.
  @discardableResult
  public func run(_ code: String, name: String = "=chunk") throws(LuaError) -> [JSONValue] {
    let base = top
    try load(code, name: name)
    try call()
    defer { top = base }
    var results: [JSONValue] = []
    if top > base {
      for i in (base + 1)...top {
        do {
          results.append(try json(at: i))
        } catch {
          throw LuaError(.runtime, error.message)
        }
      }
    }
    return results
  }

  func popErrorMessage() -> String {
    defer { pop() }
    return errorMessage(at: -1)
  }

  /// The error value at `index` as text (not a string: its type).
  public func errorMessage(at index: Int32) -> String {
    if let s = string(at: index) { return s }
    return "(error object is a \(typeName(at: index)) value)"
  }

  // MARK: Globals

  /// Pops the value on top and sets it as global `name` (raw: no metamethods run).
  public func setGlobal(_ name: String) {
    lua_rawgeti(L, mosaic_registryindex(), lua_Integer(LUA_RIDX_GLOBALS))
    mosaic_insert(L, -2)
    pushString(name)
    mosaic_insert(L, -2)
    lua_rawset(L, -3)
    pop()
  }

  /// Pushes global `name` (raw).
  public func getGlobal(_ name: String) {
    lua_rawgeti(L, mosaic_registryindex(), lua_Integer(LUA_RIDX_GLOBALS))
    pushString(name)
    lua_rawget(L, -2)
    mosaic_remove(L, -2)
  }

  /// Pops the value on top and stores it as `table[key]` for the table at `index` (raw).
  public func setField(_ key: String, in index: Int32) {
    let t = lua_absindex(L, index)
    pushString(key)
    mosaic_insert(L, -2)
    lua_rawset(L, t)
  }

  /// Pushes `table[key]` for the table at `index` (raw).
  public func getField(_ key: String, in index: Int32) {
    let t = lua_absindex(L, index)
    pushString(key)
    lua_rawget(L, t)
  }

  /// Pops the value on top and stores it in the registry under `key`.
  public func setRegistry(_ key: String) { setField(key, in: mosaic_registryindex()) }

  /// Pushes the registry value under `key`.
  public func getRegistry(_ key: String) { getField(key, in: mosaic_registryindex()) }
}

extension LuaState {
  /// The linked Lua release, e.g. "Lua 5.4.4".
  public static var release: String { String(cString: mosaic_lua_release()) }
}
