import LuaBridge
import MosaicSupport
import XCTest

/// Values crossing the bridge both ways: Lua results read as JSON values, JSON values
/// pushed as Lua data, and the rules that keep arrays, objects and null apart.
final class ValueTests: XCTestCase {
  // MARK: Lua to Swift

  func testScalarsFromLua() throws {
    let lua = try LuaState()
    let r = try lua.run("return nil, true, false, 'text', 42, -7, 1.5")
    XCTAssertEqual(r.count, 7)
    XCTAssertEqual(r.map(kind), ["null", "bool", "bool", "string", "int", "int", "double"])
    XCTAssertEqual(r[1], .bool(true))
    XCTAssertEqual(r[2], .bool(false))
    XCTAssertEqual(r[3], .string("text"))
    XCTAssertEqual(r[4], .int(42))
    XCTAssertEqual(r[5], .int(-7))
    XCTAssertEqual(r[6], .double(1.5))
  }

  func testIntegersAndFloatsStayApart() throws {
    let lua = try LuaState()
    let r = try lua.run(
      "return 1, 1.0, 2^53, math.tointeger(2^53), math.mininteger, math.maxinteger, -0.0")
    XCTAssertEqual(r.map(kind), ["int", "double", "double", "int", "int", "int", "double"])
    guard case .double(let big) = r[2], case .int(let bigInt) = r[3] else {
      return XCTFail("2^53: \(r)")
    }
    XCTAssertEqual(big, 9_007_199_254_740_992)
    XCTAssertEqual(bigInt, 9_007_199_254_740_992)
    guard case .int(let min) = r[4], case .int(let max) = r[5] else { return XCTFail("\(r)") }
    XCTAssertEqual(min, Int64.min)
    XCTAssertEqual(max, Int64.max)
    // And on the stack, without the JSON view.
    try lua.load("return math.mininteger, 2^53", name: "=n")
    try lua.call(nresults: 2)
    defer { lua.pop(2) }
    XCTAssertTrue(lua.isInteger(at: -2))
    XCTAssertEqual(lua.integer(at: -2), Int64.min)
    XCTAssertFalse(lua.isInteger(at: -1))
    XCTAssertEqual(lua.number(at: -1), 9_007_199_254_740_992)
  }

  func testNumbersToLuaKeepTheirKind() throws {
    let lua = try LuaState()
    lua.push(
      .array([
        .int(Int64.min), .int(Int64.max), .int(9_007_199_254_740_993), .double(2.5),
        .double(9_007_199_254_740_992),
      ]))
    lua.setGlobal("v")
    check(
      lua,
      """
      assert(math.type(v[1]) == "integer" and v[1] == math.mininteger, "mininteger")
      assert(math.type(v[2]) == "integer" and v[2] == math.maxinteger, "maxinteger")
      assert(math.type(v[3]) == "integer" and v[3] == 9007199254740993, "2^53 + 1 exact")
      assert(math.type(v[4]) == "float" and v[4] == 2.5, "2.5")
      assert(math.type(v[5]) == "float" and v[5] == 2^53, "2^53 float")
      """)
  }

  func testStringsWithNULAndInvalidUTF8() throws {
    let lua = try LuaState()
    XCTAssertEqual(try lua.run("return 'a\\0b'"), [.string("a\u{0}b")])
    // Swift to Lua keeps every byte, NUL included.
    lua.push(.string("x\u{0}y\u{0}"))
    lua.setGlobal("s")
    lua.pushBytes([0xFF, 0x00, 0x41, 0xFE])
    lua.setGlobal("b")
    check(
      lua,
      """
      assert(#s == 4 and s == "x\\0y\\0", "NUL in a pushed string")
      assert(#b == 4 and b == "\\xff\\0A\\xfe", "raw bytes")
      """)
    // Lua to Swift: raw bytes survive through bytes(at:); the JSON view refuses them.
    try lua.load("return '\\xff\\0\\xfe'", name: "=b")
    try lua.call(nresults: 1)
    XCTAssertEqual(lua.bytes(at: -1), [0xFF, 0x00, 0xFE])
    XCTAssertThrowsError(try lua.json(at: -1)) { error in
      XCTAssertTrue("\(error)".contains("not valid UTF-8"), "\(error)")
    }
    XCTAssertEqual(try lua.json(at: -1, strictUTF8: false), .string("\u{FFFD}\u{0}\u{FFFD}"))
    lua.pop()
    let e = luaError { try lua.run("return {name = 'ok', bad = '\\xc3('}") }
    XCTAssertTrue(e?.message.contains("value.bad: string is not valid UTF-8") ?? false, "\(e!)")
  }

  func testInvalidUTF8KeysAreRefusedNotNulled() throws {
    let lua = try LuaState()
    let e = luaError { try lua.run("return {['\\xff'] = 1}") }
    XCTAssertTrue(e?.message.contains("not valid UTF-8") ?? false, "\(String(describing: e))")
    // Repaired (not strict), the value is still found under its key.
    try lua.load("return {['k\\xff'] = 1}", name: "=k")
    try lua.call(nresults: 1)
    defer { lua.pop() }
    XCTAssertEqual(try lua.json(at: -1, strictUTF8: false), .object([("k\u{FFFD}", .int(1))]))
  }

  func testNestedTables() throws {
    let lua = try LuaState()
    let r = try lua.run("return {name = 'n', list = {1, 'two', {deep = {true}}}, empty = {}}")
    XCTAssertEqual(
      r,
      [
        .object([
          ("empty", .array([])),
          ("list", .array([.int(1), .string("two"), .object([("deep", .array([.bool(true)]))])])),
          ("name", .string("n")),
        ])
      ])
    // The same table twice is not a cycle.
    XCTAssertEqual(
      try lua.run("local s = {1} return {s, s}"), [.array([.array([.int(1)]), .array([.int(1)])])])
  }

  func testArraysObjectsAndEmptyTables() throws {
    let lua = try LuaState()
    XCTAssertEqual(try lua.run("return {}"), [.array([])])
    XCTAssertEqual(try lua.run("return {10, 20}"), [.array([.int(10), .int(20)])])
    // Pushed empty objects and arrays come back as what they were.
    lua.push(.object([]))
    lua.setGlobal("o")
    lua.push(.array([]))
    lua.setGlobal("a")
    XCTAssertEqual(
      try lua.run("return o, a, #a, next(o)"), [.object([]), .array([]), .int(0), .null])
    // A pushed array stays an array after Lua empties or fills it.
    lua.push(.array([.int(1)]))
    lua.setGlobal("grow")
    XCTAssertEqual(
      try lua.run("grow[1] = nil return grow"), [.array([])], "an emptied array stays []")
    // A pushed object stays an object even when its fields go.
    lua.push(.object([("x", .int(1))]))
    lua.setGlobal("shrink")
    XCTAssertEqual(try lua.run("shrink.x = nil return shrink"), [.object([("x", .null)])])
  }

  func testObjectKeyOrder() throws {
    let lua = try LuaState()
    let pairs: [(String, JSONValue)] = [
      ("zeta", .int(1)), ("alpha", .int(2)), ("mid", .int(3)), ("beta", .int(4)),
    ]
    lua.push(.object(pairs))
    lua.setGlobal("v")
    let back = try lua.run("return v")
    XCTAssertEqual(keys(back[0]), ["zeta", "alpha", "mid", "beta"], "pushed order kept")
    // Keys Lua adds come after the known ones, sorted.
    let grown = try lua.run("v.b = 5 v.a = 6 return v")
    XCTAssertEqual(keys(grown[0]), ["zeta", "alpha", "mid", "beta", "a", "b"])
    // Plain Lua tables have no order of their own: keys come out sorted, every time.
    let plain = try lua.run("return {c = 1, a = 2, b = 3, aa = 4}")
    XCTAssertEqual(keys(plain[0]), ["a", "aa", "b", "c"])
  }

  func testJSONNullInArraysAndObjects() throws {
    let lua = try LuaState()
    lua.push(.array([.int(1), .null, .int(3), .null]))
    lua.setGlobal("arr")
    lua.push(.object([("a", .null), ("b", .int(2)), ("c", .array([.null]))]))
    lua.setGlobal("obj")
    check(
      lua,
      """
      assert(#arr == 4, "null keeps its slot: #arr = " .. #arr)
      assert(type(arr[2]) == "userdata" and arr[2] == arr[4], "json null sentinel")
      assert(obj.a == nil, "a null field reads as nil")
      assert(obj.b == 2)
      assert(type(obj.c[1]) == "userdata")
      """)
    XCTAssertEqual(
      try lua.run("return arr, obj"),
      [
        .array([.int(1), .null, .int(3), .null]),
        .object([("a", .null), ("b", .int(2)), ("c", .array([.null]))]),
      ])
    // The sentinel is a NULL light userdata, so Lua code can build it too.
    lua.pushJSONNull()
    lua.setGlobal("null")
    XCTAssertEqual(try lua.run("return {1, null}"), [.array([.int(1), .null])])
  }

  func testJSONDocumentRoundTrip() throws {
    let lua = try LuaState()
    let text = #"{"b":1,"a":null,"c":[1,null,{}],"d":{},"e":[],"f":{"y":"\u0000","x":-0.5}}"#
    lua.push(try JSONCodec.decode(text))
    lua.setGlobal("doc")
    let back = try lua.run("return doc")
    XCTAssertEqual(JSONCodec.encode(back[0]), text)
  }

  func testCyclesAreRejected() throws {
    let lua = try LuaState()
    let e = luaError { try lua.run("local t = {child = {}} t.child.parent = t return t") }
    XCTAssertEqual(e?.kind, .runtime)
    XCTAssertTrue(
      e?.message.contains("value.child.parent: table contains itself") ?? false,
      "\(String(describing: e))")
    let e2 = luaError { try lua.run("local t = {} t[1] = t return t") }
    XCTAssertTrue(e2?.message.contains("value[1]: table contains itself") ?? false)
  }

  func testFunctionsAreRejectedWithAPath() throws {
    let lua = try LuaState()
    let e = luaError { try lua.run("return {a = {1, {f = print}}}") }
    XCTAssertTrue(
      e?.message.contains("value.a[2].f: cannot convert a function value") ?? false,
      "\(String(describing: e))")
    let e2 = luaError { try lua.run("return coroutine.create(print)") }
    XCTAssertTrue(e2?.message.contains("value: cannot convert a thread value") ?? false)
  }

  func testTablesThatAreNotJSON() throws {
    let lua = try LuaState()
    let mixed = luaError { try lua.run("return {1, 2, name = 'x'}") }
    XCTAssertTrue(
      mixed?.message.contains("value: table mixes string keys with integer keys") ?? false,
      "\(mixed!)")
    let holes = luaError { try lua.run("return {[1] = 1, [3] = 3}") }
    XCTAssertTrue(holes?.message.contains("value: array has holes") ?? false, "\(holes!)")
    let zero = luaError { try lua.run("return {[0] = 'zero'}") }
    XCTAssertTrue(
      zero?.message.contains("value: array index 0 is out of range") ?? false, "\(zero!)")
    let sparse = luaError { try lua.run("return {list = {[5] = 'five'}}") }
    XCTAssertTrue(sparse?.message.contains("value.list: array has holes") ?? false, "\(sparse!)")
    let bool = luaError { try lua.run("return {[true] = 1}") }
    XCTAssertTrue(bool?.message.contains("value: a boolean key cannot be a JSON key") ?? false)
    let float = luaError { try lua.run("return {a = 1, [1.5] = 2}") }
    XCTAssertTrue(float?.message.contains("value: a number key cannot be a JSON key") ?? false)
    let mixed2 = luaError { try lua.run("return {a = 1, [7] = 2}") }
    XCTAssertTrue(
      mixed2?.message.contains("value: table mixes string keys with integer keys") ?? false,
      "\(mixed2!)")
    let nan = luaError { try lua.run("return {x = 0/0}") }
    XCTAssertTrue(nan?.message.contains("value.x:") ?? false, "\(nan!)")
    XCTAssertTrue(nan?.message.contains("not a JSON number") ?? false)
    let inf = luaError { try lua.run("return math.huge") }
    XCTAssertTrue(inf?.message.contains("not a JSON number") ?? false)
  }

  func testDeepNesting() throws {
    let lua = try LuaState()
    // Deep but allowed: each level needs Lua stack space of its own.
    let deep = try lua.run("local t = {} for i = 1, 190 do t = {t} end return t")
    var depth = 0
    var v = deep[0]
    while case .array(let items) = v, let first = items.first {
      depth += 1
      v = first
    }
    XCTAssertEqual(depth, 190)
    let tooDeep = luaError { try lua.run("local t = {} for i = 1, 300 do t = {t} end return t") }
    XCTAssertTrue(tooDeep?.message.contains("nested too deeply") ?? false, "\(tooDeep!)")
    // Pushing deep data (as the JSON decoder may produce) grows the stack as it goes.
    var doc = JSONValue.array([])
    for _ in 0..<500 { doc = .array([doc]) }
    lua.push(doc)
    lua.setGlobal("deep")
    XCTAssertEqual(
      try lua.run("local n, t = 0, deep while t[1] do n, t = n + 1, t[1] end return n"),
      [.int(500)])
  }

  func testGlobalsFieldsAndRegistry() throws {
    let lua = try LuaState()
    let base = lua.top
    lua.newTable()
    lua.pushString("v")
    lua.setField("k", in: -2)
    lua.pushInteger(7)
    lua.rawSet(index: -2, at: 1)
    lua.setGlobal("t")
    XCTAssertEqual(try lua.run("return t.k, t[1]"), [.string("v"), .int(7)])
    lua.pushString("secret")
    lua.setRegistry("test.key")
    lua.getRegistry("test.key")
    XCTAssertEqual(lua.string(at: -1), "secret")
    lua.pop()
    XCTAssertEqual(lua.top, base, "the helpers leave the stack balanced")
  }
}
