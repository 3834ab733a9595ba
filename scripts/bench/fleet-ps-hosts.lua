--- Benchmark: `mosaic fleet ps --json` with other hosts over ssh (SPEC 2.12), measured side by
-- side in one run (round robin, medians): this host alone, with one remote host, with three,
-- and one bare round trip (ssh through the shared connection to the remote `fleet ps`).
-- The fan-out must cost one round trip plus the remote fleet ps, not their sum: the
-- "three/one extra" ratio is (three - local) / (one - local), about 1 when the hosts are
-- asked at the same time, about 3 when one after the other.
-- Then a model of 50 hosts x 200 agents from measured parts: the fan-out of 50 children,
-- the merge of 50 answers of 200 rows, and fleet ps at 200 agents.
--
--   mosaic run scripts/bench/fleet-ps-hosts.lua [--runs 15] [--agents 5] [--mosaic PATH]
--
-- Needs root: the remote hosts are scripts/second-host.sh hosts (a user, sshd in a UTS
-- namespace). Everything is removed at the end.
local cli = require "mosaic.cli"
local json = require "mosaic.json"
local shared = dofile((arg[0]:match("^(.*)/") or ".") .. "/_bench.lua")
local hosts = require "mosaic.hosts"

local parser = cli.parser("fleet-ps-hosts.lua", "Benchmark fleet ps across hosts over ssh.")
parser:option("--runs", "Timed runs per measurement.", "15"):convert(cli.positive("--runs"))
parser:option("--agents", "Stub agents per remote host.", "5"):convert(cli.positive("--agents"))
parser:option("--mosaic", "The mosaic binary to measure (default: this one).")
local opts = cli.parse(parser, { ... })

local exe = opts.mosaic or mosaic.executable()
local here = debug.getinfo(1, "S").source:match("^@(.*)/bench/[^/]*$") or "scripts"
local script = here .. "/second-host.sh"
local tag = ("mtph%x"):format(math.floor(mosaic.now() * 1000) % 0xffffff)
local dir = (os.getenv("TMPDIR") or "/tmp") .. "/" .. tag
local home = dir .. "/local"
local env = { MOSAIC_HOME = home }

local run = shared.runner({ timeout = 180, env = env })

local median = shared.median

local names = { "h1", "h2", "h3" }
local roster_hosts = {}
local function cleanup()
  for _, h in ipairs(roster_hosts) do
    local control = home .. "/fleet/run/ssh/%C"
    local argv = { "ssh", "-O", "exit", "-o", "ControlPath=" .. control }
    for _, o in ipairs(h.ssh_options) do
      argv[#argv + 1] = "-o"
      argv[#argv + 1] = o
    end
    argv[#argv + 1] = h.ssh
    run(argv, true)
  end
  run({ script, "cleanup", dir }, true)
  run({ script, "stop-manager" }, true)
end

local ok, err = pcall(function()
  io.stderr:write("setting up 3 hosts...\n")
  for i, name in ipairs(names) do
    local agents = {}
    for a = 1, opts.agents do
      agents[a] = ("a%d"):format(a)
    end
    local r = run({ script, "up", dir, tag .. name, exe, table.unpack(agents) })
    local options_file = r.stdout:match("OPTIONS=(%S+)")
    local options = {}
    for line in io.lines(options_file) do
      options[#options + 1] = line
    end
    roster_hosts[i] = { name = tag .. name, ssh = r.stdout:match("SSH=(%S+)"), mosaic = r.stdout:match("MOSAIC=(%S+)"),
      ssh_options = options }
  end
  run({ "mkdir", "-p", home .. "/fleet" })
  run({ "chmod", "700", home })

  -- Rosters: local agents (no sessions), plus 0, 1 or 3 hosts with their agents.
  local function roster(n)
    local lines = { "return {", ("  socket = %q,"):format(tag), "  hosts = {" }
    for i = 1, n do
      local h = roster_hosts[i]
      local o = {}
      for _, x in ipairs(h.ssh_options) do
        o[#o + 1] = ("%q"):format(x)
      end
      lines[#lines + 1] = ("    [%q] = { ssh = %q, mosaic = %q, ssh_options = { %s } },"):format(
        h.name, h.ssh, h.mosaic, table.concat(o, ", "))
    end
    lines[#lines + 1] = "  },"
    lines[#lines + 1] = "  agents = {"
    for a = 1, opts.agents do
      lines[#lines + 1] = ("    { name = %q, runtime = \"stub\" },"):format("l" .. a)
    end
    for i = 1, n do
      for a = 1, opts.agents do
        local h = roster_hosts[i].name
        lines[#lines + 1] = ("    { name = %q, runtime = \"stub\", host = %q, unit = %q },"):format(
          ("h%d-a%d"):format(i, a), h, ("mt-%s-agent@a%d.service"):format(h, a))
      end
    end
    lines[#lines + 1] = "  },"
    lines[#lines + 1] = "}"
    local path = ("%s/fleet/roster-%d.lua"):format(home, n)
    assert(mosaic.write_file(path, table.concat(lines, "\n") .. "\n", tonumber("600", 8)))
    return path
  end
  local variants = {
    { name = "local", argv = { exe, "fleet", "ps", "--json", "--roster", roster(0) } },
    { name = "one", argv = { exe, "fleet", "ps", "--json", "--roster", roster(1) } },
    { name = "three", argv = { exe, "fleet", "ps", "--json", "--roster", roster(3) } },
  }
  -- The bare round trip: ssh through the shared connection to the remote fleet ps, as the
  -- fan-out runs it (the ControlPath is this MOSAIC_HOME's).
  variants[#variants + 1] = { name = "round trip",
    argv = hosts.ssh_argv(roster_hosts[1], { "fleet", "ps", "--json" }, { run = home .. "/fleet/run" }) }

  for _, v in ipairs(variants) do -- warm up (and open the shared connections)
    run(v.argv)
    v.times = {}
  end
  for _ = 1, opts.runs do
    for _, v in ipairs(variants) do
      local t0 = mosaic.monotonic()
      local r = run(v.argv)
      v.times[#v.times + 1] = (mosaic.monotonic() - t0) * 1000
      if v.name == "three" then
        local doc = assert(json.decode(r.stdout))
        for _, h in ipairs(doc.hosts) do
          assert(h.reachable, "host " .. h.name .. " unreachable: " .. tostring(h.error))
        end
      end
    end
  end
  -- The fan-out alone, in this process (no local fleet ps to blur it): one host, three at
  -- once, and the same three one after another.
  local run_dir = home .. "/fleet/run"
  local ps_argv = { "fleet", "ps", "--json" }
  local function fan_ms(list)
    local t0 = mosaic.monotonic()
    for _, a in ipairs(hosts.fan_out(list, ps_argv, 60, run_dir)) do
      assert(a.result.status == 0, "fan-out: " .. tostring(a.result.stderr or a.result.error))
    end
    return (mosaic.monotonic() - t0) * 1000
  end
  local fan_variants = {
    { name = "fan-out 1", fn = function() return fan_ms({ roster_hosts[1] }) end },
    { name = "fan-out 3", fn = function() return fan_ms(roster_hosts) end },
    { name = "3 in a row", fn = function()
      local t = 0
      for _, h in ipairs(roster_hosts) do
        t = t + fan_ms({ h })
      end
      return t
    end },
  }
  for _, v in ipairs(fan_variants) do
    v.fn()
    v.times = {}
  end
  for _ = 1, opts.runs do
    for _, v in ipairs(fan_variants) do
      v.times[#v.times + 1] = v.fn()
    end
  end

  local m = {}
  print(("fleet ps --json, %d local agents, %d per remote host, %d runs each (median ms):"):format(opts.agents,
    opts.agents, opts.runs))
  for _, v in ipairs(variants) do
    m[v.name] = median(v.times)
    print(("  %-11s %8.1f"):format(v.name, m[v.name]))
  end
  print(("  one / local                      %6.2f"):format(m.one / m["local"]))
  print(("  three / local                    %6.2f"):format(m.three / m["local"]))
  print(("  three / one                      %6.2f"):format(m.three / m.one))
  print(("  three extra / one extra          %6.2f   (1 = hosts in parallel, 3 = one after another)"):format(
    (m.three - m["local"]) / math.max(0.001, m.one - m["local"])))
  print(("  one extra / round trip           %6.2f   (the fan-out costs one round trip plus the remote ps)"):format(
    (m.one - m["local"]) / m["round trip"]))
  print(("  three / (local + 3 round trips)  %6.2f   (below 1: not their sum)"):format(
    m.three / (m["local"] + 3 * m["round trip"])))
  print("the fan-out alone (remote fleet ps over ssh, in this process, median ms):")
  for _, v in ipairs(fan_variants) do
    m[v.name] = median(v.times)
    print(("  %-11s %8.1f"):format(v.name, m[v.name]))
  end
  print(("  fan-out 3 / fan-out 1            %6.2f   (1 = in parallel; the 3 hosts share this machine's CPUs)"):format(
    m["fan-out 3"] / m["fan-out 1"]))
  print(("  3 in a row / fan-out 3           %6.2f"):format(m["3 in a row"] / m["fan-out 3"]))

  -- The model: 50 hosts x 200 agents, from measured parts.
  print("\nmodel: 50 hosts x 200 agents")
  -- (a) fan-out overhead: 50 children at once vs one (a program that answers at once).
  local function fan(n)
    local reqs = {}
    for i = 1, n do
      reqs[i] = { argv = { "/bin/true" }, timeout = 10 }
    end
    local t0 = mosaic.monotonic()
    mosaic.exec_many(reqs)
    return (mosaic.monotonic() - t0) * 1000
  end
  local f1, f50 = {}, {}
  for _ = 1, opts.runs do
    f1[#f1 + 1] = fan(1)
    f50[#f50 + 1] = fan(50)
  end
  local fan1, fan50 = median(f1), median(f50)
  -- (b) merging 50 answers of 200 rows (decode + merge), in this process.
  local remote = assert(json.decode(run(variants[4].argv).stdout))
  local row = remote.agents[1]
  local text_rows = {}
  for i = 1, 200 do
    local r = json.decode(json.encode(row))
    r.name = ("a%d"):format(i)
    text_rows[i] = r
  end
  remote.agents = json.array(text_rows)
  local answers_text = json.encode(remote)
  local merge_times = {}
  local local_text = run(variants[1].argv).stdout
  for _ = 1, math.max(3, opts.runs // 3) do
    local answers = {}
    for i = 1, 50 do
      local text = answers_text:gsub('"host": ?"' .. remote.host:gsub("%p", "%%%0") .. '"', '"host":"m' .. i .. '"')
      answers[i] = { name = "m" .. i, ssh = "x", stdout = text }
    end
    local t0 = mosaic.monotonic()
    local out = assert(hosts.merge_json(local_text, answers, "here"))
    merge_times[#merge_times + 1] = (mosaic.monotonic() - t0) * 1000
    local merged_rows = select(2, out:gsub('"tenant_id"', ""))
    assert(merged_rows >= 50 * 200, "merged " .. merged_rows)
  end
  local merge = median(merge_times)
  -- (c) fleet ps at 200 agents on one host: the local ps of 200 rostered agents (no sessions:
  -- a floor; see scripts/bench/fleet-ps.lua for 200 live agents).
  local lines = { "return { socket = " .. ("%q"):format(tag) .. ", agents = {" }
  for i = 1, 200 do
    lines[#lines + 1] = ("{ name = %q, runtime = \"stub\" },"):format("b" .. i)
  end
  lines[#lines + 1] = "} }"
  local r200 = home .. "/fleet/roster-200.lua"
  assert(mosaic.write_file(r200, table.concat(lines, "\n"), tonumber("600", 8)))
  local p200 = {}
  for _ = 1, opts.runs do
    local t0 = mosaic.monotonic()
    run({ exe, "fleet", "ps", "--json", "--roster", r200 })
    p200[#p200 + 1] = (mosaic.monotonic() - t0) * 1000
  end
  local ps200 = median(p200)
  local rt = m["round trip"] - m["local"]
  print(("  fan-out of 1 child          %8.1f ms"):format(fan1))
  print(("  fan-out of 50 children      %8.1f ms  (ratio %.1f for 50x the children)"):format(fan50, fan50 / fan1))
  print(("  merge 50 x 200 rows (JSON)  %8.1f ms  (decode 50 answers, join, encode %d kB)"):format(merge,
    #answers_text * 50 // 1024))
  print(("  fleet ps, 200 agents        %8.1f ms  (each host, at the same time)"):format(ps200))
  print(("  ssh round trip (measured)   %8.1f ms  (round trip less a local fleet ps; loopback: add the RTT)"):format(
    math.max(0, rt)))
  local total = ps200 + fan50 + math.max(0, rt) + ps200 + merge
  print(("  modelled fleet ps           %8.1f ms  = local ps + fan-out + round trip + remote ps + merge"):format(total))
  print(("  one after another instead   %8.1f ms"):format(ps200 + 50 * (math.max(0, rt) + ps200) + merge))
  print("  connections: 50 ssh masters on this host (one TCP connection each, kept ControlPersist=" ..
    hosts.PERSIST .. " s after the last use); per fleet ps 50 short ssh mux clients, 50 threads and 150 pipes")
  print("  here; on each host one sshd session (per master) and one mosaic process per call.")
end)
cleanup()
if not ok then
  io.stderr:write("fleet-ps-hosts: ", tostring(err), "\n")
  os.exit(1)
end
