--- Check the invariants a fleet relies on and say how to fix each finding
-- A thin script over lua/mosaic/doctor.lua (the checks and their codes). Copy it to
-- <config>/commands/doctor.lua to adapt it; `mosaic doctor` then runs your copy.
local cli = require "mosaic.cli"
local doctor = require "mosaic.doctor"

local codes = {}
for code, severity in pairs(doctor.CODES) do
  codes[#codes + 1] = ("%s (%s)"):format(code, severity)
end
table.sort(codes)

local parser = cli.parser("mosaic doctor",
  "Checks what a fleet relies on and prints each problem with its remedy (the exact unit-file\n" ..
  "lines or command): lingering, the tmux version and focus-events, the tmux server's cgroup\n" ..
  "against the agent units' KillMode (a restart of one agent must not kill every agent), unit\n" ..
  "types, the run dir, heartbeat writers, hooks, and the runtimes' first-run state (a Claude or\n" ..
  "Codex that would stop at a trust, API-key or hooks dialog on its next start).",
  "Exit status: 0 clean, 1 warnings only, 2 errors, 64 bad arguments.\nFinding codes:\n  " ..
  table.concat(codes, "\n  "))
parser:flag("--json", "Print one JSON object (schema " .. doctor.SCHEMA .. ").")
parser:option("--roster", "Roster file (default $MOSAIC_ROSTER or <config>/fleet/roster.lua).")
parser:option("--socket", "tmux socket name (default: the roster's, else mosaic-factory).")
parser:option("--ignore", "Leave findings with this code out (repeatable).")
  :count("*"):argname("CODE")
local opts = cli.parse(parser, { ... })

local ignore = {}
for _, code in ipairs(opts.ignore) do
  if not doctor.CODES[code] then
    cli.usage_error(parser, ("--ignore: unknown finding code '%s'"):format(code))
  end
  ignore[code] = true
end

local report = doctor.run({ roster = opts.roster, socket = opts.socket, ignore = ignore })
if opts.json then
  io.stdout:write(mosaic.json.encode(report), "\n")
else
  io.stdout:write(doctor.text(report))
end
io.stdout:flush()
return report.exit
