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

--- respond(name [, {interval=15, pid=}]) -> exit status
-- Runs a responder beside a runtime until interrupted (or until `pid` exits).
function M.respond(name, opts)
  opts = opts or {}
  return (forward("respond", host.heartbeat_respond, name, opts.interval or 15, opts.pid))
end

--- wrap(name, argv [, {interval=15}]) -> the command's exit status
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
  return (forward("wrap", host.heartbeat_respond, name, opts.interval or 15, nil, argv))
end

return M
