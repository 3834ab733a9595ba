--- Benchmark: start-up of `mosaic -e ''` beside `lua5.4 -e ''`, measured side by side in
-- one run (median wall time over --runs runs each, interleaved), and mosaic's peak RSS.
-- --against PATH adds a second mosaic binary to the same run, e.g. the static release
-- build of scripts/package.sh against the dynamic one of scripts/run.sh:
--
--   mosaic run scripts/bench/startup.lua [--runs 200] [--mosaic PATH] [--against PATH]
local cli = require "mosaic.cli"
local shared = dofile((arg[0]:match("^(.*)/") or ".") .. "/_bench.lua")

local parser = cli.parser("startup.lua", "Start-up time of mosaic -e '' against lua5.4 -e ''.")
parser:option("--runs", "Runs of each command.", "200"):convert(cli.positive("--runs"))
parser:option("--mosaic", "The mosaic binary to measure (default: this one).")
parser:option("--against", "Another mosaic binary, measured in the same run.")
local opts = cli.parse(parser, { ... })
local exe = opts.mosaic or mosaic.executable()

local median = shared.median

local commands = {
  { name = "mosaic -e ''", argv = { exe, "-e", "" }, exe = exe },
}
if opts.against then
  commands[1].name = "mosaic"
  commands[2] = { name = "against", argv = { opts.against, "-e", "" }, exe = opts.against }
end
commands[#commands + 1] = { name = "lua5.4 -e ''", argv = { "lua5.4", "-e", "" } }
local samples = {}
for i = 1, #commands do
  samples[i] = {}
end
for _ = 1, math.floor(opts.runs) do
  for i, c in ipairs(commands) do
    local t0 = mosaic.monotonic()
    local r = assert(mosaic.exec(c.argv))
    samples[i][#samples[i] + 1] = (mosaic.monotonic() - t0) * 1000
    assert(r.status == 0, c.name .. " failed: " .. r.stderr)
  end
end

-- Peak RSS in MB: the median of 21 runs under /usr/bin/time.
local function peak_rss(path)
  local kb = {}
  for _ = 1, 21 do
    local r = assert(mosaic.exec({ "/usr/bin/time", "-f", "%M", path, "-e", "" }))
    kb[#kb + 1] = tonumber(r.stderr:match("(%d+)%s*$"))
  end
  return median(kb) / 1024
end

print(("%d runs each, interleaved"):format(math.floor(opts.runs)))
local medians = {}
for i, c in ipairs(commands) do
  medians[i] = median(samples[i])
  local rss = c.exe and ("  peak RSS %5.1f MB"):format(peak_rss(c.exe)) or ""
  print(("%-14s median %6.2f ms%s%s"):format(c.name, medians[i], rss, c.exe and ("  " .. c.exe) or ""))
end
print(("ratio mosaic/lua5.4 %.1fx; goal: mosaic under 10 ms"):format(medians[1] / medians[#medians]))
if opts.against then
  print(("ratio mosaic/against %.2fx"):format(medians[1] / medians[2]))
end
