-- Benchmark: `mosaic agent send --verify` from start to verdict against the real Claude Code
-- and Codex at idle, without and with their hooks wired (`mosaic hooks install`), beside a
-- bare `tmux send-keys -l TEXT` + `send-keys Enter` to the same pane.
--
--   mosaic run scripts/bench/agent-send-real.lua [RUNS]      (default 8 per case)
--
-- Uses the pinned builds (scripts/real-agents/fetch.sh, cached) and the project's fake model
-- server on 127.0.0.1; a tmux socket, MOSAIC_HOME and agent homes of its own, all removed
-- afterwards. Between sends it waits until the agent is idle again, so every send meets an
-- idle agent. The goal is a median under 300 ms to verdict. (The bare way is only timed:
-- Codex takes an Enter sent right after the text as a new line in its composer, so the
-- bench presses Enter once more, untimed, to submit the draft it left.)
local shared = dofile((arg[0]:match("^(.*)/") or ".") .. "/_bench.lua")
local runs = tonumber(arg and arg[1]) or 8
local exe = mosaic.executable()
local script = arg and arg[0] or "scripts/bench/agent-send-real.lua"
if script:sub(1, 1) ~= "/" then
  script = (os.getenv("PWD") or ".") .. "/" .. script
end
local repo = script:match("^(.*)/scripts/bench/[^/]*$") or "."
local tag = ("mt-bench-real-%d-%d"):format(math.random(0, 1 << 30), math.floor(mosaic.now()))
local home = "/tmp/" .. tag
local env = { MOSAIC_HOME = home, MOSAIC_ROSTER = home .. "/fleet/roster.lua", XDG_STATE_HOME = home .. "/state" }
local AGENTS = { { name = "bench-claude", runtime = "claude" }, { name = "bench-codex", runtime = "codex" } }

local function run(argv, opts)
  local r, err = mosaic.exec(argv, opts or { timeout = 60 })
  if not r then
    error(err, 2)
  end
  return r
end

local function must(r, what)
  if r.status ~= 0 then
    error(("%s failed (%d): %s"):format(what, r.status, r.stderr), 2)
  end
  return r
end

local function tmux(...)
  return run({ "tmux", "-L", tag, ... })
end

local median = shared.median

-- The agent's activity state, from `fleet ps` as an operator would run it.
local function state(name)
  local r = run({ exe, "fleet", "ps", "-o", "json", name }, { env = env, timeout = 30 })
  local ok, doc = pcall(mosaic.json.decode, r.stdout)
  local row = ok and doc.agents and doc.agents[1]
  return row and row.activity and row.activity.state
end

local function wait_idle(name, timeout)
  local deadline = mosaic.monotonic() + (timeout or 60)
  while mosaic.monotonic() < deadline do
    if state(name) == "idle" then
      return
    end
    mosaic.sleep(0.2)
  end
  local screen = tmux("capture-pane", "-p", "-t", "=" .. name .. ":").stdout:gsub("\n%s*\n", "\n")
  error(("%s did not become idle (activity %s); its screen:\n%s"):format(name, tostring(state(name)), screen))
end

local port
local commands = {}

local function setup()
  local fetch = must(run({ repo .. "/scripts/real-agents/fetch.sh" }, { timeout = 900 }), "fetch.sh")
  local bins = {}
  for k, v in fetch.stdout:gmatch("export (MOSAIC_%u+)=(%S+)") do
    bins[k] = v
  end
  must(run({ "mkdir", "-p", home .. "/fleet/run" }), "mkdir")
  must(run({ "chmod", "-R", "700", home }), "chmod")
  local roster = { ("return { socket = %q, heartbeat_interval = 5, agents = {"):format(tag) }
  for _, a in ipairs(AGENTS) do
    roster[#roster + 1] = ("  { name = %q, runtime = %q },"):format(a.name, a.runtime)
  end
  roster[#roster + 1] = "} }\n"
  assert(mosaic.write_file(env.MOSAIC_ROSTER, table.concat(roster, "\n")))
  -- The fake model in a tmux window of its own (so the bench never leaves it behind).
  must(tmux("new-session", "-d", "-s", "model", ("python3 %s/scripts/real-agents/fake-model.py --port 0 "
    .. "--port-file %s/port"):format(repo, home)), "fake model")
  for _ = 1, 100 do
    local f = io.open(home .. "/port")
    port = f and f:read("l")
    if f then
      f:close()
    end
    if port then
      break
    end
    mosaic.sleep(0.05)
  end
  assert(port, "the fake model server did not start")
  for _, a in ipairs(AGENTS) do
    local dir = home .. "/" .. a.name
    a.home, a.project = dir .. "/home", dir .. "/project"
    must(run({ "mkdir", "-p", a.home, a.project }), "mkdir")
    must(run({ repo .. "/scripts/real-agents/agent-home.sh", a.runtime, "--home", a.home, "--project", a.project,
      "--port", port }), "agent-home.sh")
    commands[a.name] = ("%s heartbeat %s -- sh -c 'cd %s && exec env MOSAIC_CLAUDE=%s MOSAIC_CODEX=%s "
      .. "%s/scripts/real-agents/launch.sh %s --home %s --project %s --port %s'"):format(exe, a.name, a.project,
      bins.MOSAIC_CLAUDE, bins.MOSAIC_CODEX, repo, a.runtime, a.home, a.project, port)
    a.pane = must(tmux("new-session", "-d", "-s", a.name, "-x", "200", "-y", "50", "-e", "MOSAIC_HOME=" .. home,
      "-P", "-F", "#{pane_id}", commands[a.name]), "new-session").stdout:match("%%%d+")
  end
  for _, a in ipairs(AGENTS) do
    wait_idle(a.name, 90)
  end
end

local function wire_hooks()
  must(run({ exe, "hooks", "install", "--all" }, { env = env, timeout = 60 }), "hooks install")
  for _, a in ipairs(AGENTS) do
    if a.runtime == "codex" then
      must(run({ repo .. "/scripts/real-agents/agent-home.sh", "codex", "--home", a.home, "--project", a.project,
        "--port", port, "--hooks-json", a.home .. "/hooks.json", "--trust-hooks" }, { timeout = 120 }),
        "trust codex hooks")
    end
    must(tmux("respawn-pane", "-k", "-t", a.pane, commands[a.name]), "respawn")
  end
  for _, a in ipairs(AGENTS) do
    wait_idle(a.name, 90)
  end
end

local function cleanup()
  local ok, r = pcall(tmux, "display-message", "-p", "#{socket_path}")
  pcall(tmux, "kill-server")
  local path = ok and r.status == 0 and r.stdout:match("^(/[^\n]+)")
  if path then
    os.remove(path)
  end
  local dirs = {}
  for _, a in ipairs(AGENTS) do
    dirs[#dirs + 1] = a.home
  end
  if #dirs > 0 then
    pcall(run, { repo .. "/scripts/real-agents/reap.sh", table.unpack(dirs) })
  end
  pcall(run, { "rm", "-rf", home })
end

local function bench(label_suffix)
  local rows = {}
  for _, a in ipairs(AGENTS) do
    local verify, bare, verdicts = {}, {}, {}
    for i = 1, runs do
      wait_idle(a.name)
      local t0 = mosaic.monotonic()
      local r = run({ exe, "agent", "send", "--json", "--verify", a.name, ("bench message %d"):format(i) },
        { env = env, timeout = 60 })
      verify[#verify + 1] = (mosaic.monotonic() - t0) * 1000
      local ok, result = pcall(mosaic.json.decode, r.stdout)
      local key = ok and result.verdict and (result.verdict .. "/" .. tostring(result.basis)) or ("exit " .. r.status)
      verdicts[key] = (verdicts[key] or 0) + 1
      if os.getenv("BENCH_DUMP") then
        local f = io.open(os.getenv("BENCH_DUMP"), "a")
        f:write(r.stdout, "\n", tmux("capture-pane", "-p", "-t", a.pane).stdout, "\n")
        f:close()
      end
      wait_idle(a.name)
      t0 = mosaic.monotonic()
      must(tmux("send-keys", "-t", a.pane, "-l", ("bare message %d"):format(i)), "send-keys")
      must(tmux("send-keys", "-t", a.pane, "Enter"), "send-keys Enter")
      bare[#bare + 1] = (mosaic.monotonic() - t0) * 1000
      -- Codex takes an Enter that follows the text at once as part of the paste (a new
      -- line in its composer): the bare way leaves a draft. Submit it, untimed.
      mosaic.sleep(0.5)
      must(tmux("send-keys", "-t", a.pane, "Enter"), "send-keys Enter")
      mosaic.sleep(1) -- the turn has begun before the next wait for idle
    end
    local seen = {}
    for k, n in pairs(verdicts) do
      seen[#seen + 1] = ("%s x%d"):format(k, n)
    end
    table.sort(seen)
    rows[#rows + 1] = { a.runtime .. label_suffix, median(verify), median(bare), table.concat(seen, ", ") }
  end
  return rows
end

local ok, rows = pcall(function()
  setup()
  local all = bench("")
  wire_hooks()
  for _, r in ipairs(bench(" + hooks")) do
    all[#all + 1] = r
  end
  return all
end)
cleanup()
if not ok then
  mosaic.die("bench agent-send-real: " .. tostring(rows))
end

print(("agent send --verify against the real programs at idle, %d runs each (socket %s, removed)"):format(runs, tag))
print(("%-16s %12s %12s %8s  %s"):format("target", "verify p50", "bare p50", "ratio", "verdicts"))
local worst = 0
for _, r in ipairs(rows) do
  print(("%-16s %9.1f ms %9.1f ms %7.1fx  %s"):format(r[1], r[2], r[3], r[2] / r[3], r[4]))
  worst = math.max(worst, r[2])
end
print(("goal: median under 300 ms to verdict: %s (worst median %.1f ms)"):format(
  worst < 300 and "met" or "NOT met", worst))
