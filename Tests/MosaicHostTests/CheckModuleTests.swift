import XCTest

/// `lua/mosaic/check.lua` (the rules of `fleet check`, SPEC 2.8) called directly on
/// snapshots shaped like `fleet ps --json` (SPEC 2.4): every rule, the ranking, the summary,
/// the plugin text and the lock names, without tmux, systemd or the binary.
final class CheckModuleTests: LuaHostTestCase {
  /// Lua helpers: `row(name, changes)` a healthy rostered agent of host h1 with `changes`
  /// applied (`false` removes a field), `snap(rows, warnings)` a snapshot at a fixed time.
  static let fixtures = """
    local fc = require "mosaic.check"
    local json = require "mosaic.json"
    local function row(name, changes)
      local r = {
        name = name, tenant_id = "acme", host = "h1", runtime = "stub",
        systemd = { unit = "mosaic-agent@" .. name .. ".service", active = "active", sub = "exited",
          enabled = "enabled" },
        pane = { state = "alive", id = "%1", pid = 100, command = "mosaic", idle_s = 3 },
        process = { pid = 101, state = "sleeping", argv = { "/usr/bin/mosaic", "agent", "stub", name } },
        heartbeat = { health = "healthy", age_s = 2, ts = "2026-11-30T11:59:58Z", interval_s = 15,
          status = "ok", reason = json.null },
        activity = { state = "idle", since = "2026-11-30T11:00:00Z", source = "agent" },
        drift = false, boot_enable_warning = false, flags = {},
      }
      for k, v in pairs(changes or {}) do
        if v == false and k ~= "drift" and k ~= "boot_enable_warning" then r[k] = nil else r[k] = v end
      end
      return r
    end
    local function snap(rows, warnings)
      return { schema = "mosaic.fleet.ps/v1", generated_at = "2026-11-30T12:00:00Z", host = "h1",
        socket = "fleet-sock", roster = "/r/roster.lua", warnings = warnings or {}, agents = rows }
    end
    local function codes(v)
      local out = {}
      for _, p in ipairs(v.problems) do out[#out + 1] = p.severity .. " " .. p.code end
      return table.concat(out, ", ")
    end

    """

  func testAHealthyFleetIsOK() {
    lua(
      Self.fixtures + """
        local v = fc.evaluate(snap({ row("a"), row("b") }))
        eq(v.state, "OK", "state")
        eq(v.exit, 0, "exit")
        eq(v.summary, "2 agents, all healthy", "summary")
        eq(#v.problems, 0, "problems")
        eq(v.perfdata.agents, 2, "agents")
        eq(v.perfdata.healthy, 2, "healthy")
        eq(v.schema, "mosaic.fleet.check/v1", "schema")
        eq(v.socket, "fleet-sock", "socket")
        eq(fc.evaluate(snap({ row("a") })).summary, "1 agent, healthy", "one agent")
        -- The JSON keeps SPEC's key order and writes problems as an array even when empty.
        local text = json.encode(v)
        check(text:find('^{"schema":"mosaic.fleet.check/v1","state":"OK","exit":0,"summary":') ~= nil, text)
        check(text:find('"problems":[]', 1, true) ~= nil, text)
        eq(fc.text(v):match("^[^\\n]*"),
          "MOSAIC FLEET OK - 2 agents, all healthy | agents=2;;;0 healthy=2;;;0 stale=0;;;0 "
            .. "heartbeat_unknown=0;;;0 dead=0;;;0 absent=0;;;0 inactive=0;;;0 drift=0;;;0 boot_enable=0;;;0 "
            .. "stopped=0;;;0 leased=0;;;0 waiting=0;;;0 unrostered=0;;;0 remote=0;;;0", "plugin line")
        """)
  }

  func testEachRuleAndItsSeverity() {
    lua(
      Self.fixtures + """
        local cases = {
          { row("a", { pane = { state = "dead", dead_status = 1 }, flags = { "dead" } }),
            "CRITICAL pane-dead", "pane dead (exit status 1)" },
          { row("a", { pane = { state = "absent" }, flags = { "absent" } }),
            "CRITICAL pane-absent", "pane absent: no tmux session on socket fleet-sock" },
          { row("a", { systemd = { unit = "u.service", active = "failed", sub = "failed", enabled = "enabled" } }),
            "CRITICAL unit-inactive", "unit u.service is failed (failed)" },
          { row("a", { heartbeat = { health = "stale", age_s = 125, interval_s = 15 }, flags = { "stale" } }),
            "CRITICAL heartbeat-stale", nil },
          { row("a", { heartbeat = { health = "unknown", reason = "no heartbeat file", interval_s = 15 } }),
            "WARNING heartbeat-unknown", "heartbeat unknown: no heartbeat file" },
          { row("a", { runtime = "claude", drift = true, flags = { "drift" } }),
            "WARNING drift", "drift: roster runtime claude, pane runs mosaic agent stub a" },
          { row("a", { boot_enable_warning = true, flags = { "boot-enable" },
              systemd = { unit = "u.service", active = "active", sub = "exited", enabled = "disabled" } }),
            "WARNING boot-enable", "unit u.service is active but disabled: it will not start at boot" },
          { row("a", { flags = { "stopped" } }), "WARNING stopped", "the pane's foreground process is stopped" },
          { row("a", { activity = { state = "waiting", waiting_for = "permission prompt",
              since = "2026-11-30T11:40:00Z", source = "agent" }, flags = { "waiting" } }),
            "WARNING waiting", nil },
        }
        for i, c in ipairs(cases) do
          local v = fc.evaluate(snap({ c[1], row("ok") }))
          eq(codes(v), c[2], "case " .. i)
          eq(v.exit, fc.EXIT[c[2]:match("^%u+")], "case " .. i .. " exit")
          if c[3] then eq(v.problems[1].message, c[3], "case " .. i .. " message") end
          eq(v.problems[1].agent, "a", "case " .. i .. " agent")
          eq(v.problems[1].tenant_id, "acme", "case " .. i .. " tenant")
          eq(v.problems[1].host, "h1", "case " .. i .. " host")
          eq(fc.CODES[v.problems[1].code], v.problems[1].severity, "case " .. i .. " listed in CODES")
        end
        -- Reloading counts as active; a unit state nobody could read is no problem.
        eq(codes(fc.evaluate(snap({ row("a", { systemd = { unit = "u", active = "reloading" } }) }))), "",
          "reloading")
        eq(codes(fc.evaluate(snap({ row("a", { systemd = { unit = "u" } }) }))), "", "unknown unit state")
        -- The stale message says how old and the interval.
        local stale = fc.evaluate(snap({ row("a", { heartbeat = { health = "stale", age_s = 125, interval_s = 15 }, flags = { "stale" } }) }))
        check(stale.problems[1].message:find("^heartbeat stale: last beat .+ ago, interval 15 s$") ~= nil,
          stale.problems[1].message)
        -- Waiting: over the limit (20 min > 10 min) warns, under it or without a start does not.
        local w = fc.evaluate(snap({ row("a", { activity = { state = "waiting", waiting_for = "permission prompt",
          since = "2026-11-30T11:40:00Z" }, flags = { "waiting" } }) }))
        check(w.problems[1].message:find("^waiting for permission prompt for ") ~= nil, w.problems[1].message)
        eq(w.perfdata.waiting, 1, "waiting counted")
        local short = fc.evaluate(snap({ row("a", { activity = { state = "waiting",
          since = "2026-11-30T11:55:00Z" }, flags = { "waiting" } }) }))
        eq(codes(short), "", "5 min waiting is fine")
        eq(codes(fc.evaluate(snap({ row("a", { activity = { state = "waiting", since = "2026-11-30T11:55:00Z" },
          flags = { "waiting" } }) }), { waiting = 60 })), "WARNING waiting", "waiting = 60")
        local nostart = fc.evaluate(snap({ row("a", { activity = { state = "waiting" }, flags = { "waiting" } }) }))
        eq(codes(nostart), "", "no since: not warned")
        eq(nostart.perfdata.waiting, 1, "but counted")
        -- A leased agent is no problem, only counted.
        local leased = fc.evaluate(snap({ row("a", { flags = { "leased" } }) }))
        eq(codes(leased), "", "leased")
        eq(leased.perfdata.leased, 1, "leased counted")
        -- A long argv is cut in the drift message.
        local long = row("a", { drift = true, flags = { "drift" }, process = { argv = { "/x/y/python3", string.rep("z", 100) } } })
        local msg = fc.evaluate(snap({ long })).problems[1].message
        check(#msg < 110 and msg:find("pane runs python3 z+%.%.%.$") ~= nil, msg)
        -- With --probe: an agent that did not answer.
        local probed = fc.evaluate(snap({ row("a", { heartbeat = { health = "healthy", probe_answered = false } }),
          row("b", { heartbeat = { health = "healthy", probe_answered = true } }) }))
        eq(codes(probed), "WARNING probe-unanswered", "probe")
        """)
  }

  func testRankingSummaryAndIgnore() {
    lua(
      Self.fixtures + """
        local rows = {
          row("w", { drift = true, flags = { "drift" } }),
          row("d", { pane = { state = "dead" }, flags = { "dead" } }),
          row("s", { heartbeat = { health = "stale", age_s = 100, interval_s = 15 }, flags = { "stale" } }),
          row("ok"),
        }
        local v = fc.evaluate(snap(rows, { { code = "user-manager-unreachable", message = "user manager unreachable: x" } }))
        eq(v.state, "CRITICAL", "CRITICAL outranks UNKNOWN")
        eq(v.exit, 2, "exit")
        eq(codes(v), "CRITICAL pane-dead, CRITICAL heartbeat-stale, UNKNOWN user-manager-unreachable, WARNING drift",
          "worst first, stable within a severity")
        eq(v.summary, "4 agents, 2 critical, 1 unknown, 1 warning: d: pane dead (+3 more)", "summary")
        local lines = {}
        for l in fc.text(v):gmatch("[^\\n]+") do lines[#lines + 1] = l end
        eq(#lines, 5, "plugin line plus one per problem")
        eq(lines[2], "CRITICAL: d: pane dead", "problem line")
        eq(lines[4], "UNKNOWN: user manager unreachable: x", "fleet-level problem line")
        -- Only the unreachable plane: UNKNOWN, exit 3.
        local u = fc.evaluate(snap({ row("a") }, { { code = "tmux-unreadable", message = "tmux: cannot" } }))
        eq(u.state, "UNKNOWN", "unreadable tmux")
        eq(u.exit, 3, "exit 3")
        -- A warning code this module does not know is a WARNING, not an error.
        eq(codes(fc.evaluate(snap({ row("a") }, { { code = "brand-new", message = "m" } }))), "WARNING brand-new",
          "unknown code")
        -- remote-agents and tmux-server-absent are not fleet-level problems of their own.
        local absent = fc.evaluate(snap({ row("a", { pane = false }) }, { { code = "tmux-server-absent",
          message = "no server" } }))
        eq(codes(absent), "CRITICAL pane-absent", "no server: every pane absent")
        eq(absent.problems[1].message, "pane absent: no tmux server on socket fleet-sock", "message")
        eq(absent.perfdata.absent, 1, "absent counted")
        -- ignore: left out of the verdict, counted.
        local ig = fc.evaluate(snap({ row("w", { drift = true, flags = { "drift" } }), row("ok") }), { ignore = { drift = true } })
        eq(ig.state, "OK", "ignored drift")
        eq(ig.ignored, 1, "ignored count")
        eq(ig.summary, "2 agents, all healthy (1 problem ignored)", "summary with ignored")
        -- A run directory that cannot be trusted: one fleet-level line, no per-agent noise.
        local rd = fc.evaluate(snap({ row("a", { heartbeat = { health = "unknown", reason = "x" } }) },
          { { code = "run-dir-unsafe", message = "run dir unsafe" } }))
        eq(codes(rd), "UNKNOWN run-dir-unsafe", "run-dir-unsafe")
        """)
  }

  func testScopeUnrosteredRemoteAndNothingToCheck() {
    lua(
      Self.fixtures + """
        local unrostered = row("stray", { flags = { "unrostered" }, systemd = false, heartbeat = false })
        local remote = row("far", { host = "h2" })
        local v = fc.evaluate(snap({ row("a"), unrostered, remote }))
        eq(codes(v), "WARNING unrostered", "unrostered session")
        eq(v.problems[1].message, "session 'stray' on socket fleet-sock is not in the roster", "message")
        eq(v.perfdata.remote, 1, "remote counted")
        eq(v.perfdata.agents, 1, "remote is not an agent of this host")
        -- Named agents: only them; a name that is nowhere is UNKNOWN.
        eq(codes(fc.evaluate(snap({ row("a"), unrostered }), { agents = { "a" } })), "", "--agent a")
        local missing = fc.evaluate(snap({ row("a") }), { agents = { "a", "zz", "yy" } })
        eq(missing.state, "UNKNOWN", "missing agent")
        eq(missing.problems[1].code, "no-such-agent", "code")
        eq(missing.summary, "zz: no such agent in the roster (/r/roster.lua) or session on socket fleet-sock; "
          .. "yy: no such agent in the roster (/r/roster.lua) or session on socket fleet-sock", "summary")
        eq(fc.text(missing), "MOSAIC FLEET UNKNOWN - " .. missing.summary .. "\\n", "no repeated line")
        -- Nothing of this host in scope.
        local none = fc.evaluate(snap({ remote }))
        eq(none.problems[1].code, "nothing-to-check", "only remote")
        eq(none.summary, "nothing to check on h1: 1 agent(s) in scope run on other hosts", "summary")
        eq(fc.evaluate(snap({}), { tenant = "beta" }).summary,
          "nothing to check on h1: no rostered agent of tenant 'beta'", "tenant")
        eq(fc.evaluate(snap({})).summary, "nothing to check on h1: no rostered agent in scope", "empty")
        local u = fc.unknown("roster: bad | thing\\nsecond", "roster-invalid", "h9")
        eq(u.summary, "roster: bad / thing second", "no '|' or control characters in plugin output")
        eq(u.exit, 3, "exit")
        eq(u.problems[1].host, "h9", "host")
        eq(json.encode(u.perfdata), "{}", "empty perfdata is an object")
        """)
  }

  /// Other hosts (SPEC 2.8, 2.12): an unreachable host is CRITICAL when agents in scope live
  /// there; a host that calls itself by another name is not taken as observed; a warning
  /// another host reported is filed under that host.
  func testOtherHosts() {
    lua(
      Self.fixtures + """
        local function hsnap(rows, warnings, hosts)
          local s = snap(rows, warnings)
          s.hosts = hosts
          return s
        end
        local down = { code = "host-unreachable", message = "host h3 unreachable", host = "h3" }
        local hosts = { { name = "h1", reachable = true }, { name = "h2", reachable = true },
          { name = "h3", reachable = false } }
        local rs = { row("a"), row("b", { host = "h2" }), row("c", { host = "h3", pane = false, heartbeat = false }) }
        local v = fc.evaluate(hsnap(rs, { down }, hosts))
        eq(codes(v), "CRITICAL host-unreachable", "unreachable host")
        eq(v.problems[1].host, "h3", "filed under the host")
        eq(v.perfdata.agents, 2, "h1 and the observed h2")
        eq(v.perfdata.remote, 1, "h3's agent")
        -- Narrowed to agents of reachable hosts: the unreachable one is no problem of theirs.
        eq(codes(fc.evaluate(hsnap(rs, { down }, hosts), { agents = { "a", "b" } })), "", "--agent a b")
        eq(codes(fc.evaluate(hsnap(rs, { down }, hosts), { agents = { "c" } })), "CRITICAL host-unreachable",
          "--agent c")
        -- A dead pane on an observed host is judged; a misnamed host's rows are not taken.
        local dead = row("b", { host = "h2", pane = { state = "dead" }, flags = { "dead" } })
        eq(codes(fc.evaluate(hsnap({ row("a"), dead }, {}, hosts))), "CRITICAL pane-dead", "observed h2")
        local mis = { code = "host-name-mismatch", message = "h2 calls itself x", host = "h2" }
        local m = fc.evaluate(hsnap({ row("a"), row("b", { host = "h2", heartbeat = false }) }, { mis }, hosts))
        eq(codes(m), "WARNING host-name-mismatch", "misnamed host")
        eq(m.perfdata.remote, 1, "its agent counted as remote, not judged")
        -- A plane another host could not read is reported under that host.
        local far = fc.evaluate(hsnap({ row("a") }, { { code = "tmux-unreadable", message = "x", host = "h2" } }, hosts))
        eq(far.problems[1].host, "h2", "remote warning's host")
        """)
  }

  func testPerfdataTextAndLockNames() {
    lua(
      Self.fixtures + """
        local v = fc.evaluate(snap({ row("a") }))
        v.elapsed_s = 0.0214
        check(fc.perfdata_text(v):find(" time=0.021s;;;0$") ~= nil, fc.perfdata_text(v))
        v.elapsed_s = 2.0
        check(fc.perfdata_text(v):find(" time=2s;;;0$") ~= nil, fc.perfdata_text(v))
        eq(fc.lock_name({}), "fleet-check", "default scope")
        eq(fc.lock_name({ probe = false, agents = {} }), "fleet-check", "false and empty are the default")
        local ab = fc.lock_name({ agents = { "a", "b" } })
        eq(fc.lock_name({ agents = { "b", "a" } }), ab, "agent order does not matter")
        check(ab:match("^fleet%-check%-%x%x%x%x%x%x%x%x$") ~= nil, ab)
        check(fc.lock_name({ tenant = "x" }) ~= fc.lock_name({ tenant = "y" }), "tenants differ")
        check(fc.lock_name({ tenant = "x" }) ~= fc.lock_name({ socket = "x" }), "keys count")
        """)
  }
}
