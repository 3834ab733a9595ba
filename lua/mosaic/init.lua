--- The mosaic module: JSON, processes, time, host name, logging (SPEC 2.10).
-- Functions that only forward to the host are the host's own, so a wrong argument
-- raises an error that points at the caller's line.
local host = require "mosaic._host"

local M = {}

M.version = host.version()
M.json = require "mosaic.json"
M.inspect = require "mosaic.inspect"

--- exec(argv, {stdin=, timeout=, env=}) -> {status, signal, stdout, stderr, timed_out}
-- Runs a program from an argv list (never through a shell). nil, message if it cannot start.
M.exec = host.exec

--- sleep(seconds): interruptible by Ctrl-C and by a script's time limit.
M.sleep = host.sleep

--- now() -> seconds since the epoch (float).
M.now = host.now

--- monotonic() -> seconds on a clock that never jumps (for durations).
M.monotonic = host.monotonic

--- executable() -> the absolute path of the running mosaic binary.
M.executable = host.executable

--- hostname() -> this machine's short host name.
M.hostname = host.hostname

--- paths() -> {config=, run=, state=, roster=, commands=}
M.paths = host.paths

--- log(fmt, ...): one line on stderr, formatted like string.format.
function M.log(fmt, ...)
  if type(fmt) ~= "string" then
    error(("bad argument #1 to 'log' (string expected, got %s)"):format(type(fmt)), 2)
  end
  local line = select("#", ...) > 0 and fmt:format(...) or fmt
  host.log(line)
end

--- write_file(path, data [, mode]) -> true | nil, message. Atomic: temp file + rename.
M.write_file = host.write_file

--- die(message [, status]): prints "mosaic: message" on stderr and exits (default 1).
function M.die(message, status)
  io.stdout:flush()
  io.stderr:write("mosaic: ", tostring(message), "\n")
  os.exit(status or 1)
end

return M
