import LuaBridge
import MosaicSupport
import XCTest

/// Errors both ways: Lua errors reaching Swift, and Swift host functions raising into Lua
/// (at the caller's position, catchable, from coroutines too).
final class ErrorTests: XCTestCase {
  /// A state with host functions `int(x)`, `fail(msg)`, `raw(msg)`, `add(a, b)`, `doc()`,
  /// `echo(v)` and `opts(t)` as globals.
  func makeState() throws -> LuaState {
    let lua = try LuaState()
    lua.pushFunction(name: "int") { call throws(LuaCallError) in
      call.push(try call.integer(1))
      return 1
    }
    lua.setGlobal("int")
    lua.pushFunction(name: "fail") { call throws(LuaCallError) in
      throw .runtime(try call.string(1))
    }
    lua.setGlobal("fail")
    lua.pushFunction(name: "raw") { call throws(LuaCallError) in
      throw .raw(try call.string(1))
    }
    lua.setGlobal("raw")
    lua.pushFunction(name: "add") { call throws(LuaCallError) in
      call.push(try call.number(1) + call.number(2))
      return 1
    }
    lua.setGlobal("add")
    lua.pushFunction(name: "doc") { call in
      call.push(.object([("list", .array([.int(1), .null])), ("name", .string("x"))]))
      return 1
    }
    lua.setGlobal("doc")
    lua.pushFunction(name: "echo") { call throws(LuaCallError) in
      call.push(try call.json(1))
      return 1
    }
    lua.setGlobal("echo")
    lua.pushFunction(name: "opts") { call throws(LuaCallError) in
      let o = try call.options(1, known: ["timeout", "stdin"])
      call.push(o.keys.sorted().joined(separator: ","))
      return 1
    }
    lua.setGlobal("opts")
    return lua
  }

  // MARK: Lua errors in Swift

  func testRuntimeErrorWithTraceback() throws {
    let lua = try LuaState()
    let base = lua.top
    let e = luaError {
      try lua.run(
        """
        local function inner() error("boom") end
        local function outer() inner() end
        outer()
        """, name: "@job.lua")
    }
    XCTAssertEqual(e?.kind, .runtime)
    let message = e?.message ?? ""
    XCTAssertTrue(message.hasPrefix("job.lua:1: boom"), message)
    XCTAssertTrue(message.contains("stack traceback:"), message)
    XCTAssertTrue(message.contains("job.lua:2: in"), message)
    XCTAssertTrue(message.contains("job.lua:3: in main chunk"), message)
    XCTAssertEqual(lua.top, base, "the stack is back where it was")
    XCTAssertEqual(try lua.run("return 1"), [.int(1)], "the state still works")
  }

  func testErrorWithoutTraceback() throws {
    let lua = try LuaState()
    try lua.load("error('plain')", name: "=p")
    let e = luaError { try lua.call(traceback: false) }
    XCTAssertEqual(e?.message, "p:1: plain")
  }

  func testNonStringErrorObjects() throws {
    let lua = try LuaState()
    let t = luaError { try lua.run("error({code = 1})") }
    XCTAssertTrue(t?.message.hasPrefix("(error object is a table value)") ?? false, "\(t!)")
    let s = luaError {
      try lua.run("error(setmetatable({}, {__tostring = function() return 'custom' end}))")
    }
    XCTAssertEqual(s?.message, "custom")
  }

  func testSyntaxError() throws {
    let lua = try LuaState()
    let base = lua.top
    let e = luaError { try lua.load("x = = 1", name: "=input") }
    XCTAssertEqual(e?.kind, .syntax)
    XCTAssertEqual(e?.message, "input:1: unexpected symbol near '='")
    XCTAssertEqual(e?.isIncompleteInput, false)
    XCTAssertEqual(lua.top, base)
    let r = luaError { try lua.run("local x = ", name: "=r") }
    XCTAssertEqual(r?.kind, .syntax)
  }

  func testIncompleteInput() throws {
    let lua = try LuaState()
    for code in [
      "function f(", "if x then", "local t = {", "return 1 +", "x = [[open", "s = 'open",
    ] {
      let e = luaError { try lua.load(code, name: "=stdin") }
      XCTAssertEqual(e?.kind, .syntax, code)
      XCTAssertEqual(e?.isIncompleteInput, true, "\(code): \(String(describing: e))")
    }
    // A short string cut by a newline is wrong where it is, not unfinished.
    XCTAssertEqual(
      luaError { try lua.load("s = 'open\nmore", name: "=s") }?.isIncompleteInput, false)
    XCTAssertEqual(luaError { try lua.load("end", name: "=s") }?.isIncompleteInput, false)
    XCTAssertNil(luaError { try lua.load("function f() end", name: "=s") })
    lua.pop()
  }

  func testBinaryChunksAreRefused() throws {
    let lua = try LuaState()
    let e = luaError { try lua.load([0x1B, 0x4C, 0x75, 0x61, 0x54, 0x00], name: "=bin") }
    XCTAssertEqual(e?.kind, .syntax)
    XCTAssertTrue(e?.message.contains("binary") ?? false, "\(e!)")
  }

  // MARK: Host functions raising into Lua

  func testArgumentErrorAtTheCallersPosition() throws {
    let lua = try makeState()
    let e = luaError {
      try lua.run(
        """
        local x = 1
        local y = int("seven")
        """, name: "@tool.lua")
    }
    XCTAssertEqual(e?.kind, .runtime)
    XCTAssertTrue(
      e?.message.hasPrefix("tool.lua:2: bad argument #1 to 'int' (integer expected, got string)")
        ?? false, "\(String(describing: e))")
    XCTAssertTrue(e?.message.contains("stack traceback:") ?? false)
    let noValue = luaError { try lua.run("int()", name: "@n.lua") }
    XCTAssertTrue(
      noValue?.message.hasPrefix(
        "n.lua:1: bad argument #1 to 'int' (integer expected, got no value)")
        ?? false, "\(noValue!)")
    let fraction = luaError { try lua.run("int(1.5)", name: "@f.lua") }
    XCTAssertTrue(
      fraction?.message.hasPrefix(
        "f.lua:1: bad argument #1 to 'int' (number has no integer representation)") ?? false)
  }

  func testArgumentErrorIsCatchableWithPcall() throws {
    let lua = try makeState()
    let r = try lua.run(
      """
      local ok, err = pcall(function()
        return int({})
      end)
      local ok2, err2 = pcall(int, "x")
      return ok, err, ok2, err2, int(12)
      """, name: "@p.lua")
    XCTAssertEqual(
      r,
      [
        .bool(false), .string("p.lua:2: bad argument #1 to 'int' (integer expected, got table)"),
        .bool(false), .string("bad argument #1 to 'int' (integer expected, got string)"),
        .int(12),
      ])
  }

  func testArgumentErrorNamesTheFunctionAsCalled() throws {
    let lua = try makeState()
    let r = try lua.run(
      """
      local api = {toint = int}
      local _, a = pcall(function() return api.toint("x") end)
      local _, b = pcall(function() local conv = int return conv(nil) end)
      return a, b
      """, name: "@n.lua")
    XCTAssertEqual(
      r,
      [
        .string("n.lua:2: bad argument #1 to 'toint' (integer expected, got string)"),
        .string("n.lua:3: bad argument #1 to 'conv' (integer expected, got nil)"),
      ])
  }

  func testRuntimeAndRawErrors() throws {
    let lua = try makeState()
    let r = try lua.run(
      """
      local _, a = pcall(function() fail("not found") end)
      local _, b = pcall(function() raw("as is") end)
      return a, b
      """, name: "@e.lua")
    XCTAssertEqual(r, [.string("e.lua:1: not found"), .string("as is")])
    let e = luaError { try lua.run("fail('stop')", name: "@top.lua") }
    XCTAssertTrue(e?.message.hasPrefix("top.lua:1: stop\nstack traceback:") ?? false, "\(e!)")
  }

  func testUnknownOptionSuggestsTheClosest() throws {
    let lua = try makeState()
    XCTAssertEqual(
      try lua.run("return opts({timeout = 1}), opts(nil)"), [.string("timeout"), .string("")])
    let e = luaError { try lua.run("opts({timeuot = 1})", name: "@o.lua") }
    XCTAssertTrue(
      e?.message.hasPrefix(
        "o.lua:1: bad argument #1 to 'opts' (unknown option 'timeuot' (did you mean 'timeout'?))")
        ?? false, "\(e!)")
    let f = luaError { try lua.run("echo({f = print})", name: "@j.lua") }
    XCTAssertTrue(
      f?.message.hasPrefix(
        "j.lua:1: bad argument #1 to 'echo' (value.f: cannot convert a function value)") ?? false,
      "\(f!)")
  }

  func testHostFunctionsInsideCoroutines() throws {
    let lua = try makeState()
    let r = try lua.run(
      """
      local co = coroutine.wrap(function(a)
        local sum = add(a, 2)
        local d = doc()
        local e = echo({k = {1, 2}})
        coroutine.yield(sum)
        return d.name, #d.list, type(d.list[2]), e.k[2]
      end)
      local first = co(1)
      return first, co()
      """, name: "@co.lua")
    XCTAssertEqual(r, [.double(3), .string("x"), .int(2), .string("userdata"), .int(2)])
    // An error raised by a host function inside a coroutine points at the coroutine's line.
    let r2 = try lua.run(
      """
      local co = coroutine.create(function()
        coroutine.yield(1)
        int("x")
      end)
      local a, b = coroutine.resume(co)
      local c, d = coroutine.resume(co)
      return a, b, c, d, coroutine.status(co)
      """, name: "@co2.lua")
    XCTAssertEqual(
      r2,
      [
        .bool(true), .int(1), .bool(false),
        .string("co2.lua:3: bad argument #1 to 'int' (integer expected, got string)"),
        .string("dead"),
      ])
    // Deep data built and read inside a coroutine.
    let r3 = try lua.run(
      """
      return coroutine.wrap(function()
        local t = {} for i = 1, 150 do t = {t} end
        local back = echo(t)
        local n = 0 while back[1] do n, back = n + 1, back[1] end
        return n
      end)()
      """)
    XCTAssertEqual(r3, [.int(150)])
  }

  func testManyHostCallsKeepTheStackBalanced() throws {
    let lua = try makeState()
    let base = lua.top
    XCTAssertEqual(
      try lua.run(
        "local s = 0 for i = 1, 10000 do s = s + add(i, 0) pcall(int, 'x') end return s"),
      [.double(50_005_000)])
    XCTAssertEqual(lua.top, base)
  }
}
