-- Benchmark: `mosaic agent send --verify` from start to verdict, beside a bare
-- `tmux send-keys -l TEXT` + `send-keys Enter`, against the stub agent and `python3 -i`.
--
--   mosaic run scripts/bench/agent-send.lua [RUNS]      (default 20)
--
-- Starts a tmux server on a socket of its own (mt-bench-<random>) with a temporary
-- MOSAIC_HOME and roster, runs every send as a subprocess (as an operator's script
-- would), prints a table of medians, and removes everything it made. The goal is a
-- median under 300 ms to verdict. The stub "works" 100-300 ms on every line before it
-- answers, so its rows measure mostly that.
local shared = dofile((arg[0]:match("^(.*)/") or ".") .. "/_bench.lua")
local runs = tonumber(arg and arg[1]) or 20
local exe = mosaic.executable()
local tag = ("mt-bench-%d-%d"):format(math.random(0, 1 << 30), math.floor(mosaic.now()))
local home = "/tmp/" .. tag
local env = { MOSAIC_HOME = home, MOSAIC_ROSTER = home .. "/fleet/roster.lua" }

local function run(argv, opts)
  local r, err = mosaic.exec(argv, opts or { timeout = 30 })
  if not r then
    error(err, 2)
  end
  return r
end

local function tmux(...)
  return run({ "tmux", "-L", tag, ... })
end

local function must(r, what)
  if r.status ~= 0 then
    error(("%s failed (%d): %s"):format(what, r.status, r.stderr), 2)
  end
  return r
end

local function wait_for(pane, text)
  local deadline = mosaic.monotonic() + 10
  while mosaic.monotonic() < deadline do
    if tmux("capture-pane", "-p", "-t", pane).stdout:find(text, 1, true) then
      return
    end
    mosaic.sleep(0.05)
  end
  error(("pane %s never showed %q"):format(pane, text))
end

local median = shared.median

local function percentile(xs, p)
  local s = {}
  for i, v in ipairs(xs) do
    s[i] = v
  end
  table.sort(s)
  return s[math.max(1, math.ceil(#s * p))]
end

local function setup()
  must(run({ "mkdir", "-p", home .. "/fleet/run" }), "mkdir")
  must(run({ "chmod", "-R", "700", home }), "chmod")
  assert(mosaic.write_file(env.MOSAIC_ROSTER, ([[
return {
  socket = %q,
  heartbeat_interval = 5,
  agents = { { name = "bench-stub", runtime = "stub" } },
}
]]):format(tag)))
  local panes = {}
  local sessions = {
    { "bench-stub", exe .. " agent stub bench-stub --interval 5", "stub>" },
    { "bench-py", "python3 -q -i", ">>>" },
  }
  for _, s in ipairs(sessions) do
    local r = must(tmux("new-session", "-d", "-s", s[1], "-x", "120", "-y", "40",
      "-e", "MOSAIC_HOME=" .. home, "-e", "PYTHONSTARTUP=", "-P", "-F", "#{pane_id}", s[2]), "new-session")
    panes[s[1]] = r.stdout:match("%%%d+")
    wait_for(panes[s[1]], s[3])
  end
  return panes
end

local function cleanup()
  -- tmux 3.3a leaves its socket file behind when the server is killed.
  local ok, r = pcall(tmux, "display-message", "-p", "#{socket_path}")
  pcall(tmux, "kill-server")
  local path = ok and r.status == 0 and r.stdout:match("^(/[^\n]+)")
  if path then
    os.remove(path)
  end
  pcall(run, { "rm", "-rf", home })
end

local function bench(panes)
  local cases = {
    { label = "stub (prompt)", agent = "bench-stub", extra = {}, text = "bench line %d", settle = 0.4 },
    { label = "stub --nonce (ack)", agent = "bench-stub", extra = { "--nonce" }, text = "bench line %d", settle = 0.4 },
    { label = "python3 -i (prompt)", agent = "bench-py", extra = {}, text = "x = %d", settle = 0.1 },
  }
  local rows = {}
  for _, c in ipairs(cases) do
    local verify, bare, verdicts = {}, {}, {}
    local pane = panes[c.agent]
    for i = 1, runs do
      local text = c.text:format(i)
      local argv = { exe, "agent", "send", "--json", "--verify", c.agent }
      for _, e in ipairs(c.extra) do
        argv[#argv + 1] = e
      end
      argv[#argv + 1] = text
      local t0 = mosaic.monotonic()
      local r = run(argv, { env = env, timeout = 30 })
      verify[#verify + 1] = (mosaic.monotonic() - t0) * 1000
      local result = mosaic.json.decode(r.stdout)
      local key = result.verdict and (result.verdict .. "/" .. tostring(result.basis)) or ("exit " .. r.status)
      verdicts[key] = (verdicts[key] or 0) + 1

      -- The bare way, to the same pane, for scale; then let the agent finish the line.
      t0 = mosaic.monotonic()
      must(tmux("send-keys", "-t", pane, "-l", text), "send-keys")
      must(tmux("send-keys", "-t", pane, "Enter"), "send-keys Enter")
      bare[#bare + 1] = (mosaic.monotonic() - t0) * 1000
      mosaic.sleep(c.settle)
    end
    local seen = {}
    for k, n in pairs(verdicts) do
      seen[#seen + 1] = ("%s x%d"):format(k, n)
    end
    table.sort(seen)
    rows[#rows + 1] = {
      c.label, median(verify), percentile(verify, 0.9), median(bare), table.concat(seen, ", "),
    }
  end
  return rows
end

local ok, rows = pcall(function()
  return bench(setup())
end)
cleanup()
if not ok then
  mosaic.die("bench agent-send: " .. tostring(rows))
end

print(("agent send --verify, %d runs each (tmux socket %s, removed)"):format(runs, tag))
print(("%-22s %12s %10s %12s %7s  %s"):format("target", "verify p50", "p90", "bare p50", "ratio", "verdicts"))
local worst = 0
for _, r in ipairs(rows) do
  print(("%-22s %9.1f ms %7.1f ms %9.1f ms %6.1fx  %s"):format(r[1], r[2], r[3], r[4], r[2] / r[4], r[5]))
  worst = math.max(worst, r[2])
end
print("(the stub works 100-300 ms on each line before it answers; python3 answers at once)")
print(("goal: median under 300 ms to verdict: %s (worst median %.1f ms)"):format(
  worst < 300 and "met" or "NOT met", worst))
