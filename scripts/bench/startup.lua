--- Benchmark: start-up of `mosaic -e ''` beside `lua5.4 -e ''`, measured side by side in
-- one run (median wall time over --runs runs each, interleaved), and mosaic's peak RSS.
--
--   mosaic run scripts/bench/startup.lua [--runs 200] [--mosaic PATH]
local cli = require "mosaic.cli"

local parser = cli.parser("startup.lua", "Start-up time of mosaic -e '' against lua5.4 -e ''.")
parser:option("--runs", "Runs of each command.", "200"):convert(cli.positive("--runs"))
parser:option("--mosaic", "The mosaic binary to measure (default: this one).")
local opts = cli.parse(parser, { ... })
local exe = opts.mosaic or mosaic.executable()

local function median(xs)
  table.sort(xs)
  local n = #xs
  return n % 2 == 1 and xs[(n + 1) // 2] or (xs[n // 2] + xs[n // 2 + 1]) / 2
end

local commands = {
  { name = "mosaic -e ''", argv = { exe, "-e", "" } },
  { name = "lua5.4 -e ''", argv = { "lua5.4", "-e", "" } },
}
local samples = { {}, {} }
for _ = 1, math.floor(opts.runs) do
  for i, c in ipairs(commands) do
    local t0 = mosaic.monotonic()
    local r = assert(mosaic.exec(c.argv))
    samples[i][#samples[i] + 1] = (mosaic.monotonic() - t0) * 1000
    assert(r.status == 0, c.name .. " failed: " .. r.stderr)
  end
end
local rss = assert(mosaic.exec({ "/usr/bin/time", "-f", "%M", exe, "-e", "" }))
local peak = tonumber(rss.stderr:match("(%d+)%s*$"))

print(("%s, %d runs each, interleaved"):format(exe, math.floor(opts.runs)))
local m1, m2 = median(samples[1]), median(samples[2])
print(("%-14s median %6.2f ms"):format(commands[1].name, m1))
print(("%-14s median %6.2f ms"):format(commands[2].name, m2))
print(("ratio %.1fx; mosaic peak RSS %.1f MB; goal: mosaic under 10 ms"):format(m1 / m2, peak / 1024))
