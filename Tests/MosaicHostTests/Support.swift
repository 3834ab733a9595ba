import Foundation
import LuaBridge
import MosaicSupport
import XCTest

@testable import MosaicHost

/// Runs Lua inside this process through the host (`LuaRuntime`: the shipped modules, the host
/// primitives), with config and run directories of its own, so a module's functions are
/// tested directly, in milliseconds, without the built binary.
class LuaHostTestCase: XCTestCase {
  var home = ""
  var runtime: LuaRuntime!

  override func setUpWithError() throws {
    home = NSTemporaryDirectory() + "mt-luahost-\(UInt32.random(in: 0..<UInt32.max))"
    try FileManager.default.createDirectory(
      atPath: home + "/run", withIntermediateDirectories: true)
    runtime = try LuaRuntime(
      memoryLimit: 256 << 20,
      paths: MosaicPaths(
        config: home + "/config", run: home + "/run", state: home + "/state",
        roster: home + "/config/fleet/roster.lua"))
  }

  override func tearDownWithError() throws {
    runtime = nil
    try? FileManager.default.removeItem(atPath: home)
  }

  /// Runs `chunk` with `check(cond, what)` and `eq(got, want, what)` in scope (each failure
  /// is collected, not raised) and reports every failure at the caller's line. The chunk's
  /// own errors fail the test with their message.
  func lua(_ chunk: String, file: StaticString = #filePath, line: UInt = #line) {
    let prelude = """
      local failures = {}
      local function show(v)
        if type(v) == "string" then return string.format("%q", v) end
        return tostring(v)
      end
      local function check(cond, what)
        if not cond then failures[#failures + 1] = tostring(what) end
      end
      local function eq(got, want, what)
        if got ~= want then
          failures[#failures + 1] = ("%s: got %s, want %s"):format(what or "?", show(got), show(want))
        end
      end
      local ok, err = xpcall(function()

      """
    let postlude = """

      end, debug.traceback)
      if not ok then failures[#failures + 1] = "error: " .. tostring(err) end
      return table.concat(failures, "\\n")
      """
    do {
      try runtime.lua.load(prelude + chunk + postlude, name: "=test")
      try runtime.lua.call(nargs: 0, nresults: 1)
      let text = runtime.lua.string(at: -1) ?? "no result"
      runtime.lua.pop(1)
      for failure in text.split(separator: "\n", omittingEmptySubsequences: true) {
        XCTFail(String(failure), file: file, line: line)
      }
    } catch {
      XCTFail("\(error)", file: file, line: line)
    }
  }
}
