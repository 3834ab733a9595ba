--- One row per agent: systemd, tmux, process and heartbeat joined
local cli = require "mosaic.cli"
local render = require "mosaic.render"

local parser = cli.parser("mosaic fleet ps",
  "Shows every roster agent (and every unrostered session on the fleet's tmux socket),\n" ..
  "joining the systemd unit, the tmux pane, the process in it and its heartbeat. Name\n" ..
  "agents to list only those.",
  "Exit status is 0 whenever the listing was produced, whatever the agents' health; 1 when\n" ..
  "the roster cannot be read or a named agent does not exist.\n\n" ..
  "Examples:\n" ..
  "  mosaic fleet ps coder-1 coder-2\n" ..
  "  mosaic fleet ps -o wide\n" ..
  "  mosaic fleet ps -o name | xargs -n1 mosaic agent capture\n" ..
  "  mosaic fleet ps -o json | jq '.agents[] | select(.flags | index(\"stale\")) | .name'")
parser:argument("agent", "Only these agents (roster names, or unrostered sessions' names)."):args("*")
parser:option("-o --output", "table (the default), wide (more columns), json, or name (one a line).")
  :choices { "table", "wide", "json", "name" }:argname("FMT")
parser:flag("--json", "Print one JSON object (schema mosaic.fleet.ps/v1); the same as -o json.")
parser:flag("--no-headers", "No header line in the table (table and wide).")
parser:flag("--probe", "Probe every agent's heartbeat responder before reading heartbeats.")
parser:option("--probe-timeout", "Seconds to wait for probe answers.", "2"):convert(cli.positive("--probe-timeout"))
parser:option("--watch", "Redraw every S seconds until interrupted.")
  :args("?"):argname("S"):convert(cli.positive("--watch"))
parser:option("--tenant", "Only agents of this tenant.")
parser:option("--host", "Only agents of this host (this machine or a roster host; others are not asked).")
parser:option("--host-timeout", "Seconds each other host may take to answer (default 10).")
  :argname("S"):convert(cli.positive("--host-timeout"))
parser:option("--roster", "Roster file (default $MOSAIC_ROSTER or <config>/fleet/roster.lua).")
parser:option("--socket", "tmux socket name (default: the roster's, else mosaic-factory).")
parser:flag("--no-color", "No colour, even on a terminal.")
local opts = cli.parse(parser, { ... })
if opts.json then
  if opts.output and opts.output ~= "json" then
    cli.usage_error(parser, ("--json and -o %s cannot be combined"):format(opts.output))
  end
  opts.output = "json"
end
local format = opts.output or "table"
if opts.watch and (format == "json" or format == "name") then
  cli.usage_error(parser, ("-o %s and --watch cannot be combined"):format(format))
end

local query = {
  tenant = opts.tenant,
  roster = opts.roster,
  socket = opts.socket,
  probe = opts.probe,
  probe_timeout = opts.probe_timeout,
  host = opts.host,
  host_timeout = opts.host_timeout,
}
-- hosts (SPEC 2.12): the roster's other hosts are asked over ssh (lua/mosaic/hosts.lua)
local hosts = require "mosaic.hosts"

local health_color = { healthy = "green", stale = "red", unknown = "yellow" }
local pane_color = { alive = "green", dead = "red", absent = "red" }
local activity_color = { waiting = "yellow", starting = "yellow" }
local severe = { dead = true, absent = true, stale = true, stopped = true }

local function cells(a)
  local unit = "unknown"
  if a.systemd and a.systemd.active then
    unit = a.systemd.active .. "/" .. (a.systemd.enabled or "unknown")
  elseif a.systemd and a.systemd.unit == nil then
    unit = "-"
  end
  local pane = a.pane and a.pane.state or "unknown"
  if a.pane and a.pane.in_mode then
    pane = pane .. " (mode)"
  end
  local hb = a.heartbeat and a.heartbeat.health or "unknown"
  if a.heartbeat and a.heartbeat.age_s then
    hb = hb .. " " .. render.duration(a.heartbeat.age_s)
  end
  local act = a.activity and a.activity.state or "unknown"
  if a.activity and a.activity.since then
    local since = render.epoch(a.activity.since)
    if since then
      act = act .. " " .. render.duration(math.max(0, mosaic.now() - since))
    end
  end
  local flags = table.concat(a.flags or {}, ",")
  local row = {
    a.name,
    a.tenant_id or "-",
    a.host or "unknown",
    a.runtime or "-",
    unit,
    pane,
    a.pane and a.pane.pid and tostring(a.pane.pid) or "-",
    a.pane and a.pane.idle_s and render.duration(a.pane.idle_s) or "-",
    hb,
    act,
    flags == "" and "-" or flags,
  }
  local flag_color = nil
  for _, f in ipairs(a.flags or {}) do
    flag_color = severe[f] and "red" or (flag_color or "yellow")
  end
  -- UNIT: red when the unit is known not to be active, yellow when its state is unknown,
  -- plain when active or when there is no unit (an unrostered session).
  local unit_color = nil
  local active = a.systemd and a.systemd.active
  if active and active ~= "active" then
    unit_color = "red"
  elseif not active and a.systemd and a.systemd.unit then
    unit_color = "yellow"
  end
  local colors = {
    nil, nil, nil, nil,
    unit_color,
    pane_color[a.pane and a.pane.state or ""] or "yellow",
    nil, nil,
    health_color[a.heartbeat and a.heartbeat.health or "unknown"],
    activity_color[act:match("^%a+")],
    flag_color,
  }
  return row, colors
end

local headers = { "NAME", "TENANT", "HOST", "RUNTIME", "UNIT", "PANE", "PID", "IDLE", "HEARTBEAT", "ACTIVITY",
  "FLAGS" }

-- -o wide: the columns after the table's own.
local wide_headers = { "SESSION", "PANE-ID", "SIZE", "HB-STATUS", "WAITING-FOR", "LEASE", "PROCESS" }
local function wide_cells(a)
  local p = a.pane or {}
  local lease = a.lease and a.lease.holder or "-"
  local argv = a.process and a.process.argv
  return {
    p.session or "-",
    p.id or "-",
    (p.width and p.height) and (p.width .. "x" .. p.height) or "-",
    a.heartbeat and a.heartbeat.status or "-",
    a.activity and a.activity.waiting_for or "-",
    lease,
    type(argv) == "table" and #argv > 0 and table.concat(argv, " ") or "-",
  }
end

-- Named agents only, in the order named; an unknown name is an error ("did you mean").
local function only_named(snapshot)
  if #opts.agent == 0 then
    return snapshot
  end
  local picked, seen = {}, {}
  for _, name in ipairs(opts.agent) do
    local row, err = fleet.find(snapshot, name)
    if not row then
      mosaic.die("fleet ps: " .. err)
    end
    if not seen[name] then
      seen[name] = true
      picked[#picked + 1] = row
    end
  end
  snapshot.agents = mosaic.json.array(picked)
  return snapshot
end

local function draw(snapshot, color_on)
  local rows, colors = {}, {}
  for _, a in ipairs(snapshot.agents) do
    rows[#rows + 1], colors[#colors + 1] = cells(a)
    if format == "wide" then
      table.move(wide_cells(a), 1, #wide_headers, #rows[#rows] + 1, rows[#rows])
    end
  end
  local all_headers = headers
  if format == "wide" then
    all_headers = table.move(wide_headers, 1, #wide_headers, #headers + 1, table.move(headers, 1, #headers, 1, {}))
  end
  local text = render.table(all_headers, rows, colors, color_on)
  if opts.no_headers then
    text = text:gsub("^[^\n]*\n", "", 1)
  end
  local notes = {}
  for _, w in ipairs(snapshot.warnings) do
    notes[#notes + 1] = render.paint("warning: " .. w.message, "yellow", color_on)
  end
  return text, notes
end

local function once()
  local snapshot, err = hosts.ps(query)
  if not snapshot then
    mosaic.die("fleet ps: " .. err)
  end
  return only_named(snapshot)
end

if format == "json" then
  local text, err = hosts.ps_json(query, true)
  if not text then
    mosaic.die("fleet ps: " .. err)
  end
  if #opts.agent > 0 then
    -- Decoded JSON keeps its key order and nulls, so the filtered object is written back as is.
    text = mosaic.json.encode(only_named(assert(mosaic.json.decode(text))), true)
  end
  print(text)
  return 0
end

if format == "name" then
  for _, a in ipairs(once().agents) do
    print(a.name)
  end
  return 0
end

local color_on = render.color_enabled(opts.no_color)

if not opts.watch then
  local text, notes = draw(once(), color_on)
  io.stdout:write(text)
  io.stdout:flush()
  for _, n in ipairs(notes) do
    io.stderr:write(n, "\n")
  end
  return 0
end

local interval = opts.watch[1] or 2
while true do
  local snapshot = once()
  local text, notes = draw(snapshot, color_on)
  local header = ("Every %gs: mosaic fleet ps    %s    %s\n\n"):format(
    interval, snapshot.host, os.date("!%Y-%m-%dT%H:%M:%SZ"))
  -- Home, then clear to the end of the screen: redraw in place without flicker.
  io.stdout:write("\27[H\27[J", header, text, #notes > 0 and ("\n" .. table.concat(notes, "\n") .. "\n") or "")
  io.stdout:flush()
  mosaic.sleep(interval)
end
