import XCTest

/// `lua/mosaic/prometheus.lua` (the exposition format and the fleet's metrics) called
/// directly: escaping, values, timestamps, and the series a snapshot gives, without the
/// binary (promtool checks the real export in IntegrationTests' FleetExportTests).
final class PrometheusModuleTests: LuaHostTestCase {
  func testEscapingValuesAndRendering() {
    lua(
      """
      local p = require "mosaic.prometheus"
      eq(p.escape_label('a\\\\b"c\\nd'), 'a\\\\\\\\b\\\\"c\\\\nd', "label")
      eq(p.escape_help('x\\\\y\\nz"'), 'x\\\\\\\\y\\\\nz"', "help keeps quotes")
      eq(p.value(true), "1", "true")
      eq(p.value(false), "0", "false")
      eq(p.value(42), "42", "integer")
      eq(p.value(-7), "-7", "negative")
      eq(p.value(3.0), "3", "integral float")
      eq(p.value(0.1), "0.1", "float")
      eq(p.value(1764504000.25), "1764504000.25", "timestamp with a fraction")
      eq(p.value(2 ^ 53), "9.00719925474099e+15", "past 2^53: %g")
      eq(p.value(0 / 0), "NaN", "NaN")
      eq(p.value(math.huge), "+Inf", "+Inf")
      eq(p.value(-math.huge), "-Inf", "-Inf")
      check(not pcall(p.family, "bad-name", "h"), "a bad metric name is refused")
      check(not pcall(p.family, "1abc", "h"), "a metric name cannot start with a digit")
      local f = p.family("mt_x", "Help with\\nnewline.")
      f:add({ { "b", "2" }, { "a", 'q"' } }, 1)
      f:add({}, 2.5)
      f:add({ { "z", "1" } }, nil)
      local empty = p.family("mt_empty", "never", "counter")
      eq(p.render({ f, empty }),
        '# HELP mt_x Help with\\\\nnewline.\\n# TYPE mt_x gauge\\nmt_x{b="2",a="q\\\\""} 1\\nmt_x 2.5\\n',
        "render: label order kept, nil samples and empty families left out")
      """)
  }

  func testEpochParsesISO8601InUTC() {
    lua(
      """
      local p = require "mosaic.prometheus"
      eq(p.epoch("1970-01-01T00:00:00Z"), 0, "epoch")
      eq(p.epoch("2026-11-30T12:00:00Z"), 1796040000, "a date")
      eq(p.epoch("2000-02-29T23:59:59Z"), 951868799, "leap day")
      eq(p.epoch("2026-11-30T13:30:00+01:30"), 1796040000, "offset east")
      eq(p.epoch("2026-11-30T10:00:00-02:00"), 1796040000, "offset west")
      eq(p.epoch("2026-11-30T12:00:00.250Z"), 1796040000.25, "fraction")
      eq(p.epoch("2026-11-30t12:00:00z"), 1796040000, "lower case")
      eq(p.epoch("1969-12-31T23:59:59Z"), -1, "before 1970")
      for _, bad in ipairs({ "2026-13-01T00:00:00Z", "2026-11-32T00:00:00Z", "2026-11-30T24:00:00Z",
          "2026-11-30T12:60:00Z", "2026-11-30 12:00:00Z", "2026-11-30T12:00:00", "2026-11-30T12:00:00+0100",
          "", "yesterday" }) do
        eq(p.epoch(bad), nil, bad)
      end
      eq(p.epoch(nil), nil, "nil")
      eq(p.epoch(12), nil, "a number")
      -- The same as the C library's timegm for every day of a few years (no time zone, no DST).
      local t = os.time({ year = 2024, month = 1, day = 1, hour = 12 })
      local off = os.time(os.date("!*t", t)) - t
      for day = 0, 3 * 366 do
        local u = 1704110400 + day * 86400
        local iso = os.date("!%Y-%m-%dT%H:%M:%SZ", u)
        if p.epoch(iso) ~= u then
          check(false, ("%s: %s, want %d (offset %d)"):format(iso, tostring(p.epoch(iso)), u, off))
          break
        end
      end
      """)
  }

  func testTheFleetsSeries() {
    lua(
      """
      local p = require "mosaic.prometheus"
      local json = require "mosaic.json"
      local function row(name, changes)
        local r = {
          name = name, tenant_id = "acme", host = "h1", runtime = "stub",
          systemd = { unit = "mosaic-agent@" .. name .. ".service", active = "active", enabled = "enabled" },
          pane = { state = "alive", idle_s = 10 },
          process = { pid = 1, argv = { "x" } },
          heartbeat = { health = "healthy", ts = "2026-11-30T11:59:50Z", interval_s = 15, status = "ok" },
          activity = { state = "working", since = "2026-11-30T11:00:00Z" },
          drift = false, boot_enable_warning = false, flags = {},
        }
        for k, v in pairs(changes or {}) do if v == false then r[k] = nil else r[k] = v end end
        return r
      end
      local snapshot = {
        generated_at = "2026-11-30T12:00:00Z", host = "h1", socket = "s",
        warnings = { { code = "linger-disabled", message = "m" }, { code = "brand-new", message = "m" } },
        agents = {
          row("a"),
          row("b", { tenant_id = "beta", pane = { state = "dead" }, flags = { "dead", "stopped" },
            systemd = { unit = "u", active = "weird-state", enabled = "disabled" }, boot_enable_warning = true,
            drift = true, heartbeat = { health = "unknown", interval_s = 30 }, activity = false,
            lease = { holder = "op" } }),
          row("stray", { flags = { "unrostered" } }),
          row("far", { host = "h2" }),
        },
      }
      local text = p.render(p.fleet(snapshot, { now = 1796040001 }))
      local series = {}
      for line in text:gmatch("[^\\n]+") do
        if not line:find("^#") then
          local name, value = line:match("^(.-) (%S+)$")
          series[name] = value
        end
      end
      local A = 'tenant_id="acme",host="h1",agent="a",runtime="stub"'
      local B = 'tenant_id="beta",host="h1",agent="b",runtime="stub"'
      local expect = {
        ['mosaic_export_timestamp_seconds{host="h1"}'] = "1796040001",
        ['mosaic_fleet_agents{tenant_id="acme",host="h1"}'] = "1",
        ['mosaic_fleet_agents{tenant_id="beta",host="h1"}'] = "1",
        ['mosaic_fleet_unrostered_sessions{host="h1"}'] = "1",
        ['mosaic_fleet_warning{host="h1",code="linger-disabled"}'] = "1",
        ['mosaic_fleet_warning{host="h1",code="tmux-server-absent"}'] = "0",
        ['mosaic_fleet_warning{host="h1",code="brand-new"}'] = "1",
        ["mosaic_agent_info{" .. A .. ',unit="mosaic-agent@a.service"}'] = "1",
        ["mosaic_agent_up{" .. A .. "}"] = "1",
        ["mosaic_agent_up{" .. B .. "}"] = "0",
        ["mosaic_agent_pane_state{" .. B .. ',state="dead"}'] = "1",
        ["mosaic_agent_pane_state{" .. B .. ',state="alive"}'] = "0",
        ["mosaic_agent_pane_activity_timestamp_seconds{" .. A .. "}"] = "1796039990",
        ["mosaic_agent_stopped{" .. A .. "}"] = "0",
        ["mosaic_agent_unit_active{" .. A .. "}"] = "1",
        ["mosaic_agent_unit_active{" .. B .. "}"] = "0",
        ["mosaic_agent_unit_state{" .. B .. ',state="weird-state"}'] = "1",
        ["mosaic_agent_unit_state{" .. B .. ',state="active"}'] = "0",
        ["mosaic_agent_unit_enabled{" .. A .. "}"] = "1",
        ["mosaic_agent_unit_enabled{" .. B .. "}"] = "0",
        ["mosaic_agent_boot_enable_gap{" .. B .. "}"] = "1",
        ["mosaic_agent_drift{" .. B .. "}"] = "1",
        ["mosaic_agent_heartbeat_timestamp_seconds{" .. A .. "}"] = "1796039990",
        ["mosaic_agent_heartbeat_interval_seconds{" .. B .. "}"] = "30",
        ["mosaic_agent_heartbeat_readable{" .. A .. "}"] = "1",
        ["mosaic_agent_heartbeat_readable{" .. B .. "}"] = "0",
        ["mosaic_agent_heartbeat_busy{" .. A .. "}"] = "0",
        ["mosaic_agent_leased{" .. B .. "}"] = "1",
        ["mosaic_agent_activity_state{" .. A .. ',state="working"}'] = "1",
        ["mosaic_agent_activity_state{" .. B .. ',state="unknown"}'] = "1",
        ["mosaic_agent_activity_since_timestamp_seconds{" .. A .. "}"] = "1796036400",
      }
      for k, v in pairs(expect) do eq(series[k], v, k) end
      -- Unknown is left out, never 0: no stopped series for a dead pane, no activity time,
      -- no heartbeat time for an unreadable heartbeat, nothing of other hosts' agents.
      for _, absent in ipairs({ "mosaic_agent_stopped{" .. B .. "}",
          "mosaic_agent_activity_since_timestamp_seconds{" .. B .. "}",
          "mosaic_agent_heartbeat_timestamp_seconds{" .. B .. "}",
          "mosaic_agent_pane_activity_timestamp_seconds{" .. B .. "}" }) do
        eq(series[absent], nil, absent)
      end
      check(not text:find('agent="far"', 1, true), "another host's agent is not exported here")
      check(not text:find('agent="stray"', 1, true), "an unrostered session has no agent series")
      -- Every sample line is NAME{labels} VALUE with no timestamp.
      for line in text:gmatch("[^\\n]+") do
        if not line:find("^#") then
          check(line:find('^[a-z_]+{?[^}]*}? [-+]?[%w.]+$') ~= nil, line)
        end
      end

      -- No tmux server: every pane absent; tmux unreadable: unrostered not exported;
      -- run directory unsafe: no heartbeat series at all.
      local none = p.render(p.fleet({ generated_at = "2026-11-30T12:00:00Z", host = "h1",
        warnings = { { code = "tmux-server-absent" }, { code = "run-dir-unsafe" } },
        agents = { row("a", { pane = false }) } }, { now = 1 }))
      check(none:find('mosaic_agent_pane_state{' .. A .. ',state="absent"} 1', 1, true) ~= nil, none)
      check(not none:find("mosaic_agent_heartbeat_timestamp_seconds{", 1, true), "run dir unsafe: no heartbeat")
      check(none:find("mosaic_agent_heartbeat_interval_seconds{", 1, true) ~= nil, "the interval is roster data")
      local unreadable = p.render(p.fleet({ host = "h1", warnings = { { code = "tmux-unreadable" } }, agents = {} },
        { now = 1 }))
      check(not unreadable:find("mosaic_fleet_unrostered_sessions", 1, true), "tmux unreadable: no count")
      local filtered = p.render(p.fleet({ host = "h1", agents = {} }, { now = 1, tenant_filtered = true }))
      check(not filtered:find("mosaic_fleet_unrostered_sessions", 1, true), "--tenant: no count")
      """)
  }
}
