import CLua
import CLuaShim
import MosaicSupport

/// A Swift function callable from Lua. It reads its arguments and pushes its results
/// through the `LuaCall`, and returns how many results it pushed. To raise a Lua error
/// it throws a `LuaCallError`; the C trampoline raises it after the Swift frames are gone.
public typealias HostFunction = (LuaCall) throws(LuaCallError) -> Int32

/// An error a host function raises into Lua.
public enum LuaCallError: Error {
  /// "bad argument #n to 'name' (why)", at the caller's position: a programming error.
  /// `name` is the one the caller used, as in `luaL_argerror`.
  case argument(Int32, String)
  /// A message raised at the caller's position.
  case runtime(String)
  /// A message raised as is (already positioned, or a rethrown Lua error).
  case raw(String)
}

/// The view a host function has of its call: arguments in, results out.
/// `L` is the running thread (a coroutine's when called from one), not always the main one.
public struct LuaCall {
  public let L: OpaquePointer
  public let state: LuaState
  public let name: String

  public var argumentCount: Int32 { lua_gettop(L) }

  public func type(_ i: Int32) -> LuaState.ValueType {
    LuaState.ValueType(rawValue: lua_type(L, i)) ?? .none
  }

  public func isNoneOrNil(_ i: Int32) -> Bool { mosaic_isnoneornil(L, i) != 0 }

  private func typeName(_ i: Int32) -> String {
    lua_type(L, i) == LUA_TNONE ? "no value" : String(cString: lua_typename(L, lua_type(L, i)))
  }

  private func expected(_ i: Int32, _ what: String) -> LuaCallError {
    .argument(i, "\(what) expected, got \(typeName(i))")
  }

  public func bytes(_ i: Int32) throws(LuaCallError) -> [UInt8] {
    let t = lua_type(L, i)
    guard t == LUA_TSTRING || t == LUA_TNUMBER else { throw expected(i, "string") }
    var len = 0
    guard let p = lua_tolstring(L, i, &len) else { throw expected(i, "string") }
    return p.withMemoryRebound(to: UInt8.self, capacity: len) {
      Array(UnsafeBufferPointer(start: $0, count: len))
    }
  }

  public func string(_ i: Int32) throws(LuaCallError) -> String {
    String(decoding: try bytes(i), as: UTF8.self)
  }

  /// A string and nothing else (no number converted): for names and texts, where a number
  /// is the caller's mistake.
  public func strictBytes(_ i: Int32) throws(LuaCallError) -> [UInt8] {
    guard lua_type(L, i) == LUA_TSTRING else { throw expected(i, "string") }
    return try bytes(i)
  }

  public func strictString(_ i: Int32) throws(LuaCallError) -> String {
    String(decoding: try strictBytes(i), as: UTF8.self)
  }

  public func optString(_ i: Int32) throws(LuaCallError) -> String? {
    isNoneOrNil(i) ? nil : try string(i)
  }

  public func optBytes(_ i: Int32) throws(LuaCallError) -> [UInt8]? {
    isNoneOrNil(i) ? nil : try bytes(i)
  }

  public func number(_ i: Int32) throws(LuaCallError) -> Double {
    guard lua_type(L, i) == LUA_TNUMBER else { throw expected(i, "number") }
    return lua_tonumberx(L, i, nil)
  }

  public func optNumber(_ i: Int32) throws(LuaCallError) -> Double? {
    isNoneOrNil(i) ? nil : try number(i)
  }

  public func integer(_ i: Int32) throws(LuaCallError) -> Int64 {
    var ok: Int32 = 0
    let v = lua_tointegerx(L, i, &ok)
    guard ok != 0 else {
      if lua_type(L, i) == LUA_TNUMBER {
        throw .argument(i, "number has no integer representation")
      }
      throw expected(i, "integer")
    }
    return Int64(v)
  }

  public func optInteger(_ i: Int32) throws(LuaCallError) -> Int64? {
    isNoneOrNil(i) ? nil : try integer(i)
  }

  public func boolean(_ i: Int32) -> Bool { lua_toboolean(L, i) != 0 }

  /// Any value as JSON (tables converted; see `LuaState.json(at:)`).
  public func json(_ i: Int32, strictUTF8: Bool = true) throws(LuaCallError) -> JSONValue {
    do {
      return try state.jsonOnThread(L, at: i, strictUTF8: strictUTF8)
    } catch {
      throw .argument(i, error.message)
    }
  }

  /// An options table (or nil): its fields as JSON. Unknown option names are an error
  /// naming the closest known one.
  public func options(_ i: Int32, known: [String]) throws(LuaCallError) -> [String: JSONValue] {
    if isNoneOrNil(i) { return [:] }
    guard lua_type(L, i) == LUA_TTABLE else { throw expected(i, "table") }
    guard case .object(let pairs) = try json(i, strictUTF8: false) else { return [:] }
    var result: [String: JSONValue] = [:]
    for (k, v) in pairs {
      guard known.contains(k) else {
        let hint = Suggestion.hint(for: k, in: known)
        throw .argument(i, "unknown option '\(k)'\(hint)")
      }
      result[k] = v
    }
    return result
  }

  public func checkFunction(_ i: Int32) throws(LuaCallError) {
    guard lua_type(L, i) == LUA_TFUNCTION else { throw expected(i, "function") }
  }

  // MARK: Results

  public func pushNil() { lua_pushnil(L) }
  public func push(_ b: Bool) { lua_pushboolean(L, b ? 1 : 0) }
  public func push(_ i: Int64) { lua_pushinteger(L, lua_Integer(i)) }
  public func push(_ i: Int) { lua_pushinteger(L, lua_Integer(i)) }
  public func push(_ d: Double) { lua_pushnumber(L, d) }

  public func push(_ s: String) {
    var s = s
    s.withUTF8 { buf in
      buf.withMemoryRebound(to: CChar.self) { _ = lua_pushlstring(L, $0.baseAddress, $0.count) }
    }
  }

  public func push(bytes: [UInt8]) {
    bytes.withUnsafeBufferPointer { buf in
      buf.withMemoryRebound(to: CChar.self) { _ = lua_pushlstring(L, $0.baseAddress, $0.count) }
    }
  }

  public func push(_ value: JSONValue) { state.pushOnThread(L, value) }

  /// Pushes the function that the compiled chunk `bytes` (`string.dump`'s form) defines;
  /// false, with nothing pushed, when it does not load (another Lua version's bytecode).
  /// Only for the bytecode shipped inside the binary: never for code read from anywhere else.
  public func pushShippedChunk(_ bytes: [UInt8]) -> Bool {
    state.loadShippedChunk(bytes, on: L)
  }

  /// Pops the value on top and stores it as `t[key]` for the table at `index` (raw).
  public func setField(_ key: String, in index: Int32 = -2) {
    let t = lua_absindex(L, index)
    push(key)
    mosaic_insert(L, -2)
    lua_rawset(L, t)
  }

  /// The exact bytes of string field `key` of the table argument `i`, if it is a string.
  public func rawField(_ i: Int32, _ key: String) -> [UInt8]? {
    guard lua_type(L, i) == LUA_TTABLE else { return nil }
    let t = lua_absindex(L, i)
    push(key)
    lua_rawget(L, t)
    defer { mosaic_pop(L, 1) }
    guard lua_type(L, -1) == LUA_TSTRING else { return nil }
    var len = 0
    guard let p = lua_tolstring(L, -1, &len) else { return nil }
    return p.withMemoryRebound(to: UInt8.self, capacity: len) {
      Array(UnsafeBufferPointer(start: $0, count: len))
    }
  }

  /// The `nil, message` convention for expected failures; returns 2.
  public func fail(_ message: String) -> Int32 {
    pushNil()
    push(message)
    return 2
  }

  /// Whether the running code has been asked to stop (Ctrl-C, time limit).
  public var abortPending: Bool { mosaic_abort_pending(L) != 0 }

  /// Seconds left before the state's time limit stops the running code (nil: no limit).
  /// A host function that blocks (a child process, a wait) should not outlive it.
  public var timeLeft: Double? {
    let deadline = mosaic_getlimits(L).pointee.deadline
    return deadline > 0 ? max(0, deadline - mosaic_monotonic()) : nil
  }

  /// The state's memory cap in bytes (`run --memory`), nil when there is none. Data a host
  /// function hands back (a child's output) should not exceed it.
  public var memoryLimit: Int? {
    let limit = Int(mosaic_getlimits(L).pointee.limit)
    return limit > 0 ? limit : nil
  }

  /// Why the running code is being stopped ("interrupted", "time limit exceeded", ...),
  /// or nil. A host function that waits raises this (`.raw`) when it gives up early, so
  /// the chunk ends with the same message as when the hook stops it.
  public var abortMessage: String? {
    guard mosaic_abort_pending(L) != 0 else { return nil }
    var buf = [CChar](repeating: 0, count: 96)
    return buf.withUnsafeMutableBufferPointer {
      String(cString: mosaic_abort_message(L, $0.baseAddress, $0.count))
    }
  }

  /// Calls the Lua function at stack index `fn` with no arguments in protected mode and
  /// returns its first result as truthiness; errors come back as `LuaCallError.raw`.
  public func callPredicate(_ fn: Int32) throws(LuaCallError) -> Bool {
    lua_pushvalue(L, fn)
    // Lua code again: its allocations count against the memory limit (host code's do not).
    let limits = mosaic_getlimits(L)!
    limits.pointee.in_host -= 1
    let status = mosaic_pcall(L, 0, 1, 0)
    limits.pointee.in_host += 1
    defer { lua_settop(L, -2) }
    guard status == LUA_OK else {
      throw .raw(state.errorMessageOnThread(L, at: -1))
    }
    return lua_toboolean(L, -1) != 0
  }

  /// Calls the function at stack index `fn` with the arguments above it (to the top) in
  /// protected mode under a time limit of `seconds` (never later than the state's own
  /// limit): the same hook that ends a `mosaic run --timeout` script ends it, and host
  /// functions inside see the nearer deadline in `timeLeft`. The results replace the
  /// function and its arguments. Returns the number of results, or nil when this limit
  /// (not an outer one) stopped it: the abort is then cleared and the stack is back to
  /// below `fn`. Other errors come back as `LuaCallError.raw`.
  public func callWithin(_ seconds: Double, function fn: Int32) throws(LuaCallError) -> Int32? {
    let limits = mosaic_getlimits(L)!
    let outer = limits.pointee.deadline
    let mine = mosaic_monotonic() + seconds
    limits.pointee.deadline = outer > 0 ? min(outer, mine) : mine
    let base = fn - 1
    limits.pointee.in_host -= 1
    let status = mosaic_pcall(L, lua_gettop(L) - fn, LUA_MULTRET, 0)
    limits.pointee.in_host += 1
    limits.pointee.deadline = outer
    // This limit fired (whether or not code inside caught the error: a `pcall` inside
    // returns normally, with the abort still pending) and an outer one has not: it ends
    // here. An outer limit, Ctrl-C or the memory cap go on.
    let outerPassed = outer > 0 && mosaic_monotonic() >= outer
    if limits.pointee.abort_reason == Int32(MOSAIC_ABORT_TIMEOUT.rawValue), !outerPassed {
      lua_settop(L, base)
      mosaic_clear_abort(L)
      return nil
    }
    if status == LUA_OK { return lua_gettop(L) - base }
    let message = state.errorMessageOnThread(L, at: -1)
    lua_settop(L, base)
    throw .raw(message)
  }
}

extension LuaState {
  /// Pushes a host function (a C closure over the trampoline) onto the stack.
  public func pushFunction(name: String, _ body: @escaping HostFunction) {
    functions.append((name, body))
    mosaic_push_hostfunction(L, Int32(functions.count - 1))
  }

  /// Pushes a table of host functions.
  public func pushModule(_ entries: [(String, HostFunction)]) {
    lua_createtable(L, 0, Int32(entries.count))
    for (name, body) in entries {
      pushFunction(name: name, body)
      setField(name, in: -2)
    }
  }

  func jsonOnThread(_ thread: OpaquePointer, at i: Int32, strictUTF8: Bool)
    throws(LuaConversionError) -> JSONValue
  {
    if thread == L { return try json(at: i, strictUTF8: strictUTF8) }
    // A coroutine: move the value to the main thread, convert, drop it.
    guard lua_checkstack(L, 1) != 0 else {
      throw LuaConversionError(message: "value: out of stack space")
    }
    lua_pushvalue(thread, i)
    lua_xmove(thread, L, 1)
    defer { pop() }
    return try json(at: -1, strictUTF8: strictUTF8)
  }

  func pushOnThread(_ thread: OpaquePointer, _ value: JSONValue) {
    guard thread != L else { return push(value) }
    // Built on the main thread (whose stack is idle while a coroutine runs), then moved.
    guard lua_checkstack(L, 1) != 0 else { return lua_pushnil(thread) }
    push(value)
    lua_xmove(L, thread, 1)
  }

  func errorMessageOnThread(_ thread: OpaquePointer, at i: Int32) -> String {
    var len = 0
    if let p = lua_tolstring(thread, i, &len) {
      return p.withMemoryRebound(to: UInt8.self, capacity: len) {
        String(decoding: UnsafeBufferPointer(start: $0, count: len), as: UTF8.self)
      }
    }
    return "(error object is a \(String(cString: lua_typename(thread, lua_type(thread, i)))) value)"
  }

  func invoke(_ id: Int32, on thread: OpaquePointer) -> Int32 {
    let entry = functions[Int(id)]
    let call = LuaCall(L: thread, state: self, name: entry.name)
    do {
      return try entry.body(call)
    } catch {
      switch error {
      case .argument(let n, let why):
        // Named as the caller named the function (`json.encode`, not its host name).
        call.push(Int64(n))
        call.push(why)
        return MOSAIC_HOST_ERROR_ARG
      case .runtime(let message):
        call.push(message)
        return MOSAIC_HOST_ERROR_WHERE
      case .raw(let message):
        call.push(message)
        return MOSAIC_HOST_ERROR
      }
    }
  }
}

/// The single dispatcher every host function goes through (file scope: a closure in
/// main-actor code would be main-actor isolated and trap when Lua calls it).
func hostDispatch(_ L: OpaquePointer?, _ id: Int32) -> Int32 {
  guard let L else { return MOSAIC_HOST_ERROR }
  guard let state = LuaState.owner(of: L) else {
    // A finalizer running while the state closes: its Swift side is gone.
    lua_pushstring(L, "host function called while its Lua state closes")
    return MOSAIC_HOST_ERROR
  }
  return state.invoke(id, on: L)
}
