#!/usr/bin/env mosaic
--- List every agent whose pane runs something other than its roster runtime.
--
--   mosaic run examples/drift-report.lua [--json] [--tenant T] [--roster F] [--socket S]
--
-- fleet ps decides drift (SPEC 2.4: the roster runtime's recognition rule, or the agent's
-- own `match` pattern, against the argv of the pane's foreground program); this report
-- adds what actually runs there, with a guess at which runtime that is. Agents whose
-- program cannot be seen (pane dead or absent, tmux unreadable) are listed apart: drift
-- unknown is not "no drift".
--
-- Exit status: 0 no drift, 1 drift found (handy in cron), 2 the fleet could not be read.
local cli = require "mosaic.cli"

local parser = cli.parser("drift-report.lua", "Lists agents running something other than their roster runtime.")
parser:flag("--json", "Print one JSON object.")
parser:option("--tenant", "Only agents of this tenant.")
parser:option("--roster", "Roster file.")
parser:option("--socket", "tmux socket name.")
local opts = cli.parse(parser, { ... })

local snapshot, err = fleet.ps { tenant = opts.tenant, roster = opts.roster, socket = opts.socket }
if not snapshot then
  io.stderr:write("mosaic: drift-report: ", err, "\n")
  os.exit(2)
end

local KNOWN = { "claude", "codex", "opencode", "pi" }

local function basename(p)
  return (tostring(p):match("([^/]*)$"))
end

-- Which runtime the argv looks like (the program, or a script under an interpreter).
local function guess(argv)
  if not argv or #argv == 0 then
    return nil
  end
  if basename(argv[1]) == "mosaic" and argv[2] == "agent" and argv[3] == "stub" then
    return "stub"
  end
  for i = 1, math.min(#argv, 3) do
    local word = basename(argv[i]):gsub("%.[%w]+$", "")
    for _, name in ipairs(KNOWN) do
      if word == name then
        return name
      end
    end
  end
  return nil
end

local drifted, unknown = mosaic.json.array {}, mosaic.json.array {}
for _, row in ipairs(snapshot.agents) do
  if row.tenant_id ~= nil then
    local argv = row.process and row.process.argv
    local entry = { agent = row.name, tenant_id = row.tenant_id, host = row.host, roster_runtime = row.runtime,
      running = argv and table.concat(argv, " ") or nil, guess = guess(argv) }
    if row.drift == true then
      drifted[#drifted + 1] = entry
    elseif row.drift == nil then
      entry.reason = row.host ~= snapshot.host and ("runs on host " .. tostring(row.host))
        or ("pane " .. tostring(row.pane and row.pane.state or "unknown"))
      unknown[#unknown + 1] = entry
    end
  end
end

if opts.json then
  print(mosaic.json.encode({ host = snapshot.host, generated_at = snapshot.generated_at, drift = drifted,
    unknown = unknown }))
else
  if #drifted == 0 then
    print("no drift: every agent runs its roster runtime")
  else
    print(("%d agent(s) run something other than their roster runtime:"):format(#drifted))
    for _, e in ipairs(drifted) do
      print(("  %s (tenant %s): roster says %s, runs %s%s"):format(e.agent, e.tenant_id, e.roster_runtime,
        e.guess or "an unknown program", e.running and (": " .. e.running) or ""))
    end
  end
  if #unknown > 0 then
    print(("%d agent(s) could not be checked:"):format(#unknown))
    for _, e in ipairs(unknown) do
      print(("  %s: %s"):format(e.agent, e.reason))
    end
  end
end
os.exit(#drifted > 0 and 1 or 0)
