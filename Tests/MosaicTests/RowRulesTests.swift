import Foundation
import XCTest

/// `fleet check` (mosaic.check) and `fleet export` (mosaic.prometheus) judge rows with the
/// vocabulary FleetCore defines (mosaic.row), not with rules of their own: synthetic rows
/// through the shipped modules in the binary, no tmux, no user manager.
final class RowRulesTests: BinaryTestCase {
  func lua(_ chunk: String, file: StaticString = #filePath, line: UInt = #line) throws -> String {
    let r = try eval(chunk, file: file, line: line)
    XCTAssertEqual(r.status, 0, r.stderr, file: file, line: line)
    return r.stdout
  }

  func testLuaGetsFleetCoresDefinitions() throws {
    let out = try lua(
      """
      local row = require "mosaic.row"
      local prometheus = require "mosaic.prometheus"
      local check = require "mosaic.check"
      print(table.concat(row.FLAGS, " "))
      print(table.concat(row.WARNINGS, " "))
      print(table.concat(prometheus.WARNING_CODES, " "))
      local codes = {}
      for _, c in ipairs(row.WARNINGS) do codes[#codes + 1] = c .. "=" .. tostring(check.CODES[c]) end
      print(table.concat(codes, " "))
      print(row.unit_active{systemd = {active = "reloading"}}, row.unit_active{systemd = {active = "failed"}},
        row.unit_active{systemd = {}}, row.boot_safe{systemd = {enabled = "static"}},
        row.boot_safe{systemd = {enabled = "enabled-runtime"}}, row.boot_safe{})
      """)
    XCTAssertEqual(
      out.split(separator: "\n").map(String.init),
      [
        "drift boot-enable dead absent stopped waiting stale skew leased unrostered",
        "tmux-server-absent tmux-unreadable user-manager-unreachable linger-disabled tmux-too-old"
          + " run-dir-unsafe remote-agents host-unreachable host-name-mismatch",
        "tmux-server-absent tmux-unreadable user-manager-unreachable linger-disabled tmux-too-old"
          + " run-dir-unsafe remote-agents host-unreachable host-name-mismatch",
        "tmux-server-absent=nil tmux-unreadable=UNKNOWN user-manager-unreachable=UNKNOWN"
          + " linger-disabled=WARNING tmux-too-old=WARNING run-dir-unsafe=UNKNOWN remote-agents=nil"
          + " host-unreachable=CRITICAL host-name-mismatch=WARNING",
        "true\tfalse\tnil\ttrue\tfalse\tnil",
      ])
  }

  /// One row per flag: each becomes its problem, counted once in the perfdata.
  func testCheckJudgesByTheRowsFlags() throws {
    let out = try lua(
      """
      local check = require "mosaic.check"
      local function row(name, flags, extra)
        local r = { name = name, host = "vm1", tenant_id = "acme", runtime = "stub", flags = flags,
          pane = { state = "alive" }, systemd = { unit = "u-" .. name, active = "active", enabled = "enabled" },
          heartbeat = { health = "healthy", interval_s = 15 }, activity = { state = "idle" } }
        for k, v in pairs(extra or {}) do r[k] = v end
        return r
      end
      local snapshot = { host = "vm1", socket = "s", generated_at = "2026-11-24T15:00:00Z", warnings = {
        { code = "linger-disabled", message = "off" }, { code = "run-dir-unsafe", message = "unsafe" } },
        agents = {
          row("ok", {}),
          row("dead", { "dead" }, { pane = { state = "dead" } }),
          row("absent", { "absent" }, { pane = { state = "absent" } }),
          row("stale", { "stale" }, { heartbeat = { health = "stale", age_s = 100, interval_s = 15 } }),
          row("drift", { "drift" }, { drift = true }),
          row("boot", { "boot-enable" }, { systemd = { unit = "u", active = "active", enabled = "disabled" } }),
          row("stopped", { "stopped" }),
          row("waiting", { "waiting" }, { activity = { state = "waiting", since = "2026-11-24T14:00:00Z" } }),
          row("leased", { "leased" }),
          row("inactive", {}, { systemd = { unit = "u", active = "failed", sub = "failed" } }),
          row("reloading", {}, { systemd = { unit = "u", active = "reloading" } }),
          row("stray", { "unrostered" }),
        } }
      local v = check.evaluate(snapshot)
      print(v.state, v.exit)
      for _, p in ipairs(v.problems) do print(p.severity, p.agent or "-", p.code) end
      print(check.perfdata_text(v))
      """)
    XCTAssertEqual(
      out.split(separator: "\n").map(String.init),
      [
        "CRITICAL\t2",
        "CRITICAL\tdead\tpane-dead",
        "CRITICAL\tabsent\tpane-absent",
        "CRITICAL\tstale\theartbeat-stale",
        "CRITICAL\tinactive\tunit-inactive",
        "UNKNOWN\t-\trun-dir-unsafe",
        "WARNING\tdrift\tdrift",
        "WARNING\tboot\tboot-enable",
        "WARNING\tstopped\tstopped",
        "WARNING\twaiting\twaiting",
        "WARNING\tstray\tunrostered",
        "WARNING\t-\tlinger-disabled",
        "agents=11;;;0 healthy=10;;;0 stale=1;;;0 heartbeat_unknown=0;;;0 dead=1;;;0 absent=1;;;0"
          + " inactive=1;;;0 drift=1;;;0 boot_enable=1;;;0 stopped=1;;;0 leased=1;;;0 waiting=1;;;0"
          + " unrostered=1;;;0 remote=0;;;0",
      ])
  }

  func testExportReadsUnitStatesThroughTheRowModule() throws {
    let out = try lua(
      """
      local prometheus = require "mosaic.prometheus"
      local function row(name, active, enabled)
        return { name = name, host = "vm1", tenant_id = "acme", runtime = "stub", flags = {},
          pane = { state = "alive" }, systemd = { unit = "u", active = active, enabled = enabled },
          heartbeat = {}, activity = { state = "idle" } }
      end
      local text = prometheus.render(prometheus.fleet({ host = "vm1", generated_at = "2026-11-24T15:00:00Z",
        warnings = {}, agents = { row("a", "reloading", "static"), row("b", "failed", "enabled-runtime"),
          row("c", nil, nil) } }, { now = 1 }))
      for line in text:gmatch("[^\\n]+") do
        if line:match("^mosaic_agent_unit_active{") or line:match("^mosaic_agent_unit_enabled{") then
          print((line:gsub('tenant_id="acme",host="vm1",', ""):gsub(',runtime="stub"', "")))
        end
      end
      """)
    XCTAssertEqual(
      out.split(separator: "\n").map(String.init),
      [
        #"mosaic_agent_unit_active{agent="a"} 1"#,
        #"mosaic_agent_unit_active{agent="b"} 0"#,
        #"mosaic_agent_unit_enabled{agent="a"} 1"#,
        #"mosaic_agent_unit_enabled{agent="b"} 0"#,
      ])
  }

  /// Errors as data: the code comes with the message, from the host, not from its wording.
  func testFleetPsAndTheCheckSnapshotGiveACode() throws {
    try write("bad.lua", "return {agents = {{name = 'a b'}}}\n")
    let out = try lua(
      """
      local check = require "mosaic.check"
      print(select(3, fleet.ps{roster = "\(dir)/missing.lua"}))
      print(select(3, fleet.ps_json{roster = "\(dir)/bad.lua"}))
      local s, message, code = check.snapshot({roster = "\(dir)/bad.lua"}, 20)
      print(s, code, message == select(2, fleet.ps{roster = "\(dir)/bad.lua"}))
      """)
    XCTAssertEqual(
      out.split(separator: "\n").map(String.init),
      ["roster-invalid", "roster-invalid", "nil\troster-invalid\ttrue"])
  }

  /// One definition, two encodings: the Lua tables of `fleet.ps` encode to the very text
  /// `fleet.ps_json` gives (key order and nulls kept), and `heartbeat.read` is the row's
  /// heartbeat object with probe and skew instead of probe_answered.
  func testTablesAndJSONAreOneDocument() throws {
    let roster = try write(
      "roster.lua",
      """
      return { socket = "mt-row-\(UUID().uuidString.prefix(8))",
        hosts = { elsewhere = { ssh = "fleet@elsewhere.invalid" } }, agents = {
        { name = "a", runtime = "stub" }, { name = "b", runtime = "claude", host = "elsewhere" } } }
      """)
    let out = try lua(
      """
      local q = { roster = "\(roster)" }
      local a, b
      for _ = 1, 5 do -- generated_at has whole seconds: retry across a second boundary
        a = mosaic.json.encode(fleet.ps(q))
        b = fleet.ps_json(q)
        if a == b then break end
      end
      print(a == b, #fleet.ps(q).agents)
      print(mosaic.json.encode(heartbeat.read("a", 15)))
      """)
    XCTAssertEqual(
      out.split(separator: "\n").map(String.init),
      [
        "true\t2",
        #"{"health":"unknown","age_s":null,"ts":null,"pid":null,"status":null,"interval_s":15,"#
          + #""reason":"no heartbeat file","seq":null,"ack":null,"progress":null,"probe":null,"#
          + #""skew":false}"#,
      ])
  }
}
