--- Which agents' runtimes report their events into their heartbeats
local cli = require "mosaic.cli"
local hooks = require "mosaic.hooks"
local render = require "mosaic.render"

local parser = cli.parser("mosaic hooks status",
  "Shows, for every claude and codex agent, where its runtime keeps its hooks, whether\n" ..
  "mosaic's hook is wired there, and the last event its hooks reported.")
parser:flag("--json", "Print one JSON object (schema mosaic.hooks.status/v1).")
parser:option("--roster", "Roster file (default $MOSAIC_ROSTER or <config>/fleet/roster.lua).")
parser:option("--socket", "tmux socket name (default: the roster's, else mosaic-factory).")
local opts = cli.parse(parser, { ... })

local snapshot, err = fleet.ps({ roster = opts.roster, socket = opts.socket })
if not snapshot then
  mosaic.die("hooks status: " .. err)
end
local out = {}
for _, row in ipairs(snapshot.agents) do
  if row.runtime == "claude" or row.runtime == "codex" then
    local t, why = hooks.target(row)
    local f = io.open(("%s/%s.hb"):format(mosaic.paths().run, row.name), "rb")
    local line = f and f:read(4096) or ""
    if f then
      f:close()
    end
    out[#out + 1] = {
      name = row.name, runtime = row.runtime, file = t and t.file or mosaic.json.null,
      wired = t and hooks.wired(t) or false, reason = t and mosaic.json.null or why,
      last_event = line:match("hook=(%S+)") or mosaic.json.null,
    }
  end
end
if opts.json then
  print(mosaic.json.encode({ schema = "mosaic.hooks.status/v1", agents = mosaic.json.array(out) }, true))
  return 0
end
local rows = {}
for _, a in ipairs(out) do
  rows[#rows + 1] = { a.name, a.runtime, a.wired and "yes" or "no",
    a.last_event ~= mosaic.json.null and a.last_event or "-",
    a.file ~= mosaic.json.null and a.file or ("(" .. a.reason .. ")") }
end
io.write(render.table({ "NAME", "RUNTIME", "WIRED", "LAST EVENT", "FILE" }, rows, {}, false))
return 0
