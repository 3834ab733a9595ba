--- Judge the fleet like a monitoring plugin: OK, WARNING, CRITICAL, UNKNOWN
-- A thin script over the fleet API: the rules live in lua/mosaic/check.lua. Copy it to
-- <config>/commands/fleet/check.lua to adapt it; `mosaic fleet check` then runs your copy.
local cli = require "mosaic.cli"
local check = require "mosaic.check"

local started = mosaic.monotonic()

local parser = cli.parser("mosaic fleet check",
  "Judges every roster agent of this host (and unrostered sessions on the fleet's socket) the way\n" ..
  "a monitoring plugin does. The first line is\n" ..
  "  MOSAIC FLEET <STATE> - <summary> | <perfdata>\n" ..
  "then one line per problem, worst first (\"CRITICAL: coder-2: pane dead\").\n" ..
  "CRITICAL: a pane dead or absent, a unit not active, a stale heartbeat. WARNING: drift, a\n" ..
  "boot-enable gap, an unknown heartbeat, a stopped process, an agent waiting for a human\n" ..
  "longer than --waiting S, unrostered sessions, lingering\n" ..
  "disabled, tmux older than 3.2. UNKNOWN: the check could not run or could not see a plane\n" ..
  "(bad roster, timeout, tmux or the user manager unreadable, another run still going).",
  "Exit status: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (also for bad arguments).\n" ..
  "Overlapping runs of the same check (same roster, socket, tenant, agents) do not pile up:\n" ..
  "while one runs, the next answers UNKNOWN at once. Problem codes for --ignore:\n  " ..
  (function()
    local codes = {}
    for code in pairs(check.CODES) do
      codes[#codes + 1] = code
    end
    table.sort(codes)
    return table.concat(codes, ", ")
  end)())
parser:flag("--json", "Print the verdict as one JSON object (schema " .. check.SCHEMA .. ").")
parser:option("--tenant", "Only agents of this tenant.")
parser:option("--agent", "Only this agent (repeatable).")
  :count("*"):argname("NAME")
parser:option("--ignore", "Leave problems with this code out of the verdict (repeatable).")
  :count("*"):argname("CODE")
parser:option("--timeout", "Answer UNKNOWN after S seconds, before a scheduler kills the check.", "30")
  :argname("S")
parser:option("--waiting", "Warn about an agent waiting for a human longer than S seconds.", "600")
  :argname("S")
parser:option("--roster", "Roster file (default $MOSAIC_ROSTER or <config>/fleet/roster.lua).")
parser:option("--socket", "tmux socket name (default: the roster's, else mosaic-factory).")
parser:option("--host", "Only agents of this host (this machine or a roster host).")
parser:flag("--probe", "Probe every agent's heartbeat responder first (at most 2 s).")

local json_wanted = false
for _, a in ipairs({ ... }) do
  if a == "--json" then
    json_wanted = true
  end
end

local function finish(verdict)
  verdict.elapsed_s = math.floor((mosaic.monotonic() - started) * 1000 + 0.5) / 1000
  if json_wanted then
    io.stdout:write(mosaic.json.encode(verdict), "\n")
  else
    io.stdout:write(check.text(verdict))
  end
  io.stdout:flush()
  return verdict.exit
end

-- Bad arguments are UNKNOWN (3), as the plugin guidelines ask, with mosaic's one-line error.
local function usage(message)
  io.stderr:write(("mosaic: fleet check: %s\nTry 'mosaic fleet check --help'.\n"):format(message))
  return finish(check.unknown("bad arguments: " .. message, "usage"))
end

local ok, opts = parser:pparse({ ... })
if not ok then
  return usage(opts)
end
local timeout = tonumber(opts.timeout)
if not timeout or timeout <= 0 or timeout ~= timeout or timeout == math.huge then
  return usage(("--timeout must be a positive number, got '%s'"):format(opts.timeout))
end
local waiting = tonumber(opts.waiting)
if not waiting or waiting < 0 or waiting ~= waiting or waiting == math.huge then
  return usage(("--waiting must be a number of seconds (0 or more), got '%s'"):format(opts.waiting))
end
local ignore = {}
for _, code in ipairs(opts.ignore) do
  if not check.CODES[code] then
    return usage(("--ignore: unknown problem code '%s'"):format(code))
  end
  ignore[code] = true
end

local scope = { roster = opts.roster, socket = opts.socket, tenant = opts.tenant, probe = opts.probe,
  agents = opts.agent, host = opts.host }
local lock, err, lock_code, holder = mosaic.lock(check.lock_name(scope))
if not lock then
  if lock_code == "held" or lock_code == "held-by-self" then
    return finish(check.unknown(("another check is still running%s"):format(
      holder and (" (pid " .. holder .. ")") or ""), "locked"))
  end
  return finish(check.unknown(err, "check-failed"))
end

-- What is left of the time limit, less a margin to print the answer.
local function left()
  return timeout - (mosaic.monotonic() - started) - 0.05
end

local query = { roster = opts.roster, socket = opts.socket, tenant = opts.tenant }
if opts.probe then
  query.probe = true
  query.probe_timeout = math.max(0.1, math.min(2, left() / 3))
end
-- hosts (SPEC 2.12): each other host answers well within the time limit, or is unreachable
query.host = opts.host
query.host_timeout = math.max(0.5, math.min(10, left() * 0.6))
if left() <= 0 then
  return finish(check.unknown(("timed out after %s s before fleet ps could run"):format(opts.timeout), "timeout"))
end
local snapshot, why, code = check.snapshot(query, left())
if not snapshot then
  if code == "timeout" then
    why = ("timed out after %s s: %s"):format(opts.timeout, why)
  end
  return finish(check.unknown(why, code))
end
local verdict = check.evaluate(snapshot, { agents = opts.agent, ignore = ignore, tenant = opts.tenant,
  waiting = waiting })
lock:release()
return finish(verdict)
