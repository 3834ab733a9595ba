import Dispatch
import Foundation
import LuaBridge
import MosaicSupport
import XCTest

/// Stopping running code: an interrupt from another thread, a time limit, a memory cap.
/// Each must stop a plain loop and a loop that swallows errors with pcall, and leave the
/// state usable once the abort is cleared.
final class LimitTests: XCTestCase {
  static let spin = "while true do end"
  static let pcallSpin = "while true do pcall(function() end) end"

  /// Runs `code` while another thread calls `requestInterrupt()` after `delay` seconds.
  func runInterrupted(_ lua: LuaState, _ code: String, delay: Double = 0.2) -> (LuaError?, Double) {
    let handle = StateHandle(lua)
    let start = Clock.monotonic()
    DispatchQueue.global().asyncAfter(deadline: .now() + delay) {
      handle.lua.requestInterrupt()
    }
    let e = luaError { try lua.run(code, name: "=loop") }
    return (e, Clock.monotonic() - start)
  }

  // MARK: Interrupt

  func testInterruptFromAnotherThreadStopsALoop() throws {
    let lua = try LuaState()
    for code in [Self.spin, Self.pcallSpin] {
      let (e, elapsed) = runInterrupted(lua, code)
      XCTAssertEqual(e?.kind, .aborted, code)
      XCTAssertTrue(
        e?.message.hasPrefix("interrupted") ?? false, "\(code): \(String(describing: e))")
      XCTAssertLessThan(elapsed, 10, code)
      XCTAssertTrue(lua.abortPending)
      lua.clearAbort()
      XCTAssertFalse(lua.abortPending)
      XCTAssertEqual(try lua.run("return 6 * 7"), [.int(42)], "usable after clearAbort")
    }
  }

  func testInterruptFromAThreadObject() throws {
    let lua = try LuaState()
    let handle = StateHandle(lua)
    let thread = Thread {
      usleep(200_000)
      handle.lua.requestInterrupt()
    }
    thread.start()
    let e = luaError {
      try lua.run("local n = 0 while true do n = n + 1 local ok = pcall(error, n) end")
    }
    XCTAssertEqual(e?.kind, .aborted)
    lua.clearAbort()
    XCTAssertEqual(try lua.run("return 'again'"), [.string("again")])
  }

  func testInterruptReachesCoroutines() throws {
    let lua = try LuaState()
    let (e, _) = runInterrupted(
      lua,
      """
      local co = coroutine.wrap(function() while true do pcall(coroutine.yield) end end)
      while true do co() end
      """)
    XCTAssertEqual(e?.kind, .aborted, "\(String(describing: e))")
    lua.clearAbort()
    XCTAssertEqual(try lua.run("return 1"), [.int(1)])
  }

  func testAnInterruptRequestedBeforeRunningStillStops() throws {
    let lua = try LuaState()
    lua.requestInterrupt()
    XCTAssertTrue(lua.abortPending)
    XCTAssertEqual(luaError { try lua.run(Self.spin) }?.kind, .aborted)
    lua.clearAbort()
    XCTAssertEqual(
      try lua.run("local s = 0 for i = 1, 1e5 do s = s + i end return s"), [.int(5_000_050_000)])
  }

  // MARK: Time limit

  func testTimeLimitStopsLoops() throws {
    let lua = try LuaState()
    for code in [Self.spin, Self.pcallSpin] {
      let start = Clock.monotonic()
      lua.setTimeLimit(0.3)
      let e = luaError { try lua.run(code) }
      let elapsed = Clock.monotonic() - start
      XCTAssertEqual(e?.kind, .aborted, code)
      XCTAssertTrue(
        e?.message.contains("time limit exceeded") ?? false, "\(code): \(String(describing: e))")
      XCTAssertGreaterThanOrEqual(elapsed, 0.29, code)
      XCTAssertLessThan(elapsed, 5, code)
      lua.setTimeLimit(0)
      lua.clearAbort()
      XCTAssertEqual(try lua.run("return 'ok'"), [.string("ok")])
    }
  }

  func testTimeLimitLeavesQuickCodeAlone() throws {
    let lua = try LuaState()
    lua.setTimeLimit(5)
    XCTAssertEqual(
      try lua.run("local s = 0 for i = 1, 1e6 do s = s + 1 end return s"), [.int(1_000_000)])
    XCTAssertFalse(lua.abortPending)
    lua.setTimeLimit(0)
  }

  func testTimeLimitCannotBeCaughtByPcallInLua() throws {
    let lua = try LuaState()
    lua.setTimeLimit(0.2)
    let e = luaError {
      try lua.run(
        """
        local caught = 0
        while true do
          local ok, err = pcall(function() while true do end end)
          if not ok then caught = caught + 1 end
        end
        """)
    }
    XCTAssertEqual(e?.kind, .aborted)
    XCTAssertTrue(e?.message.contains("time limit exceeded") ?? false)
    lua.setTimeLimit(0)
    lua.clearAbort()
  }

  // MARK: Memory

  static let cap = 20 << 20

  func testMemoryCapTurnsAHugeStringIntoAnError() throws {
    let lua = try LuaState(memoryLimit: Self.cap)
    XCTAssertEqual(lua.memoryLimit, Self.cap)
    let e = luaError { try lua.run("local s = string.rep('x', 100e6) return #s") }
    let message = e?.message ?? ""
    XCTAssertTrue(
      message.contains("memory limit exceeded") || message.contains("not enough memory"), message)
    XCTAssertLessThanOrEqual(lua.memoryPeak, Self.cap)
    lua.clearAbort()
    XCTAssertEqual(try lua.run("return #string.rep('y', 1e6)"), [.int(1_000_000)])
  }

  func testMemoryCapStopsAGrowingTable() throws {
    let lua = try LuaState(memoryLimit: Self.cap)
    let e = luaError { try lua.run("local t = {} while true do t[#t + 1] = {} end") }
    XCTAssertNotNil(e)
    XCTAssertTrue(e?.message.contains("memory") ?? false, "\(String(describing: e))")
    XCTAssertLessThanOrEqual(lua.memoryPeak, Self.cap + (1 << 20), "peak stays near the cap")
    XCTAssertGreaterThan(lua.memoryPeak, Self.cap / 2, "the loop did fill memory")
    lua.clearAbort()
    try lua.run("collectgarbage()")
    XCTAssertLessThan(lua.memoryUsed, Self.cap / 2, "the table was freed")
    XCTAssertEqual(
      try lua.run("local t = {} for i = 1, 1000 do t[i] = i end return #t"), [.int(1000)])
  }

  func testMemoryCapEscalatesPastPcall() throws {
    let lua = try LuaState(memoryLimit: Self.cap)
    let start = Clock.monotonic()
    let e = luaError {
      try lua.run(
        "while true do pcall(function() local t = {} for i = 1, 1e7 do t[i] = i end end) end")
    }
    XCTAssertEqual(e?.kind, .aborted, "\(String(describing: e))")
    XCTAssertTrue(e?.message.contains("memory limit exceeded") ?? false, "\(String(describing: e))")
    XCTAssertLessThan(Clock.monotonic() - start, 10)
    XCTAssertLessThanOrEqual(lua.memoryPeak, Self.cap + (1 << 20))
    lua.clearAbort()
    XCTAssertEqual(try lua.run("return 'usable'"), [.string("usable")])
  }

  func testMemoryCapWhenLiveDataFillsIt() throws {
    // The data stays reachable, so no collection can make room for the error itself.
    let lua = try LuaState(memoryLimit: Self.cap)
    let e = luaError {
      try lua.run("local t = {} while true do pcall(function() t[#t + 1] = {} end) end")
    }
    XCTAssertEqual(e?.kind, .aborted, "\(String(describing: e))")
    XCTAssertTrue(e?.message.contains("memory limit exceeded (20 MiB)") ?? false)
    lua.clearAbort()
    XCTAssertEqual(try lua.run("return 'after'"), [.string("after")])
  }

  func testMemoryCapAppliesToLuaCalledFromAHostFunction() throws {
    let lua = try LuaState(memoryLimit: Self.cap)
    lua.pushFunction(name: "check") { call throws(LuaCallError) in
      call.push(try call.callPredicate(1))
      return 1
    }
    lua.setGlobal("check")
    XCTAssertEqual(try lua.run("return check(function() return 1 end)"), [.bool(true)])
    let e = luaError { try lua.run("return check(function() return #string.rep('x', 100e6) end)") }
    XCTAssertTrue(e?.message.contains("memory limit exceeded") ?? false, "\(String(describing: e))")
    XCTAssertLessThanOrEqual(lua.memoryPeak, Self.cap + (1 << 20))
  }

  func testHostFunctionThatWaitsStopsWithTheAbortMessage() throws {
    let lua = try LuaState()
    lua.pushFunction(name: "wait") { call throws(LuaCallError) in
      while call.abortMessage == nil { usleep(10_000) }
      throw .raw(call.abortMessage ?? "")
    }
    lua.setGlobal("wait")
    lua.setTimeLimit(0.2)
    let e = luaError { try lua.run("local ok = pcall(wait) return 'not reached'") }
    XCTAssertEqual(e?.kind, .aborted)
    XCTAssertTrue(e?.message.hasPrefix("time limit exceeded") ?? false, "\(String(describing: e))")
    lua.setTimeLimit(0)
    lua.clearAbort()
    let (i, _) = runInterrupted(lua, "wait()", delay: 0.1)
    XCTAssertTrue(i?.message.hasPrefix("interrupted") ?? false, "\(String(describing: i))")
    lua.clearAbort()
  }

  func testMemoryCapWithStringsInAPcallLoop() throws {
    let lua = try LuaState(memoryLimit: Self.cap)
    let e = luaError {
      try lua.run(
        """
        local parts = {}
        while true do
          pcall(function() parts[#parts + 1] = string.rep("z", 1e6) .. #parts end)
        end
        """)
    }
    XCTAssertEqual(e?.kind, .aborted, "\(String(describing: e))")
    lua.clearAbort()
    try lua.run("collectgarbage()")
    XCTAssertEqual(try lua.run("return 1 + 1"), [.int(2)])
  }

  func testATinyCapFailsCleanly() throws {
    // Even a cap smaller than anything Lua can allocate: no panic, just errors.
    let lua = try LuaState(memoryLimit: 1)
    let e = luaError { try lua.run("return {1, 2, 3}") }
    XCTAssertEqual(e?.kind, .memory, "\(String(describing: e))")
    lua.memoryLimit = 0
    lua.clearAbort()
    XCTAssertEqual(try lua.run("return #{1, 2, 3}"), [.int(3)])
  }

  func testNoCapMeansNoLimit() throws {
    let lua = try LuaState()
    XCTAssertEqual(lua.memoryLimit, 0)
    XCTAssertEqual(try lua.run("return #string.rep('x', 30e6)"), [.int(30_000_000)])
    XCTAssertGreaterThan(lua.memoryPeak, 30_000_000)
  }

  func testRaisingTheCapAtRunTime() throws {
    let lua = try LuaState(memoryLimit: Self.cap)
    XCTAssertNotNil(luaError { try lua.run("return #string.rep('x', 30e6)") })
    lua.clearAbort()
    lua.memoryLimit = 64 << 20
    XCTAssertEqual(try lua.run("return #string.rep('x', 30e6)"), [.int(30_000_000)])
  }
}
