--- Benchmark: what `mosaic agent watch` costs on a busy 200x50 pane.
--
--   mosaic run scripts/bench/agent-watch.lua [--seconds 10] [--interval S] [--captures 50]
--                                            [--viewer 200x51] [--mosaic PATH]
--
-- A painter (mosaic itself, running a Lua loop) redraws the whole 200x50 pane of an agent
-- session 20 times a second in 256 colours, on a tmux socket of its own. `agent watch`
-- runs at its default refresh (or --interval) inside a second tmux server that stands for
-- the operator's terminal. Over --seconds it reports, from /proc/<pid>/stat (utime+stime,
-- and cutime+cstime for the tmux command clients the watcher starts and reaps), the share
-- of one core used by:
--   - the watcher process itself,
--   - its tmux capture clients (one per frame),
--   - the agent's tmux server beyond its baseline (the same window measured without a
--     watcher, before and after; the painter keeps the server busy either way),
--   - the viewer's tmux server (the operator's terminal emulator, for reference).
-- Then the cost of one capture (one tmux invocation: display-message + capture-pane -e -N)
-- measured --captures times from this script. Goal: watching costs under 5 % of one core.
-- Uses sockets and a MOSAIC_HOME of its own; removes them at the end.
local cli = require "mosaic.cli"
local shared = dofile((arg[0]:match("^(.*)/") or ".") .. "/_bench.lua")

local parser = cli.parser("agent-watch.lua", "Benchmark agent watch on a busy 200x50 pane.")
parser:option("--seconds", "Seconds each measurement lasts.", "10"):convert(cli.positive("--seconds"))
parser:option("--interval", "The watcher's --interval (default: its default)."):convert(cli.positive("--interval"))
parser:option("--captures", "Timed single captures.", "50"):convert(cli.positive("--captures"))
parser:option("--viewer", "Size of the viewer's terminal, COLSxROWS.", "200x51")
parser:option("--mosaic", "The mosaic binary to measure (default: this one).")
local opts = cli.parse(parser, { ... })

local exe = opts.mosaic or mosaic.executable()
local vcols, vrows = opts.viewer:match("^(%d+)x(%d+)$")
if not vcols then
  cli.usage_error(parser, "--viewer must be COLSxROWS, e.g. 200x51")
end
local tag = ("mtw%x"):format(math.floor(mosaic.now() * 1000) % 0xffffff)
local agent_socket, viewer_socket = tag .. "-a", tag .. "-v"
local home = (os.getenv("TMPDIR") or "/tmp") .. "/" .. tag

local run = shared.runner({ timeout = 60 })

local function tmux(socket, ...)
  return run({ "tmux", "-L", socket, "-f", "/dev/null", ... })
end

local function tmux_quiet(socket, ...)
  return run({ "tmux", "-L", socket, "-f", "/dev/null", ... }, true)
end

local function trim(s)
  return (s:gsub("%s+$", ""))
end

local ticks_per_s = tonumber(trim(run({ "getconf", "CLK_TCK" }).stdout)) or 100

--- cpu(pid or "self") -> own seconds, reaped children's seconds (nil if the process is gone)
local function cpu(pid)
  local f = io.open(("/proc/%s/stat"):format(pid), "r")
  if not f then
    return nil
  end
  local stat = f:read("a")
  f:close()
  -- Fields after the command name, which is in parentheses and may hold spaces.
  local rest = stat:match("^.*%)%s+(.*)$")
  local fields = {}
  for v in rest:gmatch("%S+") do
    fields[#fields + 1] = v
  end
  -- rest starts at field 3 (state): utime is field 14, stime 15, cutime 16, cstime 17.
  local function at(n)
    return tonumber(fields[n - 2])
  end
  return (at(14) + at(15)) / ticks_per_s, (at(16) + at(17)) / ticks_per_s
end

local function server_pid(socket)
  return math.tointeger(tonumber(trim(tmux(socket, "display-message", "-p", "#{pid}").stdout)))
end

local function pct(seconds, wall)
  return ("%5.2f %%"):format(seconds / wall * 100)
end

local painter = [[
local n = 0
while true do
  n = n + 1
  local out = { "\27[H" }
  for y = 1, 49 do
    local row = {}
    for s = 0, 9 do
      local text = ("%06d "):format((n * 100 + y * 10 + s) % 1000000):rep(3):sub(1, 20)
      row[#row + 1] = ("\27[38;5;%dm%s"):format(16 + (n + y + s) % 216, text)
    end
    out[#out + 1] = table.concat(row) .. "\27[0m\r\n"
  end
  out[#out + 1] = ("frame %d"):format(n)
  io.write(table.concat(out))
  io.flush()
  mosaic.sleep(0.05)
end
]]

local socket_files = {}

local function remember_socket(socket)
  socket_files[#socket_files + 1] = trim(tmux(socket, "display-message", "-p", "#{socket_path}").stdout)
end

local function cleanup()
  tmux_quiet(agent_socket, "kill-server")
  tmux_quiet(viewer_socket, "kill-server")
  -- tmux 3.3a leaves socket files behind.
  for _, path in ipairs(socket_files) do
    os.remove(path)
  end
  run({ "rm", "-rf", home }, true)
end

local function main()
  run({ "mkdir", "-p", home .. "/fleet/run" })
  run({ "chmod", "700", home .. "/fleet/run" })
  assert(mosaic.write_file(home .. "/fleet/roster.lua", ([[
return {
  socket = %q,
  agents = { { name = "busy", runtime = "stub", match = "mosaic" } },
}
]]):format(agent_socket), tonumber("644", 8)))

  tmux(agent_socket, "new-session", "-d", "-s", "busy", "-x", "200", "-y", "50", exe, "-e", painter)
  remember_socket(agent_socket)
  local server = server_pid(agent_socket)
  local pane = trim(tmux(agent_socket, "display-message", "-p", "-t", "=busy:", "#{pane_id}").stdout)
  mosaic.sleep(1)
  local seconds = opts.seconds

  local function server_share()
    local s0 = cpu(server)
    local t0 = mosaic.monotonic()
    mosaic.sleep(seconds)
    return (cpu(server) - s0) / (mosaic.monotonic() - t0)
  end

  io.write(("baseline: agent tmux server with the painter, no watcher, %gs ... "):format(seconds))
  io.flush()
  local before = server_share()
  print(("%.2f %%"):format(before * 100))

  local args = {
    "new-session", "-d", "-s", "v", "-x", vcols, "-y", vrows,
    "-e", "MOSAIC_HOME=" .. home, "-e", "MOSAIC_ROSTER=" .. home .. "/fleet/roster.lua",
    "-e", "LANG=C.UTF-8", exe, "agent", "watch", "busy",
  }
  if opts.interval then
    args[#args + 1] = "--interval"
    args[#args + 1] = tostring(opts.interval)
  end
  tmux(viewer_socket, table.unpack(args))
  local watcher = math.tointeger(tonumber(trim(tmux(viewer_socket, "display-message", "-p", "-t", "v:",
    "#{pane_pid}").stdout)))
  remember_socket(viewer_socket)
  local viewer = server_pid(viewer_socket)
  mosaic.sleep(1.5)
  local screen = tmux(viewer_socket, "capture-pane", "-p", "-t", "v:").stdout
  assert(screen:find("READ-ONLY", 1, true), "the watcher is not showing:\n" .. screen)

  io.write(("watching: agent watch at %s for %gs ... "):format(
    opts.interval and (opts.interval .. " s") or "its default refresh", seconds))
  io.flush()
  local w_own0, w_kids0 = cpu(watcher)
  local s0, v0 = cpu(server), cpu(viewer)
  local t0 = mosaic.monotonic()
  mosaic.sleep(seconds)
  local w_own1, w_kids1 = cpu(watcher)
  local s1, v1 = cpu(server), cpu(viewer)
  local wall = mosaic.monotonic() - t0
  print("done")
  tmux(viewer_socket, "send-keys", "-t", "v:", "q")
  mosaic.sleep(0.5)

  io.write(("baseline again, %gs ... "):format(seconds))
  io.flush()
  local after = server_share()
  print(("%.2f %%"):format(after * 100))

  local baseline = (before + after) / 2
  local own, kids = w_own1 - w_own0, w_kids1 - w_kids0
  local server_watched = (s1 - s0) / wall
  local extra = math.max(0, server_watched - baseline) * wall
  local total = own + kids + extra

  -- One capture, as the watcher makes it.
  local argv = { "tmux", "-L", agent_socket, "display-message", "-p", "-t", pane,
    "mosaic-capture:#{pane_width}:#{pane_height}:#{cursor_x}:#{cursor_y}", ";",
    "capture-pane", "-p", "-e", "-N", "-t", pane }
  local samples, bytes = {}, 0
  local _, k0 = cpu("self")
  local cs0 = cpu(server)
  local c0 = mosaic.monotonic()
  for i = 1, opts.captures do
    local t = mosaic.monotonic()
    local r = run(argv)
    samples[i] = (mosaic.monotonic() - t) * 1000
    bytes = #r.stdout
  end
  local cwall = mosaic.monotonic() - c0
  local _, k1 = cpu("self")
  local cs1 = cpu(server)
  table.sort(samples)
  local n = opts.captures
  local client_ms = (k1 - k0) / n * 1000
  local server_ms = math.max(0, (cs1 - cs0) - baseline * cwall) / n * 1000

  print()
  print(("agent watch on a busy 200x50 pane (20 full redraws/s, 256 colours), viewer %sx%s, %s"):format(
    vcols, vrows, opts.interval and ("--interval " .. opts.interval) or "default refresh"))
  print(("  binary: %s"):format(exe))
  print(("  %-44s %s"):format("watcher process (mosaic agent watch)", pct(own, wall)))
  print(("  %-44s %s"):format("its tmux capture clients (reaped children)", pct(kids, wall)))
  print(("  %-44s %s   (%.2f %% watched vs %.2f %% baseline)"):format(
    "agent's tmux server, extra while watched", pct(extra, wall), server_watched * 100, baseline * 100))
  print(("  %-44s %s   goal < 5 %%: %s"):format("total caused by watching", pct(total, wall),
    total / wall < 0.05 and "PASS" or "FAIL"))
  print(("  %-44s %s"):format("viewer's tmux server (the operator's terminal)", pct(v1 - v0, wall)))
  print(("one capture (display-message + capture-pane -e -N, one tmux invocation), %d runs:"):format(n))
  print(("  wall %.2f ms median (%.2f .. %.2f), tmux client CPU %.2f ms, server CPU ~%.2f ms, %d bytes"):format(
    samples[(n + 1) // 2], samples[1], samples[n], client_ms, server_ms, bytes))
end

local ok, err = pcall(main)
cleanup()
if not ok then
  mosaic.die("agent-watch benchmark: " .. tostring(err))
end
