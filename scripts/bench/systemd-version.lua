--- Benchmark: what it costs to learn the user manager's systemd version, which gates the
-- in-process unit-file index (SystemctlPlane.verifiedSystemdVersions), measured side by side
-- in one run: spawning `systemctl --user --version` against one read of the manager's
-- /proc/<pid>/maps and a match for `libsystemd-shared-<version>` (what
-- UserManagerProcess.systemdVersion does, there after one connect to the manager's private
-- socket for its pid, and only once per manager pid in a process). Lua's io reads the file in
-- smaller pieces than the host does (the kernel rebuilds the text at each read), so the maps
-- figure here is an upper bound: IntegrationTests' SystemdUnitFileStateTests prints the host's
-- own (about 0.2 ms on a 2-core VM, 30 us once cached, against 5-7 ms for the spawn).
--
--   mosaic run scripts/bench/systemd-version.lua [--runs 200]
local cli = require "mosaic.cli"
local shared = dofile((arg[0]:match("^(.*)/") or ".") .. "/_bench.lua")

local parser = cli.parser("systemd-version.lua", "Cost of reading the user manager's systemd version.")
parser:option("--runs", "Runs of each way.", "200"):convert(cli.positive("--runs"))
local opts = cli.parse(parser, { ... })

local median = shared.median

-- The manager's pid, found once, outside the timings.
local uid = assert(mosaic.exec({ "id", "-u" })).stdout:match("%d+")
local found = assert(mosaic.exec({ "pgrep", "-u", uid, "-x", "systemd" }))
local pid = found.stdout:match("%d+")
assert(pid, "no systemd --user manager runs for uid " .. uid .. " (scripts/user-manager.sh starts one)")

local function from_maps()
  local f = assert(io.open("/proc/" .. pid .. "/maps", "rb"))
  local text = f:read("a")
  f:close()
  return tonumber(text:match("/libsystemd%-shared%-(%d+)")), #text
end

local function from_systemctl()
  local r = assert(mosaic.exec({ "systemctl", "--user", "--version" }))
  assert(r.status == 0, "systemctl --user --version failed: " .. r.stderr)
  return tonumber(r.stdout:match("^systemd (%d+)"))
end

local maps_version, maps_size = from_maps()
local spawn_version = from_systemctl()
assert(maps_version == spawn_version, ("maps says %s, systemctl says %s"):format(maps_version, spawn_version))

local spawn, maps = {}, {}
for _ = 1, math.floor(opts.runs) do
  local t0 = mosaic.monotonic()
  from_systemctl()
  spawn[#spawn + 1] = (mosaic.monotonic() - t0) * 1e6
  t0 = mosaic.monotonic()
  from_maps()
  maps[#maps + 1] = (mosaic.monotonic() - t0) * 1e6
end
local s, m = median(spawn), median(maps)
print(("systemd %d; %d runs each, interleaved"):format(maps_version, math.floor(opts.runs)))
print(("systemctl --user --version    median %8.1f us"):format(s))
print(("/proc/%s/maps (%d bytes)  median %8.1f us"):format(pid, maps_size, m))
print(("ratio spawn/maps %.0fx"):format(s / m))
