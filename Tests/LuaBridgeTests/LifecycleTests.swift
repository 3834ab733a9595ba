import Foundation
import LuaBridge
import MosaicSupport
import XCTest

/// `__gc` metamethods: during collections, at `lua_close` (the state's deinit), and when
/// they fail.
final class LifecycleTests: XCTestCase {
  var dir = ""

  override func setUp() { dir = makeTempDir("luabridge-gc") }
  override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

  func read(_ path: String) -> String? {
    try? String(contentsOfFile: path, encoding: .utf8)
  }

  func testGCDuringCollectgarbage() throws {
    let lua = try LuaState()
    let r = try lua.run(
      """
      local collected = {}
      do
        setmetatable({}, {__gc = function() collected[#collected + 1] = "a" end})
        setmetatable({}, {__gc = function() collected[#collected + 1] = "b" end})
      end
      collectgarbage()
      collectgarbage()
      table.sort(collected)
      return collected
      """)
    XCTAssertEqual(r, [.array([.string("a"), .string("b")])])
  }

  func testGCAtClose() throws {
    let marker = dir + "/closed"
    do {
      let lua = try LuaState()
      try lua.run(
        """
        keep = setmetatable({}, {__gc = function()
          local f = assert(io.open(\(quoted(marker)), "w"))
          f:write("closed")
          f:close()
        end})
        """)
      XCTAssertNil(read(marker), "nothing collected while the state lives")
    }
    XCTAssertEqual(read(marker), "closed", "__gc ran when the state closed")
  }

  func testFailingGCDoesNotCrash() throws {
    let marker = dir + "/after"
    do {
      let lua = try LuaState()
      let r = try lua.run(
        """
        do setmetatable({}, {__gc = function() error("gc failure") end}) end
        collectgarbage()
        collectgarbage()
        return "alive"
        """)
      XCTAssertEqual(r, [.string("alive")])
      // Failing finalizers at close: the first errors, the second still runs.
      try lua.run(
        """
        first = setmetatable({}, {__gc = function()
          local f = assert(io.open(\(quoted(marker)), "w"))
          f:write("ran")
          f:close()
        end})
        second = setmetatable({}, {__gc = function() error("gc failure at close") end})
        third = setmetatable({}, {__gc = function() error({}) end})
        """)
    }
    XCTAssertEqual(read(marker), "ran")
  }

  func testHostFunctionCalledFromGCAtClose() throws {
    let marker = dir + "/host"
    var calls = 0
    do {
      let lua = try LuaState()
      lua.pushFunction(name: "ping") { call in
        calls += 1
        return 0
      }
      lua.setGlobal("ping")
      try lua.run(
        """
        keep = setmetatable({}, {__gc = function()
          local ok, err = pcall(ping)
          local f = assert(io.open(\(quoted(marker)), "w"))
          f:write(tostring(ok), " ", tostring(err))
          f:close()
        end})
        ping()
        """)
    }
    XCTAssertEqual(calls, 1, "only the call made while the state was open reached Swift")
    let text = read(marker) ?? ""
    XCTAssertTrue(text.hasPrefix("false "), text)
    XCTAssertTrue(text.contains("state closes"), "the error says why: \(text)")
  }

  func testCollectingDuringAHostCall() throws {
    let lua = try LuaState()
    lua.pushFunction(name: "make") { call in
      // Enough allocation to run collection steps (and finalizers) inside this call.
      call.push(.object([]))
      for i in 0..<2000 {
        call.push(.array([.int(Int64(i)), .string(String(repeating: "x", count: 64))]))
        call.setField("k\(i % 10)", in: -2)
      }
      call.push(.string("done"))
      return 1
    }
    lua.setGlobal("make")
    let r = try lua.run(
      """
      local n = 0
      for i = 1, 200 do setmetatable({}, {__gc = function() n = n + 1 end}) end
      local last
      for i = 1, 20 do last = make() end
      collectgarbage()
      return last, n
      """)
    XCTAssertEqual(r, [.string("done"), .int(200)])
  }

  private func quoted(_ s: String) -> String {
    "\""
      + s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
      + "\""
  }
}
