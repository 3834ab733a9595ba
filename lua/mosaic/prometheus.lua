--- Prometheus text exposition (format 0.0.4) for node_exporter's textfile collector, and
-- the fleet's metrics (`mosaic fleet export --format prometheus`).
--
-- Design: one metric family per fact, all gauges, labels tenant_id, host, agent, runtime
-- on every per-agent series. What mosaic does not know is left out, never exported as 0.
-- Times are exported as Unix timestamps, never as ages: an age frozen in a file that the
-- exporter stopped refreshing would look fine forever, a timestamp goes on ageing, so
--   time() - mosaic_agent_heartbeat_timestamp_seconds > 3 * mosaic_agent_heartbeat_interval_seconds
-- fires for a dead agent and for a dead exporter alike (and
--   time() - mosaic_export_timestamp_seconds > 300
-- tells which). No sample carries a timestamp: the textfile collector refuses them.
-- Flags, warning codes and unit states are FleetCore's (mosaic.row), not restated here.
local rows = require "mosaic.row"

local M = {}

--- escape_label(value) -> the value escaped for a label: \\, \", \n.
function M.escape_label(v)
  return (tostring(v):gsub("\\", "\\\\"):gsub('"', '\\"'):gsub("\n", "\\n"))
end

--- escape_help(text) -> the text escaped for a HELP line: \\ and \n.
function M.escape_help(v)
  return (tostring(v):gsub("\\", "\\\\"):gsub("\n", "\\n"))
end

--- value(n) -> a sample value: integers as integers, floats with enough digits, NaN, +Inf.
function M.value(n)
  if type(n) == "boolean" then
    return n and "1" or "0"
  end
  if math.type(n) == "integer" then
    return tostring(n)
  end
  if n ~= n then
    return "NaN"
  elseif n == math.huge then
    return "+Inf"
  elseif n == -math.huge then
    return "-Inf"
  end
  if n == math.floor(n) and math.abs(n) < 2 ^ 53 then
    return ("%d"):format(n)
  end
  return ("%.15g"):format(n)
end

local family_methods = {}
local family_mt = { __index = family_methods }

--- family(name, help [, type]) -> a family; family:add(labels, value) with labels a list of
-- {name, value} pairs (their order is kept). type defaults to "gauge".
function M.family(name, help, kind)
  assert(name:match("^[a-zA-Z_:][a-zA-Z0-9_:]*$"), "bad metric name " .. name)
  return setmetatable({ name = name, help = help, type = kind or "gauge", samples = {} }, family_mt)
end

function family_methods.add(self, labels, value)
  if value == nil then
    return
  end
  self.samples[#self.samples + 1] = { labels = labels, value = value }
end

--- render(families) -> the exposition text. Families without samples are left out.
function M.render(families)
  local out = {}
  for _, f in ipairs(families) do
    if #f.samples > 0 then
      out[#out + 1] = ("# HELP %s %s"):format(f.name, M.escape_help(f.help))
      out[#out + 1] = ("# TYPE %s %s"):format(f.name, f.type)
      for _, s in ipairs(f.samples) do
        local parts = {}
        for _, kv in ipairs(s.labels) do
          parts[#parts + 1] = ('%s="%s"'):format(kv[1], M.escape_label(kv[2]))
        end
        local labels = #parts > 0 and ("{" .. table.concat(parts, ",") .. "}") or ""
        out[#out + 1] = ("%s%s %s"):format(f.name, labels, M.value(s.value))
      end
    end
  end
  return table.concat(out, "\n") .. "\n"
end

--- epoch(iso) -> Unix seconds of an ISO 8601 timestamp (YYYY-MM-DDTHH:MM:SS[.fff](Z|+HH:MM)),
-- or nil.
function M.epoch(iso)
  if type(iso) ~= "string" then
    return nil
  end
  local y, mo, d, h, mi, s, rest = iso:match("^(%d%d%d%d)%-(%d%d)%-(%d%d)[Tt](%d%d):(%d%d):(%d%d)(.*)$")
  if not y then
    return nil
  end
  local frac = 0
  local f = rest:match("^%.(%d+)")
  if f then
    frac = tonumber("0." .. f)
    rest = rest:sub(#f + 2)
  end
  local offset = 0
  if rest ~= "Z" and rest ~= "z" then
    local sign, oh, om = rest:match("^([+-])(%d%d):(%d%d)$")
    if not sign then
      return nil
    end
    offset = (tonumber(oh) * 3600 + tonumber(om) * 60) * (sign == "+" and 1 or -1)
  end
  y, mo, d = tonumber(y), tonumber(mo), tonumber(d)
  if mo < 1 or mo > 12 or d < 1 or d > 31 or tonumber(h) > 23 or tonumber(mi) > 59 or tonumber(s) > 60 then
    return nil
  end
  -- Days from civil (Howard Hinnant's algorithm): pure arithmetic in UTC, no os.time (which
  -- reads the local time zone and DST).
  y = mo <= 2 and y - 1 or y
  local era = (y >= 0 and y or y - 399) // 400
  local yoe = y - era * 400
  local mp = (mo + 9) % 12
  local doy = (153 * mp + 2) // 5 + d - 1
  local doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
  local days = era * 146097 + doe - 719468
  local t = days * 86400 + tonumber(h) * 3600 + tonumber(mi) * 60 + tonumber(s) - offset
  return frac > 0 and (t + frac) or t
end

-- Fleet-level warning codes exported with 0 when absent, so alerts can resolve.
M.WARNING_CODES = { table.unpack(rows.WARNINGS) }

M.PANE_STATES = { "alive", "dead", "absent" }
-- What the agent is doing (fleet ps's `activity.state`); a row without `activity` (or with a
-- state outside this list) counts as unknown.
M.ACTIVITY_STATES = { "working", "waiting", "idle", "starting", "unknown" }
M.UNIT_STATES = { "active", "reloading", "inactive", "failed", "activating", "deactivating", "maintenance",
  "refreshing" }
local has_flag = rows.has

local function bool(v)
  if v == nil then
    return nil
  end
  return v and 1 or 0
end

--- fleet(snapshot [, {now=, tenant_filtered=}]) -> families
-- The fleet's metrics from a fleet.ps snapshot: rostered agents of this host only (each
-- host exports its own; unrostered sessions are counted).
function M.fleet(snapshot, opts)
  opts = opts or {}
  local host = snapshot.host
  local F = {}
  local families = {}
  local function fam(key, name, help)
    F[key] = M.family(name, help)
    families[#families + 1] = F[key]
  end
  fam("export", "mosaic_export_timestamp_seconds",
    "When mosaic fleet export took this snapshot (Unix time). time() minus this is how stale the file is.")
  fam("agents", "mosaic_fleet_agents", "Rostered agents of this host, by tenant.")
  fam("unrostered", "mosaic_fleet_unrostered_sessions",
    "Sessions on the fleet's tmux socket that are in no roster (not exported when tmux could not be read).")
  fam("warning", "mosaic_fleet_warning",
    "1 while fleet ps reports this fleet-level warning (codes as in fleet ps --json), else 0.")
  fam("info", "mosaic_agent_info", "Always 1: an agent of the roster, with its systemd unit.")
  fam("up", "mosaic_agent_up", "1 if the agent's tmux pane is alive, 0 if it is dead or absent.")
  fam("pane", "mosaic_agent_pane_state", "1 for the agent's tmux pane state (alive, dead, absent), 0 for the others.")
  fam("activity", "mosaic_agent_pane_activity_timestamp_seconds",
    "Last activity in the agent's tmux window (Unix time).")
  fam("stopped", "mosaic_agent_stopped", "1 if the pane's foreground process is stopped (state T).")
  fam("unit_active", "mosaic_agent_unit_active", "1 if the agent's systemd unit is active (or reloading), else 0.")
  fam("unit_state", "mosaic_agent_unit_state", "1 for the agent's systemd unit active state, 0 for the others.")
  fam("unit_enabled", "mosaic_agent_unit_enabled",
    "1 if the agent's unit starts at boot (unit-file state enabled, static or generated), else 0.")
  fam("boot_gap", "mosaic_agent_boot_enable_gap", "1 if the unit is active but would not start at boot.")
  fam("drift", "mosaic_agent_drift", "1 if the pane runs something other than the roster's runtime.")
  fam("hb_ts", "mosaic_agent_heartbeat_timestamp_seconds",
    "Time of the agent's last heartbeat (Unix time); stale when older than 3 heartbeat intervals.")
  fam("hb_interval", "mosaic_agent_heartbeat_interval_seconds", "The agent's heartbeat interval (from the roster).")
  fam("hb_readable", "mosaic_agent_heartbeat_readable",
    "1 if the agent's heartbeat file was read and trusted, 0 if it is missing, untrusted or unparsable.")
  fam("hb_busy", "mosaic_agent_heartbeat_busy", "1 if the last heartbeat says status=busy, 0 for ok.")
  fam("leased", "mosaic_agent_leased", "1 while an operator holds the agent through mosaic agent attach.")
  fam("act_state", "mosaic_agent_activity_state",
    "1 for what the agent is doing (working, waiting for a human, idle at its prompt, starting, unknown), " ..
    "0 for the others.")
  fam("act_since", "mosaic_agent_activity_since_timestamp_seconds",
    "Since when the agent has been in its current activity state (Unix time); left out when unknown.")

  local now = opts.now or mosaic.now()
  local generated = M.epoch(snapshot.generated_at)
  local hostl = { "host", host }
  F.export:add({ hostl }, now)

  local unreadable, server_absent = {}, false
  local present = {}
  for _, w in ipairs(snapshot.warnings or {}) do
    present[w.code] = true
    if w.code == "tmux-server-absent" then
      server_absent = true
    elseif w.code == "tmux-unreadable" or w.code == "run-dir-unsafe" then
      unreadable[w.code] = true
    end
  end
  local codes = { table.unpack(M.WARNING_CODES) }
  local known = {}
  for _, c in ipairs(codes) do
    known[c] = true
  end
  for _, w in ipairs(snapshot.warnings or {}) do
    if not known[w.code] then
      known[w.code] = true
      codes[#codes + 1] = w.code
    end
  end
  for _, c in ipairs(codes) do
    F.warning:add({ hostl, { "code", c } }, present[c] and 1 or 0)
  end

  local per_tenant, tenants, unrostered = {}, {}, 0
  for _, row in ipairs(snapshot.agents or {}) do
    if has_flag(row, "unrostered") then
      unrostered = unrostered + 1
    elseif row.host == host then
      local tenant = row.tenant_id or ""
      if not per_tenant[tenant] then
        per_tenant[tenant] = 0
        tenants[#tenants + 1] = tenant
      end
      per_tenant[tenant] = per_tenant[tenant] + 1
      local base = { { "tenant_id", tenant }, hostl, { "agent", row.name }, { "runtime", row.runtime or "" } }
      local function with(k, v)
        local l = { table.unpack(base) }
        l[#l + 1] = { k, v }
        return l
      end
      local unit = row.systemd or {}
      F.info:add(with("unit", unit.unit or ""), 1)

      local pane = row.pane or {}
      local state = pane.state
      if state == nil and server_absent then
        state = "absent"
      end
      if state ~= nil then
        F.up:add(base, state == "alive" and 1 or 0)
        for _, s in ipairs(M.PANE_STATES) do
          F.pane:add(with("state", s), s == state and 1 or 0)
        end
      end
      if state == "alive" and generated and pane.idle_s then
        F.activity:add(base, generated - pane.idle_s)
      end
      if state == "alive" and row.process ~= nil then
        F.stopped:add(base, has_flag(row, "stopped") and 1 or 0)
      end

      if unit.active ~= nil then
        F.unit_active:add(base, bool(rows.unit_active(row)))
        local seen = false
        for _, s in ipairs(M.UNIT_STATES) do
          seen = seen or s == unit.active
          F.unit_state:add(with("state", s), s == unit.active and 1 or 0)
        end
        if not seen then
          F.unit_state:add(with("state", unit.active), 1)
        end
      end
      F.unit_enabled:add(base, bool(rows.boot_safe(row)))
      F.boot_gap:add(base, bool(row.boot_enable_warning))
      F.drift:add(base, bool(row.drift))

      local hb = row.heartbeat or {}
      if not unreadable["run-dir-unsafe"] then
        local ts = M.epoch(hb.ts)
        F.hb_ts:add(base, ts)
        F.hb_readable:add(base, ts and 1 or 0)
        if hb.status == "busy" or hb.status == "ok" then
          F.hb_busy:add(base, hb.status == "busy" and 1 or 0)
        end
        F.leased:add(base, row.lease ~= nil and 1 or 0)
      end
      F.hb_interval:add(base, hb.interval_s)

      local activity = type(row.activity) == "table" and row.activity or {}
      local act = activity.state
      local known_state = false
      for _, s in ipairs(M.ACTIVITY_STATES) do
        known_state = known_state or s == act
      end
      if not known_state then
        act = "unknown"
      end
      for _, s in ipairs(M.ACTIVITY_STATES) do
        F.act_state:add(with("state", s), s == act and 1 or 0)
      end
      if act ~= "unknown" then
        F.act_since:add(base, M.epoch(activity.since))
      end
    end
  end
  for _, t in ipairs(tenants) do
    F.agents:add({ { "tenant_id", t }, hostl }, per_tenant[t])
  end
  if not opts.tenant_filtered and not unreadable["tmux-unreadable"] then
    F.unrostered:add({ hostl }, unrostered)
  end
  return families
end

return M
