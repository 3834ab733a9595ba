--- Benchmark: `mosaic fleet ps --json` at 5, 200 and 1000 agents on a real tmux server and
-- a real systemd user manager, beside the floor (one `tmux list-panes -a` plus one
-- `systemctl --user list-units` for the same units, back to back) and the naive way (one
-- `tmux display` and one `systemctl show` per agent), measured side by side in one run.
--
--   mosaic run scripts/bench/fleet-ps.lua [--sizes 5,200,1000] [--runs 15] [--mosaic PATH]
--     [--screens text|blank] [--naive-max 200]
--
-- Every agent is a Claude without a status file, so each one's `activity` needs its screen
-- (the dialogs a starting Claude may show). `--screens text` (the default) fills each pane
-- with 45 rows of text, as a real agent's screen is; `blank` leaves it empty. "first" is
-- the first `fleet ps` after the fleet started (every screen captured, one sample);
-- "fleet ps" the median of the runs after it (screens unchanged: verdicts kept).
-- "reads" is what reading the files fleet ps must read for each agent costs (its pane
-- process's stat, cmdline, children, environ and cwd link, its heartbeat file and the Claude
-- status file it looks for), each read once on one thread by mosaic's own reader and nothing
-- else done with them: fleet ps costs at least the floor's tmux and systemd answers plus these
-- reads, less what its second thread and the wait for tmux hide.
--
-- Uses a tmux socket, unit prefix and MOSAIC_HOME of its own; removes them at the end.
local cli = require "mosaic.cli"
local shared = dofile((arg[0]:match("^(.*)/") or ".") .. "/_bench.lua")

local parser = cli.parser("fleet-ps.lua", "Benchmark fleet ps against the floor and the naive way.")
parser:option("--sizes", "Fleet sizes.", "5,200,1000")
parser:option("--runs", "Timed runs per measurement.", "15"):convert(cli.positive("--runs"))
parser:option("--mosaic", "The mosaic binary to measure (default: this one).")
parser:option("--screens", "What the agents' panes show: text or blank.", "text")
parser:option("--naive-max", "Largest fleet the naive way is measured at (2 spawns an agent).", "200")
  :convert(cli.positive("--naive-max"))
local opts = cli.parse(parser, { ... })
if opts.screens ~= "text" and opts.screens ~= "blank" then
  io.stderr:write("fleet-ps.lua: --screens: text or blank expected\n")
  os.exit(2)
end

local exe = opts.mosaic or mosaic.executable()
local tag = ("mtb%x"):format(math.floor(mosaic.now() * 1000) % 0xffffff)
local socket, prefix = tag, tag .. "-"
local home = os.getenv("TMPDIR") or "/tmp"
home = home .. "/" .. tag
local unit_dir = (os.getenv("XDG_CONFIG_HOME") or (os.getenv("HOME") .. "/.config")) .. "/systemd/user"
local env = { MOSAIC_HOME = home }

local run = shared.runner({ timeout = 120, env = env })

local median = shared.median

local function timed(runs, fn)
  local samples = {}
  fn() -- warm-up
  for i = 1, runs do
    local t0 = mosaic.monotonic()
    fn()
    samples[i] = (mosaic.monotonic() - t0) * 1000
  end
  return median(samples)
end

-- The medians of `a` and `b`, timed alternately (a, b, a, b, ...) after one warm-up each.
local function interleaved(runs, a, b)
  local sa, sb = {}, {}
  a()
  b()
  for i = 1, runs do
    local t0 = mosaic.monotonic()
    a()
    local t1 = mosaic.monotonic()
    b()
    sa[i], sb[i] = (t1 - t0) * 1000, (mosaic.monotonic() - t1) * 1000
  end
  return median(sa), median(sb)
end

-- The reads fleet ps cannot avoid (see the top of this file), as a function to time.
local function reads_of_fleet()
  local listing = run({ "tmux", "-L", socket, "list-panes", "-a", "-F", "#{session_name} #{pane_pid}" })
  local paths = {}
  for name, pid in listing.stdout:gmatch("(%S+) (%d+)") do
    for _, file in ipairs({ "stat", "cmdline", "task/" .. pid .. "/children", "environ", "cwd" }) do
      paths[#paths + 1] = "/proc/" .. pid .. "/" .. file
    end
    paths[#paths + 1] = home .. "/fleet/run/" .. name .. ".hb"
    paths[#paths + 1] = os.getenv("HOME") .. "/.claude/sessions/" .. pid .. ".json"
  end
  local host = require("mosaic._host")
  -- The median of the host's own timing of the reads (the path list's conversion left out).
  return function(runs)
    local samples = {}
    host.read_files(paths) -- warm-up
    for i = 1, runs do
      local _, seconds = host.read_files(paths)
      samples[i] = seconds * 1000
    end
    return median(samples)
  end
end

local function names(n)
  local list = {}
  for i = 1, n do
    list[i] = ("a%03d"):format(i)
  end
  return list
end

local function unit(name)
  return prefix .. "agent@" .. name .. ".service"
end

local function setup(n)
  run({ "mkdir", "-p", home .. "/fleet/run", unit_dir })
  run({ "chmod", "700", home .. "/fleet/run" })
  assert(mosaic.write_file(home .. "/tmux.conf", "set -g exit-empty off\n", tonumber("644", 8)))
  local words = { "the", "agent", "build", "test", "fleet", "tmux", "pane", "status", "screen", "ok" }
  local rows = {}
  for r = 1, 45 do
    local row = {}
    for w = 1, 20 do
      row[w] = words[(r * 7 + w * 3) % #words + 1]
    end
    rows[r] = table.concat(row, " ")
  end
  assert(mosaic.write_file(home .. "/screen.txt", table.concat(rows, "\n") .. "\n", tonumber("644", 8)))
  local program = "sleep 100000"
  if opts.screens == "text" then
    program = ('/bin/sh -c "cat %s/screen.txt; exec sleep 100000"'):format(home)
  end
  assert(mosaic.write_file(unit_dir .. "/" .. prefix .. "tmux.service", table.concat({
    "[Unit]", "Description=bench tmux server", "[Service]", "Type=forking",
    ("ExecStart=/usr/bin/tmux -L %s -f %s/tmux.conf start-server"):format(socket, home),
    ("ExecStop=/usr/bin/tmux -L %s kill-server"):format(socket), "",
  }, "\n"), tonumber("644", 8)))
  assert(mosaic.write_file(unit_dir .. "/" .. prefix .. "agent@.service", table.concat({
    "[Unit]", "Description=bench agent %i", "Requires=" .. prefix .. "tmux.service",
    "After=" .. prefix .. "tmux.service", "[Service]", "Type=oneshot", "RemainAfterExit=yes",
    "KillMode=process",
    ("ExecStart=/usr/bin/tmux -L %s new-session -d -s %%i -x 200 -y 50 %s"):format(socket, program),
    ("ExecStop=/usr/bin/tmux -L %s kill-session -t =%%i"):format(socket),
    "[Install]", "WantedBy=default.target", "",
  }, "\n"), tonumber("644", 8)))
  local roster = { "return { socket = " .. ("%q"):format(socket) .. ", heartbeat_interval = 3600, agents = {" }
  local units, enable = {}, {}
  for i, name in ipairs(names(n)) do
    roster[#roster + 1] = ('{ name = "%s", runtime = "claude", match = "^sleep", unit = "%s" },')
      :format(name, unit(name))
    units[#units + 1] = unit(name)
    if i % 2 == 0 then
      enable[#enable + 1] = unit(name)
    end
  end
  roster[#roster + 1] = "} }\n"
  assert(mosaic.write_file(home .. "/fleet/roster.lua", table.concat(roster, "\n"), tonumber("644", 8)))
  run({ "systemctl", "--user", "daemon-reload" })
  if #enable > 0 then
    run({ "systemctl", "--user", "enable", table.unpack(enable) })
  end
  run({ "systemctl", "--user", "start", table.unpack(units) })
  -- Heartbeats in the fleet's run dir, so fleet ps reads n real files.
  run({ exe, "-e", ("for i = 1, %d do assert(heartbeat.write(('a%%03d'):format(i), {pid = 1})) end"):format(n) })
  return units
end

local function teardown(units)
  if units and #units > 0 then
    run({ "systemctl", "--user", "disable", table.unpack(units) }, true)
    run({ "systemctl", "--user", "stop", prefix .. "tmux.service", table.unpack(units) }, true)
  end
  run({ "tmux", "-L", socket, "kill-server" }, true)
  os.remove(unit_dir .. "/" .. prefix .. "tmux.service")
  os.remove(unit_dir .. "/" .. prefix .. "agent@.service")
  run({ "systemctl", "--user", "daemon-reload" }, true)
  run({ "rm", "-rf", home })
  local uid = run({ "id", "-u" }).stdout:gsub("%s", "")
  os.remove((os.getenv("TMUX_TMPDIR") or "/tmp") .. "/tmux-" .. uid .. "/" .. socket)
end

local function measure(n)
  -- Set up inside the pcall too, so a setup that fails half way is still removed.
  local units = {}
  for _, name in ipairs(names(n)) do
    units[#units + 1] = unit(name)
  end
  local ok, result = pcall(function()
    setup(n)
    -- fleet ps keeps a screen's verdict only from a capture a whole second after the pane's
    -- last output: wait that second, so the first run captures and keeps every screen and
    -- the timed runs measure a fleet whose screens are still, at every size alike.
    mosaic.sleep(1.2)
    local ps = { exe, "fleet", "ps", "--json" }
    local t0 = mosaic.monotonic()
    local check = run(ps)
    local first = (mosaic.monotonic() - t0) * 1000
    local snapshot = assert(mosaic.json.decode(check.stdout))
    assert(#snapshot.agents == n, ("expected %d rows, got %d"):format(n, #snapshot.agents))
    for _, row in ipairs(snapshot.agents) do
      assert(row.pane.state == "alive" and row.systemd.active == "active", row.name .. " not up")
    end
    local r = { first = first }
    -- fleet ps and the floor alternate, run by run, so a change in the machine's speed
    -- (other jobs on a shared VM) falls on both alike and their ratio holds.
    r.ps, r.floor = interleaved(opts.runs, function()
      run(ps)
    end, function()
      run({ "tmux", "-L", socket, "list-panes", "-a", "-F", "#{session_name} #{pane_id} #{pane_pid}" })
      run({ "systemctl", "--user", "list-units", "--all", "--plain", "--no-legend", table.unpack(units) })
    end)
    r.reads = reads_of_fleet()(opts.runs)
    if n <= opts.naive_max then
      r.naive = timed(math.max(1, math.min(opts.runs, 3)), function()
        for i, name in ipairs(names(n)) do
          run({ "tmux", "-L", socket, "display", "-p", "-t", "=" .. name .. ":", "#{pane_id} #{pane_pid}" })
          run({ "systemctl", "--user", "show", units[i], "-p", "Id,ActiveState,SubState,UnitFileState" })
        end
      end)
    end
    local count = run({ exe, "-e", "assert(fleet.ps()) io.write(require('mosaic._host').spawn_count())" })
    r.spawns = tonumber(count.stdout)
    local rss = run({ "/usr/bin/time", "-f", "%M", exe, "fleet", "ps", "--json" })
    r.rss = tonumber(rss.stderr:match("(%d+)%s*$")) / 1024
    return r
  end)
  teardown(units)
  if not ok then
    error(result, 0)
  end
  return result
end

print(("mosaic fleet ps benchmark: %s, %d timed runs each (median), %s screens, host %s"):format(exe,
  opts.runs, opts.screens, mosaic.hostname()))
print()
local fmt = "%-7s %14s %11s %10s %11s %14s %11s %22s %11s %7s %13s"
print(fmt:format("agents", "fleet ps (ms)", "floor (ms)", "first (ms)", "ps / floor", "first / floor",
  "reads (ms)", "(floor+reads) / floor", "naive / ps", "spawns", "peak RSS (MB)"))
for size in opts.sizes:gmatch("%d+") do
  local n = tonumber(size)
  local r = measure(n)
  print(fmt:format(n, ("%.1f"):format(r.ps), ("%.1f"):format(r.floor), ("%.0f"):format(r.first),
    ("%.2fx"):format(r.ps / r.floor), ("%.2fx"):format(r.first / r.floor),
    ("%.1f"):format(r.reads), ("%.2fx"):format((r.floor + r.reads) / r.floor),
    r.naive and ("%.1fx"):format(r.naive / r.ps) or "-", tostring(r.spawns), ("%.1f"):format(r.rss)))
end
print()
print("Goals at 200 and 1000 agents: fleet ps within 1.5x the floor, at least 20x faster than naive")
print("(at 200), the same number of spawns at every size, peak RSS under 30 MB.")
