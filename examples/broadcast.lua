#!/usr/bin/env mosaic
--- Send one message to every healthy agent of a tenant, and sum up the verdicts.
--
--   mosaic run examples/broadcast.lua --tenant T [--verify] [--timeout S] [--dry-run]
--                                     [--json] [--roster F] [--socket S] TEXT...
--
-- Healthy means: heartbeat healthy, pane alive, unit active, not stopped, not leased by
-- an operator (`agent attach`). The others are skipped and listed with the reason.
-- Messages go out one agent after the other through agent.send (exact targets, text
-- pasted, never typed through a shell), each verified with --verify (SPEC 2.7).
--
-- Exit status, the worst over the agents, as `mosaic agent send`'s: 0 every message
-- delivered (verified accepted with --verify); 1 a draft or unknown verdict; 2 wedged or
-- timed out; 3 a send refused, or no healthy agent to send to; 64 usage.
local cli = require "mosaic.cli"

local parser = cli.parser("broadcast.lua", "Sends a message to every healthy agent of a tenant.")
parser:argument("text", "The message (words are joined with spaces)."):args("+")
parser:option("--tenant", "The tenant whose agents get the message."):count(1)
parser:flag("--verify", "Verify every delivery (accepted, draft, wedged, unknown).")
parser:option("--timeout", "Seconds to wait for each verification.", "5"):convert(cli.positive("--timeout"))
parser:flag("--dry-run", "List who would get the message; send nothing.")
parser:flag("--json", "Print the summary as JSON.")
parser:option("--roster", "Roster file.")
parser:option("--socket", "tmux socket name.")
local opts = cli.parse(parser, { ... })
local text = table.concat(opts.text, " ")

local snapshot, err = fleet.ps { tenant = opts.tenant, roster = opts.roster, socket = opts.socket }
if not snapshot then
  mosaic.die("broadcast: " .. err)
end

local function why_not(row)
  local hb = row.heartbeat and row.heartbeat.health or "unknown"
  if row.host ~= snapshot.host then
    return "runs on host " .. tostring(row.host)
  elseif (row.pane and row.pane.state) ~= "alive" then
    return "pane " .. tostring(row.pane and row.pane.state or "unknown")
  elseif hb ~= "healthy" then
    return "heartbeat " .. hb
  elseif (row.systemd and row.systemd.active) ~= "active" then
    return "unit " .. tostring(row.systemd and row.systemd.active or "unknown")
  elseif row.lease ~= nil then
    return "leased by " .. tostring(row.lease.holder)
  end
  if require("mosaic.row").has(row, "stopped") then
    return "process stopped"
  end
  return nil
end

local results = mosaic.json.array {}
local tally = {}
local worst = 0
local function record(name, outcome, exit, detail)
  results[#results + 1] = { agent = name, tenant_id = opts.tenant, host = snapshot.host, outcome = outcome,
    exit = exit, detail = detail }
  tally[outcome] = (tally[outcome] or 0) + 1
  if exit and exit > worst then
    worst = exit
  end
end

local sent = 0
for _, row in ipairs(snapshot.agents) do
  local reason = why_not(row)
  if reason then
    record(row.name, "skipped", nil, reason)
  elseif opts.dry_run then
    record(row.name, "would-send", nil, nil)
    sent = sent + 1
  else
    sent = sent + 1
    local r, serr, refused = agent.send(row.name, text, { verify = opts.verify, timeout = opts.timeout,
      socket = opts.socket, roster = opts.roster })
    if not r then
      record(row.name, "refused", refused and refused.exit or 3, serr)
    else
      local outcome = r.verdict or (r.timed_out and "timed-out") or (r.delivered and "delivered") or "unknown"
      record(row.name, outcome, r.exit, r.detail)
    end
  end
end
if sent == 0 then
  worst = 3
end

if opts.json then
  print(mosaic.json.encode({ tenant_id = opts.tenant, host = snapshot.host, sent = sent,
    tally = mosaic.json.object(tally), results = results, exit = worst }))
else
  for _, r in ipairs(results) do
    print(("%-20s %-10s%s"):format(r.agent, r.outcome, r.detail and ("  " .. r.detail) or ""))
  end
  local parts = {}
  for _, k in ipairs({ "accepted", "delivered", "would-send", "draft", "unknown", "wedged", "timed-out", "refused",
    "skipped" }) do
    if tally[k] then
      parts[#parts + 1] = ("%d %s"):format(tally[k], k)
    end
  end
  print(("tenant %s: %s"):format(opts.tenant, #parts > 0 and table.concat(parts, ", ") or "no agents"))
end
os.exit(worst)
