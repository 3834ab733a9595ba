--- The fleet module: roster, ps, probe, wait (SPEC 2.10). Rows are plain tables shaped
-- like the JSON of `mosaic fleet ps --json` (SPEC 2.4).
local host = require "mosaic._host"
local closest = require "mosaic._suggest"
local forward = require "mosaic._forward"

local M = {}

--- roster([path]) -> roster table | nil, message
-- The roster file (default $MOSAIC_ROSTER or <config>/fleet/roster.lua), validated.
M.roster = host.fleet_roster

-- The options with the runtime profiles (mosaic.runtimes) that `activity` is read with.
local with_runtimes = require "mosaic._options"

--- ps([{roster=, socket=, tenant=, probe=, probe_timeout=}]) -> snapshot | nil, message, code
-- snapshot = {schema, generated_at, host, socket, roster, warnings = {...}, agents = {...}}.
-- The one failure is the roster (missing, broken): code "roster-invalid".
function M.ps(opts)
  local snapshot, err, code = forward("ps", host.fleet_ps, with_runtimes(opts, 2, 1, "ps"))
  return snapshot, err, code
end

--- ps_json([options [, pretty]]) -> the same snapshot as JSON text | nil, message, code
-- Faster than json.encode(fleet.ps()) for big fleets: no Lua tables are built.
function M.ps_json(opts, pretty)
  local text, err, code = forward("ps_json", host.fleet_ps_json, with_runtimes(opts, 2, 1, "ps_json"), pretty)
  return text, err, code
end

--- find(snapshot, name) -> row | nil, message, code
-- The row of agent `name` in a snapshot from `ps`, or mosaic's one "no such agent" message
-- ("<name>: no such agent in the roster (<path>) or session on socket <socket>", with a
-- "did you mean" over the snapshot's names) and code "no-such-agent". Example:
--   local row, err = fleet.find(fleet.ps(), "coder-1")
function M.find(snapshot, name)
  if type(snapshot) ~= "table" or type(snapshot.agents) ~= "table" then
    error(("bad argument #1 to 'find' (fleet.ps snapshot expected, got %s)"):format(type(snapshot)), 2)
  end
  if type(name) ~= "string" then
    error(("bad argument #2 to 'find' (string expected, got %s)"):format(type(name)), 2)
  end
  local names = setmetatable({}, host.array_mt)
  for _, row in ipairs(snapshot.agents) do
    if row.name == name then
      return row
    end
    names[#names + 1] = row.name
  end
  local roster = type(snapshot.roster) == "string" and snapshot.roster or "none"
  return nil, host.agent_unknown(name, names, tostring(snapshot.socket), roster)
end

--- agent(name [, ps options]) -> row | nil, message, code
-- `ps` and `find`: the whole row of one agent (every plane read). For its pane alone,
-- `agent.resolve` reads far less.
function M.agent(name, opts)
  if type(name) ~= "string" then
    error(("bad argument #1 to 'agent' (string expected, got %s)"):format(type(name)), 2)
  end
  local snapshot, err, code = forward("agent", host.fleet_ps, with_runtimes(opts, 2, 2, "agent"))
  if not snapshot then
    return nil, err, code
  end
  return M.find(snapshot, name)
end

--- probe(name_or_names [, timeout]) -> {name = answered?} | nil, message
-- Writes a probe for each agent and waits (default 2 s) for heartbeats carrying its nonce.
function M.probe(names, timeout)
  if type(names) == "string" then
    names = { names }
  end
  if type(names) ~= "table" then
    error(("bad argument #1 to 'probe' (string or list expected, got %s)"):format(type(names)), 2)
  end
  return (forward("probe", host.fleet_probe, names, timeout))
end

local function describe(row)
  local hb = row.heartbeat or {}
  return ("%s: pane %s, unit %s, heartbeat %s"):format(row.name,
    row.pane and row.pane.state or "unknown",
    row.systemd and row.systemd.active or "unknown", hb.health or "unknown")
end

--- wait{agent= | agents=, health=, pane=, active=, until_fn=, timeout=30, every=0.25, ps options...}
--   -> rows | nil, message
-- Polls `ps` until every named agent satisfies every condition given: heartbeat `health`
-- ("healthy", "stale", "unknown"), `pane` state ("alive", "dead", "absent"), unit `active`
-- state, and `until_fn(row)` returning true. Returns the rows (by name), or nil and what
-- the last look showed when `timeout` seconds pass.
function M.wait(opts)
  if type(opts) ~= "table" then
    error(("bad argument #1 to 'wait' (table expected, got %s)"):format(type(opts)), 2)
  end
  local known = { agent = true, agents = true, health = true, pane = true, active = true, until_fn = true,
    timeout = true, every = true, roster = true, socket = true, tenant = true }
  for key in pairs(opts) do
    if not known[key] then
      local names = {}
      for k in pairs(known) do
        names[#names + 1] = k
      end
      table.sort(names)
      local hint = closest(tostring(key), names)
      error(("bad argument #1 to 'wait' (unknown option '%s'%s)"):format(tostring(key),
        hint and (" (did you mean '" .. hint .. "'?)") or ""), 2)
    end
  end
  local names = opts.agents or { opts.agent }
  if type(names) ~= "table" or #names == 0 then
    error("bad argument #1 to 'wait' (agent or agents expected)", 2)
  end
  for _, name in ipairs(names) do
    if type(name) ~= "string" then
      error(("bad argument #1 to 'wait' (agent names must be strings, got %s)"):format(type(name)), 2)
    end
  end
  local timeout, every = opts.timeout or 30, opts.every or 0.25
  -- NaN compares false with everything: a timeout of 0/0 would never pass.
  if type(timeout) ~= "number" or timeout ~= timeout or timeout < 0 or timeout == math.huge then
    error(("bad argument #1 to 'wait' (timeout: finite number of seconds >= 0 expected, got %s)"):format(
      tostring(timeout)), 2)
  end
  if type(every) ~= "number" or every ~= every or every <= 0 or every == math.huge then
    error(("bad argument #1 to 'wait' (every: positive finite number of seconds expected, got %s)"):format(
      tostring(every)), 2)
  end
  if opts.until_fn ~= nil and type(opts.until_fn) ~= "function" then
    error(("bad argument #1 to 'wait' (until_fn: function expected, got %s)"):format(type(opts.until_fn)), 2)
  end
  local query = { roster = opts.roster, socket = opts.socket, tenant = opts.tenant }
  local deadline = mosaic.monotonic() + timeout
  local last
  while true do
    local snapshot, err = forward("wait", host.fleet_ps, with_runtimes(query, 2))
    if snapshot then
      local by_name, missing, pending = {}, {}, {}
      for _, row in ipairs(snapshot.agents) do
        by_name[row.name] = row
      end
      for _, name in ipairs(names) do
        local row = by_name[name]
        if not row then
          missing[#missing + 1] = select(2, M.find(snapshot, name))
        else
          local ok = (opts.health == nil or (row.heartbeat and row.heartbeat.health) == opts.health)
            and (opts.pane == nil or (row.pane and row.pane.state) == opts.pane)
            and (opts.active == nil or (row.systemd and row.systemd.active) == opts.active)
            and (opts.until_fn == nil or opts.until_fn(row))
          if not ok then
            pending[#pending + 1] = describe(row)
          end
        end
      end
      if #missing == 0 and #pending == 0 then
        return by_name
      end
      last = #missing > 0 and table.concat(missing, "; ") or table.concat(pending, "; ")
    else
      last = err
    end
    if mosaic.monotonic() >= deadline then
      return nil, ("timed out after %g s: %s"):format(timeout, last)
    end
    mosaic.sleep(every)
  end
end

return M
