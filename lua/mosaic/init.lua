--- The mosaic module: JSON, processes, time, host name, logging (SPEC 2.10).
-- Functions that only forward to the host are the host's own, so a wrong argument
-- raises an error that points at the caller's line.
local host = require "mosaic._host"
local forward = require "mosaic._forward"

local M = {}

M.version = host.version()
M.json = require "mosaic.json"
M.inspect = require "mosaic.inspect"

--- exec(argv, {stdin=, timeout=, env=}) -> {status, signal, stdout, stderr, timed_out}
-- Runs a program from an argv list (never through a shell). nil, message if it cannot start.
M.exec = host.exec

--- exec_many({ {argv=, stdin=, timeout=}, ... }) -> { result, ... }
-- Runs the programs at the same time and waits for all: each result is exec's table, or
-- {error = message} when that program could not start. Each is killed at its own timeout
-- (default 30 s). The fan-out to other hosts uses it (SPEC 2.12).
M.exec_many = host.exec_many

--- sleep(seconds): interruptible by Ctrl-C and by a script's time limit.
M.sleep = host.sleep

--- now() -> seconds since the epoch (float).
M.now = host.now

--- monotonic() -> seconds on a clock that never jumps (for durations).
M.monotonic = host.monotonic

--- within(seconds, fn, ...) -> fn(...)'s results | nil, "timed out after S s", "timeout"
-- Runs fn under a time limit of its own, in this process: the hook that ends a
-- `mosaic run --timeout` script stops it, and host calls inside (fleet.ps's tmux and
-- systemctl queries, probes, exec, sleep) end by then. An error of fn is raised again; an
-- outer time limit that ends first still ends the script. Example:
--   local snapshot, err, code = mosaic.within(5, fleet.ps)
--   if code == "timeout" then print("fleet ps took over 5 s") end
M.within = host.within

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

local lock_methods = {}
local lock_mt = { __name = "mosaic.lock", __index = lock_methods }

--- lock:release() -> true the first time, false once released. Also done by a
-- to-be-closed variable (`local l <close> = ...`) and, however the process ends, by the
-- kernel. Never by the garbage collector: `assert(mosaic.lock("job"))` without keeping the
-- handle holds the lock until the script ends, as one would expect.
function lock_methods.release(self)
  if self._fd == nil then
    return false
  end
  local fd = self._fd
  self._fd = nil
  return host.lock_release(fd)
end

--- lock:held() -> whether this handle still holds its lock.
function lock_methods.held(self)
  return self._fd ~= nil
end

lock_mt.__close = lock_methods.release
lock_mt.__tostring = function(self)
  return ("mosaic.lock %s (%s)"):format(self.name, self._fd and "held" or "released")
end

--- lock(name [, {wait=seconds}]) -> handle | nil, message, code [, holder pid]
-- A single-instance lock for jobs: an exclusive flock on <run>/<name>.lock, which the kernel
-- drops when this process exits, however it exits. `name`: letters, digits, '-' and '_'.
-- `wait` (default 0) is how long to wait for the holder; a refusal says who holds it:
-- "lock 'nightly' is held by pid 4242", code "held" and the holder's pid when it is held,
-- code "held-by-self" when this process holds it already, code "lock-failed" when the lock
-- file cannot be used. handle = {name=, path=, release=, held=}. Example:
--   local l, err = mosaic.lock("nightly")
--   if not l then mosaic.die(err, 3) end
--   ... the job ...
--   l:release()
function M.lock(name, opts)
  local fd, path, code, holder = forward("lock", host.lock_acquire, name, opts)
  if not fd then
    if holder == nil then
      return nil, path, code
    end
    return nil, path, code, holder
  end
  return setmetatable({ name = name, path = path, _fd = fd }, lock_mt)
end

--- die(message [, status]): prints "mosaic: message" on stderr and exits (default 1).
function M.die(message, status)
  io.stdout:flush()
  io.stderr:write("mosaic: ", tostring(message), "\n")
  os.exit(status or 1)
end

return M
