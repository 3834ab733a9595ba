#!/usr/bin/env mosaic
--- Restart the systemd unit of every agent whose heartbeat is stale, with a crash-loop brake.
--
--   mosaic run examples/restart-stale.lua [--dry-run] [--max-restarts N] [--window S]
--                                         [--wait S] [--tenant T] [--roster F] [--socket S]
--
-- An agent is restarted when its heartbeat is stale (SPEC 2.3: no beat for 3 intervals),
-- it runs on this host, it has a unit, and no operator holds it (`agent attach` lease).
-- The brake: at most --max-restarts restarts of one unit within --window seconds; past
-- that the unit is left alone and reported, because restarting a crash loop only hides it.
-- Restarts are remembered in <run>/restart-stale.json. One run at a time (mosaic.lock).
-- With --wait S, each restarted agent is waited for until its heartbeat is healthy again.
--
-- Exit status: 0 nothing to do, or every restart done (and healthy, with --wait); 1 an
-- agent needs a human (braked, restart failed, not healthy in time); 3 another run holds
-- the lock; 64 usage.
local cli = require "mosaic.cli"
local json = mosaic.json

local parser = cli.parser("restart-stale.lua",
  "Restarts the unit of every agent whose heartbeat is stale (with a crash-loop brake).")
parser:flag("--dry-run", "Say what would be restarted; restart nothing, remember nothing.")
parser:option("--max-restarts", "Restarts of one unit allowed within --window.", "3")
  :convert(cli.positive("--max-restarts"))
parser:option("--window", "The brake's window, in seconds.", "3600"):convert(cli.positive("--window"))
parser:option("--wait", "After restarting, wait up to S seconds for a healthy heartbeat.")
  :argname("S"):convert(cli.positive("--wait"))
parser:option("--tenant", "Only agents of this tenant.")
parser:option("--roster", "Roster file.")
parser:option("--socket", "tmux socket name.")
local opts = cli.parse(parser, { ... })

local lock, lerr = mosaic.lock("restart-stale")
if not lock then
  io.stderr:write("restart-stale: ", lerr, "\n")
  os.exit(3)
end

local query = { roster = opts.roster, socket = opts.socket, tenant = opts.tenant }
local snapshot, err = fleet.ps(query)
if not snapshot then
  mosaic.die("restart-stale: " .. err)
end

-- The brake's memory: {unit = {epoch seconds of each restart}}, pruned to the window.
local state_path = mosaic.paths().run .. "/restart-stale.json"
local history = {}
do
  local f = io.open(state_path, "rb")
  if f then
    local decoded = json.decode(f:read("a") or "")
    f:close()
    if type(decoded) == "table" then
      history = decoded
    end
  end
end
local now = mosaic.now()
for unit, times in pairs(history) do
  local kept = {}
  for _, t in ipairs(type(times) == "table" and times or {}) do
    if type(t) == "number" and now - t < opts.window then
      kept[#kept + 1] = t
    end
  end
  history[unit] = #kept > 0 and json.array(kept) or nil
end

local function save()
  local plain = json.object {}
  for unit, times in pairs(history) do
    plain[unit] = times
  end
  local ok, werr = mosaic.write_file(state_path, json.encode(plain) .. "\n", tonumber("600", 8))
  if not ok then
    io.stderr:write("restart-stale: cannot save ", state_path, ": ", werr, "\n")
  end
end

local restarted, needs_human, considered = {}, 0, 0
for _, row in ipairs(snapshot.agents) do
  local hb = row.heartbeat or {}
  local unit = row.systemd and row.systemd.unit
  if hb.health == "stale" and row.tenant_id ~= nil then
    considered = considered + 1
    local age = hb.age_s and ("%.0f s"):format(hb.age_s) or "unknown"
    local times = history[unit or ""] or {}
    if row.host ~= snapshot.host then
      print(("skip %s: runs on host %s"):format(row.name, row.host))
    elseif not unit then
      print(("skip %s: no unit"):format(row.name))
    elseif row.lease ~= nil then
      print(("skip %s: leased by %s (agent attach)"):format(row.name, tostring(row.lease.holder)))
    elseif #times >= opts.max_restarts then
      needs_human = needs_human + 1
      print(("BRAKE %s: %s restarted %d times in the last %g s; not restarting (heartbeat stale for %s)"):format(
        row.name, unit, #times, opts.window, age))
    elseif opts.dry_run then
      print(("would restart %s: %s (heartbeat stale for %s)"):format(row.name, unit, age))
    else
      local r, xerr = mosaic.exec({ "systemctl", "--user", "restart", "--", unit }, { timeout = 60 })
      times[#times + 1] = mosaic.now()
      history[unit] = json.array(times)
      save()
      if not r or r.status ~= 0 then
        needs_human = needs_human + 1
        print(("FAILED %s: systemctl --user restart %s: %s"):format(row.name, unit,
          r and (r.stderr:gsub("%s+$", "")) or xerr))
      else
        print(("restarted %s: %s (heartbeat was stale for %s)"):format(row.name, unit, age))
        restarted[#restarted + 1] = row.name
      end
    end
  end
end

if opts.wait and #restarted > 0 then
  local ok, werr = fleet.wait { agents = restarted, health = "healthy", pane = "alive", timeout = opts.wait,
    roster = opts.roster, socket = opts.socket }
  if ok then
    print(("healthy again: %s"):format(table.concat(restarted, ", ")))
  else
    needs_human = needs_human + 1
    print("NOT HEALTHY: " .. werr)
  end
end

if considered == 0 then
  print("no stale heartbeats")
end
lock:release()
os.exit(needs_human > 0 and 1 or 0)
