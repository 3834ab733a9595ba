-- Benchmark: finding one agent's pane, as `agent capture`, `watch` and `attach` do, by the
-- resolver (`agent.resolve`: the roster and one `tmux list-panes`) beside the way they did
-- it before (`fleet.agent`: a whole `fleet ps`, with systemctl, /proc and every heartbeat,
-- then the row). Both run in this process, side by side, at 5 and 200 agents.
--
--   mosaic run scripts/bench/agent-resolve.lua [RUNS]      (default 30)
--
-- Starts a tmux server on a socket of its own (mt-bench-<random>) with one session per
-- roster agent (`sleep`), in a temporary MOSAIC_HOME, prints medians, processes spawned
-- per lookup and the ratio, and removes everything it made.
local shared = dofile((arg[0]:match("^(.*)/") or ".") .. "/_bench.lua")
local host = require "mosaic._host"
local runs = tonumber(arg and arg[1]) or 30
local tag = ("mt-bench-%d-%d"):format(math.random(0, 1 << 30), math.floor(mosaic.now()))
local home = "/tmp/" .. tag
local roster = home .. "/fleet/roster.lua"

local run = shared.runner({ timeout = 60 })

local median = shared.median

local function fleet_of(n)
  local agents = {}
  for i = 1, n do
    agents[#agents + 1] = ("  { name = %q, runtime = \"stub\" },"):format(("a%04d"):format(i))
  end
  assert(mosaic.write_file(roster, ("return {\n  socket = %q,\n  agents = {\n%s\n  },\n}\n"):format(tag,
    table.concat(agents, "\n"))))
  -- One tmux call for all sessions: new-session for the first, then `;`-chained ones.
  local argv = { "tmux", "-L", tag, "-f", "/dev/null" }
  for i = 1, n do
    if i > 1 then
      argv[#argv + 1] = ";"
    end
    for _, w in ipairs({ "new-session", "-d", "-s", ("a%04d"):format(i), "sleep", "600" }) do
      argv[#argv + 1] = w
    end
  end
  run(argv)
end

local function measure(fn, name)
  local times, spawns = {}, 0
  for _ = 1, runs do
    local s0 = host.spawn_count()
    local t0 = mosaic.monotonic()
    local found, err = fn(name, { roster = roster, socket = tag })
    times[#times + 1] = (mosaic.monotonic() - t0) * 1000
    spawns = spawns + (host.spawn_count() - s0)
    assert(found, err)
  end
  return median(times), spawns / runs
end

run({ "mkdir", "-p", home .. "/fleet/run" })
run({ "chmod", "-R", "700", home })
local ok, err = pcall(function()
  print(("%-8s %-26s %10s %8s"):format("agents", "lookup", "median ms", "spawns"))
  for _, n in ipairs({ 5, 200 }) do
    fleet_of(n)
    local name = ("a%04d"):format(n)
    -- Alternate the two so that load on the machine falls on both alike.
    local r_ms, r_sp = measure(agent.resolve, name)
    local f_ms, f_sp = measure(fleet.agent, name)
    local r2, _ = measure(agent.resolve, name)
    local f2, _ = measure(fleet.agent, name)
    r_ms, f_ms = (r_ms + r2) / 2, (f_ms + f2) / 2
    print(("%-8d %-26s %10.2f %8.1f"):format(n, "agent.resolve (now)", r_ms, r_sp))
    print(("%-8d %-26s %10.2f %8.1f"):format(n, "fleet.agent (before)", f_ms, f_sp))
    print(("%-8d %-26s %10.2f"):format(n, "ratio resolve/fleet.agent", r_ms / f_ms))
    run({ "tmux", "-L", tag, "kill-server" })
  end
end)
mosaic.exec({ "tmux", "-L", tag, "kill-server" })
mosaic.exec({ "rm", "-rf", home, ("%s/tmux-%s/%s"):format(os.getenv("TMUX_TMPDIR") or "/tmp",
  mosaic.exec({ "id", "-u" }).stdout:gsub("%s+", ""), tag) })
if not ok then
  error(err, 0)
end
