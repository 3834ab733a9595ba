import Foundation
import XCTest

/// No argument a script can pass crashes the binary (SPEC 3: no Swift trap or backtrace
/// for any input). Every raw host primitive is called with hostile values — huge and
/// negative numbers, NaN, infinities, integers past Int32, empty and odd strings, tables,
/// functions — under pcall; each call must either work or raise a Lua error.
final class HostArgumentTests: BinaryTestCase {
  /// Primitives that block (a responder, the stub, watch), take over the terminal
  /// (attach), sleep or start processes for as long as a number says: called with one
  /// argument shape only, which must be refused quickly.
  static let skipped: Set<String> = [
    "heartbeat_respond", "agent_stub", "agent_watch", "agent_attach", "sleep", "exec",
    "lock_acquire",
  ]

  func testHostileArgumentsRaiseLuaErrorsNotCrashes() throws {
    let skipped = Self.skipped.map { "[\"\($0)\"] = true" }.joined(separator: ", ")
    let script = """
      local host = require "mosaic._host"
      local skipped = { \(skipped) }
      local values = { n = 14, nil, -1, 0, 1e12, 2^40, -2^63, math.maxinteger, 0/0, 1/0,
        -1/0, "", "../x", {}, function() end }
      local calls, errors = 0, 0
      local names = {}
      for name, fn in pairs(host) do
        if type(fn) == "function" and not skipped[name] then names[#names + 1] = name end
      end
      table.sort(names)
      for _, name in ipairs(names) do
        for i = 1, values.n do
          for j = 1, values.n do
            calls = calls + 1
            local ok = pcall(host[name], values[i], values[j], values[i])
            if not ok then errors = errors + 1 end
          end
        end
      end
      -- The skipped ones, with arguments they must refuse at once.
      for _, name in ipairs({ "heartbeat_respond", "agent_stub" }) do
        for _, v in ipairs({ -1, 0, 1e12, 0/0, 1/0 }) do
          calls = calls + 1
          if not pcall(host[name], "x", v, v) then errors = errors + 1 end
        end
      end
      print(calls, errors)
      """
    // Relative paths ("", "../x") land in this scratch directory, never outside it.
    let cwd = dir + "/work/inner"
    try FileManager.default.createDirectory(atPath: cwd, withIntermediateDirectories: true)
    let r = try run(["-e", script], cwd: cwd, timeout: 120)
    XCTAssertEqual(r.status, 0, r.stderr)
    XCTAssertFalse(r.stderr.contains("Fatal error"), r.stderr)
    XCTAssertFalse(r.stderr.contains("Program crashed"), r.stderr)
    let counts = r.stdout.split(whereSeparator: { $0 == "\t" || $0 == "\n" }).compactMap {
      Int($0)
    }
    XCTAssertEqual(counts.count, 2, r.stdout)
    XCTAssertGreaterThan(counts.first ?? 0, 5000, "too few calls: \(r.stdout)")
    XCTAssertGreaterThan(counts.last ?? 0, 1000, "hostile values should mostly be refused")
  }
}
