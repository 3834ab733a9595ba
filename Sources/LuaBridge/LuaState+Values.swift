import CLua
import CLuaShim
import MosaicSupport

/// Why a Lua value could not become JSON (with the path to the value).
public struct LuaConversionError: Error, CustomStringConvertible {
  public let message: String
  public var description: String { message }
}

/// Registry keys of the metatables that mark JSON arrays and objects.
let arrayMetatableKey = "mosaic.json.array"
let objectMetatableKey = "mosaic.json.object"
/// In an object's metatable: the ordered key list (keys whose value is nil encode as null).
let objectKeysField = "__jsonkeys"

extension LuaState {
  // MARK: Pushing

  public func pushNil() { lua_pushnil(L) }
  public func pushBool(_ b: Bool) { lua_pushboolean(L, b ? 1 : 0) }
  public func pushInteger(_ i: Int64) { lua_pushinteger(L, lua_Integer(i)) }
  public func pushNumber(_ d: Double) { lua_pushnumber(L, d) }

  public func pushString(_ s: String) {
    var s = s
    s.withUTF8 { buf in
      buf.withMemoryRebound(to: CChar.self) { _ = lua_pushlstring(L, $0.baseAddress, $0.count) }
    }
  }

  public func pushBytes(_ bytes: [UInt8]) {
    bytes.withUnsafeBufferPointer { buf in
      buf.withMemoryRebound(to: CChar.self) { _ = lua_pushlstring(L, $0.baseAddress, $0.count) }
    }
  }

  /// The `json.null` sentinel (a NULL light userdata, as lua-cjson uses).
  public func pushJSONNull() { lua_pushlightuserdata(L, nil) }

  /// Pushes a JSON value as Lua data: objects become tables whose metatable remembers
  /// the key order (and the keys whose value is null, which Lua cannot store), arrays
  /// become sequences marked as arrays (so `{}` stays `[]`), null inside an array becomes
  /// `json.null`.
  public func push(_ value: JSONValue) {
    switch value {
    case .null: pushNil()
    case .bool(let b): pushBool(b)
    case .int(let i): pushInteger(i)
    case .double(let d): pushNumber(d)
    case .string(let s): pushString(s)
    case .array(let items):
      lua_createtable(L, Int32(clamping: items.count), 0)
      // Each level of nesting needs stack slots of its own (an item, its key, a
      // metatable); if the stack cannot grow (out of memory) the table stays empty.
      guard lua_checkstack(L, 3) != 0 else { return }
      for (n, item) in items.enumerated() {
        if case .null = item { pushJSONNull() } else { push(item) }
        lua_rawseti(L, -2, lua_Integer(n + 1))
      }
      getRegistry(arrayMetatableKey)
      lua_setmetatable(L, -2)
    case .object(let pairs):
      lua_createtable(L, 0, Int32(clamping: pairs.count))
      guard lua_checkstack(L, 3) != 0 else { return }
      for (key, item) in pairs {
        if case .null = item { continue }
        push(item)
        setField(key, in: -2)
      }
      // metatable: { __name = "json.object", __jsonkeys = { keys in order } }
      lua_createtable(L, 0, 2)
      pushString("json.object")
      setField("__name", in: -2)
      lua_createtable(L, Int32(clamping: pairs.count), 0)
      for (n, (key, _)) in pairs.enumerated() {
        pushString(key)
        lua_rawseti(L, -2, lua_Integer(n + 1))
      }
      setField(objectKeysField, in: -2)
      lua_setmetatable(L, -2)
    }
  }

  func installJSONMetatables() {
    lua_createtable(L, 0, 1)
    pushString("json.array")
    setField("__name", in: -2)
    setRegistry(arrayMetatableKey)
  }

  /// Pushes the shared metatable that marks a table as a JSON array.
  public func pushArrayMetatable() { getRegistry(arrayMetatableKey) }

  // MARK: Reading

  public enum ValueType: Int32 {
    case none = -1
    case `nil` = 0
    case boolean = 1
    case lightUserdata = 2
    case number = 3
    case string = 4
    case table = 5
    case function = 6
    case userdata = 7
    case thread = 8
  }

  public func type(at index: Int32) -> ValueType {
    ValueType(rawValue: lua_type(L, index)) ?? .none
  }

  public func typeName(at index: Int32) -> String {
    String(cString: lua_typename(L, lua_type(L, index)))
  }

  /// The bytes of a string (or a number, converted as Lua does); nil for other types.
  public func bytes(at index: Int32) -> [UInt8]? {
    let t = lua_type(L, index)
    guard t == LUA_TSTRING || t == LUA_TNUMBER else { return nil }
    var len = 0
    guard let p = lua_tolstring(L, index, &len) else { return nil }
    return p.withMemoryRebound(to: UInt8.self, capacity: len) {
      Array(UnsafeBufferPointer(start: $0, count: len))
    }
  }

  /// A string (or number) as Swift text; invalid UTF-8 is repaired with U+FFFD.
  public func string(at index: Int32) -> String? {
    bytes(at: index).map { String(decoding: $0, as: UTF8.self) }
  }

  public func isInteger(at index: Int32) -> Bool { lua_isinteger(L, index) != 0 }

  public func integer(at index: Int32) -> Int64? {
    var ok: Int32 = 0
    let v = lua_tointegerx(L, index, &ok)
    return ok != 0 ? Int64(v) : nil
  }

  public func number(at index: Int32) -> Double? {
    guard lua_type(L, index) == LUA_TNUMBER else { return nil }
    return lua_tonumberx(L, index, nil)
  }

  public func toBool(at index: Int32) -> Bool { lua_toboolean(L, index) != 0 }

  /// Converts the value at `index` to JSON. Tables: marked arrays and objects keep their
  /// kind; otherwise an empty table or one with keys 1...n is an array, one with string
  /// keys an object. Functions, userdata, threads, cycles, NaN and mixed keys fail.
  /// With `strictUTF8` false, invalid UTF-8 in strings is repaired instead of failing.
  public func json(at index: Int32, strictUTF8: Bool = true) throws(LuaConversionError)
    -> JSONValue
  {
    var seen: Set<UnsafeRawPointer> = []
    var walk = Walk(strict: strictUTF8)
    return try json(at: lua_absindex(L, index), seen: &seen, depth: 0, walk: &walk)
  }

  /// The conversion's state: strictness, and where it is (`value.agents[3].name` in an
  /// error), kept as components and spelled out only for an error: a thousand-agent roster
  /// is converted on every `fleet ps`.
  struct Walk {
    var strict: Bool
    var components: [Component] = []

    enum Component {
      case index(Int)
      case key(String)
    }

    var path: String {
      var out = "value"
      for c in components {
        switch c {
        case .index(let i): out += "[\(i)]"
        case .key(let k): out += ".\(k)"
        }
      }
      return out
    }
  }

  private func json(
    at index: Int32, seen: inout Set<UnsafeRawPointer>, depth: Int, walk: inout Walk
  )
    throws(LuaConversionError) -> JSONValue
  {
    switch lua_type(L, index) {
    case LUA_TNIL: return .null
    case LUA_TBOOLEAN: return .bool(lua_toboolean(L, index) != 0)
    case LUA_TNUMBER:
      if lua_isinteger(L, index) != 0 { return .int(Int64(lua_tointegerx(L, index, nil))) }
      let d = lua_tonumberx(L, index, nil)
      guard d.isFinite else {
        throw LuaConversionError(message: "\(walk.path): \(d) is not a JSON number")
      }
      return .double(d)
    case LUA_TSTRING:
      let b = bytes(at: index) ?? []
      guard let s = String(validating: b, as: UTF8.self) else {
        if !walk.strict { return .string(String(decoding: b, as: UTF8.self)) }
        throw LuaConversionError(message: "\(walk.path): string is not valid UTF-8")
      }
      return .string(s)
    case LUA_TLIGHTUSERDATA where lua_touserdata(L, index) == nil:
      return .null
    case LUA_TTABLE:
      guard depth < 200 else {
        throw LuaConversionError(message: "\(walk.path): nested too deeply")
      }
      guard let ptr = lua_topointer(L, index) else { return .null }
      guard seen.insert(ptr).inserted else {
        throw LuaConversionError(message: "\(walk.path): table contains itself")
      }
      defer { seen.remove(ptr) }
      return try tableJSON(at: index, seen: &seen, depth: depth, walk: &walk)
    default:
      throw LuaConversionError(
        message: "\(walk.path): cannot convert a \(typeName(at: index)) value")
    }
  }

  private enum TableMark { case array, object(keys: [String]), none }

  private func tableMark(at index: Int32) -> TableMark {
    guard lua_getmetatable(L, index) != 0 else { return .none }
    defer { pop() }
    getRegistry(arrayMetatableKey)
    let isArray = lua_rawequal(L, -1, -2) != 0
    pop()
    if isArray { return .array }
    getField(objectKeysField, in: -1)
    defer { pop() }
    guard lua_type(L, -1) == LUA_TTABLE else { return .none }
    var keys: [String] = []
    let n = lua_rawlen(L, -1)
    if n > 0 {
      for i in 1...n {
        lua_rawgeti(L, -1, lua_Integer(i))
        if lua_type(L, -1) == LUA_TSTRING, let k = string(at: -1) { keys.append(k) }
        pop()
      }
    }
    return .object(keys: keys)
  }

  private enum OtherKey {
    case integer(Int64)
    case type(String)
  }

  private func tableJSON(
    at index: Int32, seen: inout Set<UnsafeRawPointer>, depth: Int, walk: inout Walk
  ) throws(LuaConversionError) -> JSONValue {
    // Room for a key, a value and the metatable lookups, at every level of nesting.
    guard lua_checkstack(L, 4) != 0 else {
      throw LuaConversionError(message: "\(walk.path): nested too deeply")
    }
    let mark = tableMark(at: index)
    let length = Int(lua_rawlen(L, index))
    // Collect keys with one raw traversal. String keys keep their bytes: one that is not
    // valid UTF-8 fails when strict, and is repaired in the name but looked up as it is.
    var stringKeys: [(name: String, raw: [UInt8])] = []
    var invalidKey = false
    var integerKeys = 0
    var otherKey: OtherKey? = nil
    lua_pushnil(L)
    while lua_next(L, index) != 0 {
      pop()  // value
      switch lua_type(L, -1) {
      case LUA_TSTRING:
        let raw = bytes(at: -1) ?? []
        if let name = String(validating: raw, as: UTF8.self) {
          stringKeys.append((name, raw))
        } else {
          invalidKey = true
          stringKeys.append((String(decoding: raw, as: UTF8.self), raw))
        }
      case LUA_TNUMBER where lua_isinteger(L, -1) != 0:
        let k = Int64(lua_tointegerx(L, -1, nil))
        if k >= 1 && k <= length { integerKeys += 1 } else { otherKey = .integer(k) }
      default: otherKey = .type(typeName(at: -1))
      }
    }
    if invalidKey && walk.strict {
      throw LuaConversionError(message: "\(walk.path): a key is not valid UTF-8")
    }
    var asArray: Bool
    switch mark {
    case .array: asArray = true
    case .object: asArray = false
    case .none: asArray = stringKeys.isEmpty && otherKey == nil
    }
    if asArray {
      if case .array = mark {
      } else if integerKeys != length {
        throw LuaConversionError(message: "\(walk.path): array has holes")
      }
      var items: [JSONValue] = []
      items.reserveCapacity(length)
      if length > 0 {
        for i in 1...length {
          lua_rawgeti(L, index, lua_Integer(i))
          walk.components.append(.index(i))
          defer {
            walk.components.removeLast()
            pop()
          }
          items.append(try json(at: lua_gettop(L), seen: &seen, depth: depth + 1, walk: &walk))
        }
      }
      return .array(items)
    }
    switch otherKey {
    case .type(let type):
      throw LuaConversionError(message: "\(walk.path): a \(type) key cannot be a JSON key")
    case .integer(let k) where stringKeys.isEmpty && k < 1:
      throw LuaConversionError(message: "\(walk.path): array index \(k) is out of range")
    case .integer where stringKeys.isEmpty:
      throw LuaConversionError(message: "\(walk.path): array has holes")
    case .integer:
      throw LuaConversionError(message: "\(walk.path): table mixes string keys with integer keys")
    case nil where integerKeys > 0:
      throw LuaConversionError(message: "\(walk.path): table mixes string keys with integer keys")
    case nil: break
    }
    var ordered: [(name: String, raw: [UInt8])]
    if case .object(let keys) = mark {
      ordered = keys.map { ($0, Array($0.utf8)) }
      let listed = Set(keys)
      ordered += stringKeys.filter { !listed.contains($0.name) }.sorted { $0.name < $1.name }
    } else {
      ordered = stringKeys.sorted { $0.name < $1.name }
    }
    var pairs: [(String, JSONValue)] = []
    pairs.reserveCapacity(ordered.count)
    for key in ordered {
      pushBytes(key.raw)
      lua_rawget(L, index)
      walk.components.append(.key(key.name))
      defer {
        walk.components.removeLast()
        pop()
      }
      pairs.append(
        (key.name, try json(at: lua_gettop(L), seen: &seen, depth: depth + 1, walk: &walk)))
    }
    return .object(pairs)
  }
}

extension LuaState {
  public func newTable() { mosaic_newtable(L) }
  public func pushValue(_ index: Int32) { lua_pushvalue(L, index) }

  /// Pops the value on top and stores it as `table[i]` for the table at `index` (raw).
  public func rawSet(index: Int32, at i: Int64) {
    lua_rawseti(L, lua_absindex(L, index), lua_Integer(i))
  }

  /// Pushes `table[i]` for the table at `index` (raw).
  public func rawGet(index: Int32, at i: Int64) {
    lua_rawgeti(L, lua_absindex(L, index), lua_Integer(i))
  }
}
