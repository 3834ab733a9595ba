--- The heartbeat module: read, write, health rule, responders (SPEC 2.3).
local host = require "mosaic._host"
local forward = require "mosaic._forward"

local M = {}

--- read(name [, interval]) -> reading
-- reading = {health, age_s, ts, pid, status, interval_s, reason, seq, ack, progress, probe, skew}
-- `interval` (default 15) is the roster's, which the health rule uses.
M.read = host.heartbeat_read

--- health(ts, interval [, now]) -> health, age_s, reason
-- The rule: "healthy" if now - ts <= 3 x interval, else "stale"; a ts more than one
-- interval in the future is "unknown" (clock skew). ts: epoch seconds or ISO 8601.
M.health = host.heartbeat_health

--- write(name [, {status=, pid=, interval=, ack=, progress=, seq=}]) -> true | nil, message
-- Writes <run>/<name>.hb atomically (mode 0600), for runtimes written in Lua.
M.write = host.heartbeat_write

--- interval(name [, roster_path]) -> seconds
-- The agent's heartbeat interval from the roster (its own `heartbeat_interval`, else the
-- roster's), or 15 when there is no roster or no such agent.
function M.interval(name, roster_path)
  local ok, roster = pcall(host.fleet_roster, roster_path)
  if not ok or type(roster) ~= "table" then
    return 15
  end
  for _, a in ipairs(roster.agents or {}) do
    if a.name == name and a.heartbeat_interval then
      return a.heartbeat_interval
    end
  end
  return roster.heartbeat_interval or 15
end

--- respond(name [, {interval=, pid=}]) -> exit status (interval: default the roster's)
-- Runs a responder beside a runtime until interrupted (or until `pid` exits).
function M.respond(name, opts)
  opts = opts or {}
  return (forward("respond", host.heartbeat_respond, name, opts.interval or M.interval(name), opts.pid))
end

--- wrap(name, argv [, {interval=}]) -> the command's exit status (interval: default the roster's)
-- Runs argv as a child and beats for it while it lives.
function M.wrap(name, argv, opts)
  if type(argv) ~= "table" or #argv == 0 then
    error(("bad argument #2 to 'wrap' (non-empty list of strings expected, got %s)"):format(type(argv)), 2)
  end
  for i = 1, #argv do
    if type(argv[i]) ~= "string" then
      error(("bad argument #2 to 'wrap' (argv[%d]: string expected, got %s)"):format(i, type(argv[i])), 2)
    end
  end
  opts = opts or {}
  return (forward("wrap", host.heartbeat_respond, name, opts.interval or M.interval(name), nil, argv))
end

return M
