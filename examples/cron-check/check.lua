#!/usr/bin/env mosaic
--- The cron wrapper around `mosaic fleet check`: log the verdict, notify on state changes,
-- refresh the Prometheus textfile.
--
--   mosaic run examples/cron-check/check.lua [--textfile FILE] [--state FILE] [--notify-always]
--       [--check-timeout S] [--tenant T] [--agent NAME]... [--ignore CODE]... [--roster F]
--       [--socket S] [-- NOTIFY-COMMAND ARGS...]
--
-- Each run: `mosaic fleet check --json` (in a child with its own deadline), its plugin
-- output on stdout (the journal, under the systemd timer of install.lua); when the state
-- differs from the last run's (remembered in --state, default <run>/cron-check.json), or
-- on every non-OK run with --notify-always, NOTIFY-COMMAND runs with the plugin output on
-- stdin and MOSAIC_CHECK_STATE, MOSAIC_CHECK_PREVIOUS, MOSAIC_CHECK_SUMMARY in its
-- environment, e.g.  -- mail -s "mosaic fleet" ops@example.com   or   -- logger -t mosaic.
-- With --textfile, `mosaic fleet export` refreshes that .prom file too.
--
-- Exit status: 0 when the wrapper did its job, whatever the fleet's state (the verdict is
-- in the output and the state file); 1 when the check could not be run or the notifier
-- or the export failed, so the systemd unit shows failed only for a broken wrapper.
local cli = require "mosaic.cli"
local check = require "mosaic.check"
local json = mosaic.json

local parser = cli.parser("check.lua", "Runs mosaic fleet check for cron: logs, notifies on state changes.")
parser:option("--textfile", "Also write the Prometheus textfile FILE (name it *.prom)."):argname("FILE")
parser:option("--state", "Where the last state is remembered (default <run>/cron-check.json)."):argname("FILE")
parser:flag("--notify-always", "Notify on every run that is not OK, not only on changes.")
parser:option("--check-timeout", "The check's --timeout.", "20"):convert(cli.positive("--check-timeout"))
parser:option("--tenant", "Only agents of this tenant.")
parser:option("--agent", "Only this agent (repeatable)."):count("*"):argname("NAME")
parser:option("--ignore", "Problem code to leave out (repeatable)."):count("*"):argname("CODE")
parser:option("--roster", "Roster file.")
parser:option("--socket", "tmux socket name.")
parser:argument("notify", "Command to run on a state change (after --)."):args("*")
local opts = cli.parse(parser, { ... })

local exe = mosaic.executable()
local function scoped(argv)
  for _, pair in ipairs({ { "--tenant", opts.tenant }, { "--roster", opts.roster }, { "--socket", opts.socket } }) do
    if pair[2] then
      argv[#argv + 1] = pair[1]
      argv[#argv + 1] = pair[2]
    end
  end
  return argv
end

local argv = scoped({ exe, "fleet", "check", "--json", "--timeout", tostring(opts.check_timeout) })
for _, name in ipairs(opts.agent) do
  argv[#argv + 1] = "--agent"
  argv[#argv + 1] = name
end
for _, code in ipairs(opts.ignore) do
  argv[#argv + 1] = "--ignore"
  argv[#argv + 1] = code
end

local failed = false
local r, err = mosaic.exec(argv, { timeout = opts.check_timeout + 5 })
local verdict = r and json.decode(r.stdout)
if type(verdict) ~= "table" or verdict.schema ~= check.SCHEMA then
  local why = err or (r.timed_out and "no answer in time") or (r.stderr:gsub("%s+$", ""))
  verdict = check.unknown("the check could not run: " .. why, "check-failed")
  failed = true
end
local text = check.text(verdict)
io.stdout:write(text)
io.stdout:flush()

-- The last state, and whether to notify.
local state_path = opts.state or (mosaic.paths().run .. "/cron-check.json")
local last = {}
do
  local f = io.open(state_path, "rb")
  if f then
    local decoded = json.decode(f:read("a") or "")
    f:close()
    if type(decoded) == "table" and type(decoded.state) == "string" then
      last = decoded
    end
  end
end
local previous = last.state or "none"
local changed = previous ~= verdict.state
local saved = json.object { state = verdict.state, exit = verdict.exit, summary = verdict.summary,
  since = (not changed and last.since) or verdict.generated_at, generated_at = verdict.generated_at }
local ok, werr = mosaic.write_file(state_path, json.encode(saved) .. "\n", tonumber("600", 8))
if not ok then
  io.stderr:write("check.lua: cannot save the state: ", werr, "\n")
  failed = true
end

if #opts.notify > 0 and (changed or (opts.notify_always and verdict.state ~= "OK")) then
  local n, nerr = mosaic.exec(opts.notify, { stdin = text, timeout = 30, env = {
    MOSAIC_CHECK_STATE = verdict.state, MOSAIC_CHECK_PREVIOUS = previous, MOSAIC_CHECK_SUMMARY = verdict.summary } })
  if not n or n.status ~= 0 then
    io.stderr:write("check.lua: the notifier failed: ", n and ((n.stderr:gsub("%s+$", "")) .. " (status "
      .. n.status .. ")") or nerr, "\n")
    failed = true
  else
    print(("notified: %s -> %s"):format(previous, verdict.state))
  end
end

if opts.textfile then
  local e, eerr = mosaic.exec(scoped({ exe, "fleet", "export", "--output", opts.textfile, "--timeout",
    tostring(opts.check_timeout) }), { timeout = opts.check_timeout + 5 })
  if not e or e.status ~= 0 then
    io.stderr:write("check.lua: the export failed: ", e and (e.stderr:gsub("%s+$", "")) or eerr, "\n")
    failed = true
  end
end

os.exit(failed and 1 or 0)
