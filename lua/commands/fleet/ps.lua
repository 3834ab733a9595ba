--- One row per agent: systemd, tmux, process and heartbeat joined
local cli = require "mosaic.cli"
local render = require "mosaic.render"

local parser = cli.parser("mosaic fleet ps",
  "Shows every roster agent (and every unrostered session on the fleet's tmux socket),\n" ..
  "joining the systemd unit, the tmux pane, the process in it and its heartbeat.",
  "Exit status is 0 whenever the listing was produced, whatever the agents' health.")
parser:flag("--json", "Print one JSON object (schema mosaic.fleet.ps/v1).")
parser:flag("--probe", "Probe every agent's heartbeat responder before reading heartbeats.")
parser:option("--probe-timeout", "Seconds to wait for probe answers.", "2"):convert(cli.positive("--probe-timeout"))
parser:option("--watch", "Redraw every S seconds until interrupted.")
  :args("?"):argname("S"):convert(cli.positive("--watch"))
parser:option("--tenant", "Only agents of this tenant.")
parser:option("--roster", "Roster file (default $MOSAIC_ROSTER or <config>/fleet/roster.lua).")
parser:option("--socket", "tmux socket name (default: the roster's, else mosaic-factory).")
parser:flag("--no-color", "No colour, even on a terminal.")
local opts = cli.parse(parser, { ... })

local query = {
  tenant = opts.tenant,
  roster = opts.roster,
  socket = opts.socket,
  probe = opts.probe,
  probe_timeout = opts.probe_timeout,
}

local health_color = { healthy = "green", stale = "red", unknown = "yellow" }
local pane_color = { alive = "green", dead = "red", absent = "red" }
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
    flag_color,
  }
  return row, colors
end

local headers = { "NAME", "TENANT", "HOST", "RUNTIME", "UNIT", "PANE", "PID", "IDLE", "HEARTBEAT", "FLAGS" }

local function draw(snapshot, color_on)
  local rows, colors = {}, {}
  for _, a in ipairs(snapshot.agents) do
    rows[#rows + 1], colors[#colors + 1] = cells(a)
  end
  local text = render.table(headers, rows, colors, color_on)
  local notes = {}
  for _, w in ipairs(snapshot.warnings) do
    notes[#notes + 1] = render.paint("warning: " .. w.message, "yellow", color_on)
  end
  return text, notes
end

local function once()
  local snapshot, err = fleet.ps(query)
  if not snapshot then
    mosaic.die("fleet ps: " .. err)
  end
  return snapshot
end

if opts.json then
  if opts.watch then
    cli.usage_error(parser, "--json and --watch cannot be combined")
  end
  local text, err = fleet.ps_json(query, true)
  if not text then
    mosaic.die("fleet ps: " .. err)
  end
  print(text)
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
