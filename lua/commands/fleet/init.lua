--- Write a commented roster and the systemd units for a new fleet
local cli = require "mosaic.cli"
local closest = require "mosaic._suggest"

-- The program each known runtime runs in its pane, beside `mosaic heartbeat` (the stub
-- beats itself).
local RUNTIMES = {
  claude = { "claude" },
  codex = { "codex" },
  pi = { "pi" },
  opencode = { "opencode" },
  stub = false,
}
local KNOWN = { "claude", "codex", "opencode", "pi", "stub" }

local parser = cli.parser("mosaic fleet init",
  "Writes what a new fleet needs, and nothing else: a commented roster (the agents), and\n" ..
  "the systemd user units that start them, each agent in a tmux session of its own on the\n" ..
  "fleet's socket:\n\n" ..
  "  <config>/fleet/roster.lua             the roster (--roster FILE elsewhere)\n" ..
  "  <config>/fleet/tmux.conf              the fleet's tmux server settings\n" ..
  "  <config>/fleet/agents/<name>.env      what each agent runs (AGENT_COMMAND, AGENT_DIR)\n" ..
  "  <units>/mosaic-tmux.service           the tmux server, in a unit of its own\n" ..
  "  <units>/mosaic-agent@.service         one agent: Type=oneshot, RemainAfterExit=yes,\n" ..
  "                                        KillMode=process\n\n" ..
  "The tmux server runs in mosaic-tmux.service, never inside an agent's unit, so\n" ..
  "'systemctl --user restart mosaic-agent@NAME' restarts that agent alone. Each --runtime\n" ..
  "adds one agent named <runtime>-<n>; --agent NAME=RUNTIME adds one by name; with neither,\n" ..
  "one stub agent (the dogfood line agent) so that the fleet works at once. Existing files\n" ..
  "are never replaced (one line each says which) unless --force; nothing is started: the\n" ..
  "commands to do so are printed.",
  "Exit status: 0 written, 1 a file exists (nothing written) or cannot be written, 64 usage.\n\n" ..
  "Examples:\n" ..
  "  mosaic fleet init --runtime claude --runtime claude --runtime codex\n" ..
  "  mosaic fleet init --agent coder-1=claude --agent reviewer=codex --dir ~/src/app\n" ..
  "  mosaic fleet init && systemctl --user daemon-reload &&\n" ..
  "    systemctl --user enable --now mosaic-tmux.service mosaic-agent@stub-1.service")
parser:option("--runtime", "Add an agent of this runtime (repeatable): " .. table.concat(KNOWN, ", ") .. ".")
  :count("*"):argname("R")
parser:option("--agent", "Add an agent by name (repeatable).")
  :count("*"):argname("NAME=RUNTIME")
parser:option("--dir", "The agents' working directory (default: your home).")
parser:option("--socket", "tmux socket name of the fleet.", "mosaic-factory")
parser:option("--roster", "Where to write the roster (default $MOSAIC_ROSTER or <config>/fleet/roster.lua).")
  :argname("FILE")
parser:option("--unit-dir", "Where to write the units (default ~/.config/systemd/user).")
  :argname("DIR")
parser:option("--prefix", "Prefix of the unit names, for a second fleet beside the first.", "mosaic-")
  :argname("P")
parser:flag("--force", "Replace files that exist.")
local opts = cli.parse(parser, { ... })

local function runtime_of(r)
  if RUNTIMES[r] == nil then
    local guess = closest(r, KNOWN)
    cli.usage_error(parser, ("unknown runtime '%s'%s (known: %s; write others in the roster by hand, with match =)")
      :format(r, guess and (" (did you mean '" .. guess .. "'?)") or "", table.concat(KNOWN, ", ")))
  end
  return r
end

local agents, names = {}, {}
local function add(name, runtime)
  if not name:match("^[A-Za-z0-9][A-Za-z0-9_-]*$") or #name > 64 then
    cli.usage_error(parser, ("invalid agent name '%s' (letters, digits, '-' and '_', at most 64)"):format(name))
  end
  if names[name] then
    cli.usage_error(parser, ("duplicate agent name '%s'"):format(name))
  end
  names[name] = true
  agents[#agents + 1] = { name = name, runtime = runtime_of(runtime) }
end
for _, spec in ipairs(opts.agent) do
  local name, runtime = spec:match("^([^=]+)=(.+)$")
  if not name then
    cli.usage_error(parser, ("--agent wants NAME=RUNTIME, got '%s'"):format(spec))
  end
  add(name, runtime)
end
local counts = {}
for _, r in ipairs(opts.runtime) do
  runtime_of(r)
  local n = (counts[r] or 0) + 1
  while names[r .. "-" .. n] do
    n = n + 1
  end
  counts[r] = n
  add(r .. "-" .. n, r)
end
if #agents == 0 then
  add("stub-1", "stub")
end
if not opts.prefix:match("^[%w][%w_-]*$") then
  cli.usage_error(parser, ("invalid unit prefix '%s'"):format(opts.prefix))
end
local tmux_unit, agent_template = opts.prefix .. "tmux.service", opts.prefix .. "agent@.service"
local function agent_unit(name)
  return opts.prefix .. "agent@" .. name .. ".service"
end
if not opts.socket:match("^[%w][%w_.-]*$") then
  cli.usage_error(parser, ("invalid socket name '%s'"):format(opts.socket))
end

local paths = mosaic.paths()
local function env(name)
  local v = os.getenv(name)
  return v ~= "" and v or nil
end
local home = env("HOME") or "/"
local unit_dir = opts.unit_dir or ((env("XDG_CONFIG_HOME") or (home .. "/.config")) .. "/systemd/user")
local roster_path = opts.roster or paths.roster
local fleet_dir = paths.config .. "/fleet"
local env_dir = fleet_dir .. "/agents"
local workdir = opts.dir or home
if workdir:find("%s") or workdir:find("[%c\"\\]") then
  cli.usage_error(parser, ("--dir '%s': a directory without spaces, quotes or backslashes, please"):format(workdir))
end

local function which(program)
  for dir in (os.getenv("PATH") or "/usr/bin:/bin"):gmatch("[^:]+") do
    local f = io.open(dir .. "/" .. program, "rb")
    if f then
      f:close()
      return dir .. "/" .. program
    end
  end
  return nil
end
local tmux = which("tmux")
if not tmux then
  mosaic.die("fleet init: tmux: not found on PATH (install tmux 3.2 or newer)")
end
local exe = mosaic.executable()
for _, p in ipairs({ exe, tmux, paths.config, workdir }) do
  if p:find("[%s%%$\"\\]") then
    mosaic.die(("fleet init: %s: a path with spaces, %%, $, quotes or backslashes cannot go in a unit line"):format(p))
  end
end

-- Values of an env file line: one word each (systemd splits $AGENT_COMMAND on spaces).
local function agent_command(a)
  if a.runtime == "stub" then
    return ("%s agent stub %s"):format(exe, a.name)
  end
  return ("%s heartbeat %s -- %s"):format(exe, a.name, table.concat(RUNTIMES[a.runtime], " "))
end

local files = {}
local function file(path, mode, text)
  files[#files + 1] = { path = path, mode = mode, text = text }
end

local roster = {
  "-- The mosaic roster: the agents of this fleet. Written by 'mosaic fleet init'; yours to edit.",
  "-- A Lua file that returns a table (generate agents with a loop if you like). Every field:",
  "-- docs/guide.md, \"The roster\", or 'man 5 mosaic-roster'. Check it with 'mosaic fleet ps'.",
  "--",
  "-- To add an agent: a line below, a <config>/fleet/agents/<name>.env like the others, then",
  "--   systemctl --user enable --now " .. opts.prefix .. "agent@<name>.service",
  "return {",
  "  -- tenant = \"default\",          -- the tenant_id of every agent that names none",
  ("  socket = %q,    -- tmux -L name: the fleet's own tmux server"):format(opts.socket),
  "  heartbeat_interval = 15,       -- seconds; a heartbeat older than 3 intervals is stale",
  "  agents = {",
  "    -- name: letters, digits, - and _ (no . or :); runtime: claude, codex, pi, opencode,",
  "    -- stub, or another name with match = \"<lua pattern on the pane's command line>\".",
  "    -- Optional: tenant, unit (default mosaic-agent@<name>.service), session, heartbeat_interval.",
}
for _, a in ipairs(agents) do
  if opts.prefix == "mosaic-" then
    roster[#roster + 1] = ("    { name = %q, runtime = %q },"):format(a.name, a.runtime)
  else
    roster[#roster + 1] = ("    { name = %q, runtime = %q, unit = %q },"):format(a.name, a.runtime, agent_unit(a.name))
  end
end
roster[#roster + 1] = "  },"
roster[#roster + 1] = "}"
file(roster_path, tonumber("600", 8), table.concat(roster, "\n") .. "\n")

file(fleet_dir .. "/tmux.conf", tonumber("644", 8), table.concat({
  "# The fleet's tmux server (" .. tmux_unit .. "). Written by 'mosaic fleet init'.",
  "set -g exit-empty off        # the server outlives its sessions: its unit owns it",
  "set -g remain-on-exit on     # a dead agent's pane stays, so 'fleet ps' shows it dead",
  "set -g history-limit 10000",
  "set -g focus-events off      # no focus events reach the agents' TUIs",
  "",
}, "\n"))

for _, a in ipairs(agents) do
  file(env_dir .. "/" .. a.name .. ".env", tonumber("600", 8), table.concat({
    ("# Agent %s (runtime %s), read by %s. Written by 'mosaic fleet init'."):format(
      a.name, a.runtime, agent_unit(a.name)),
    "# AGENT_COMMAND runs in the agent's tmux pane (split on spaces, no shell); real runtimes run",
    "# under 'mosaic heartbeat NAME --', which beats for them. AGENT_DIR is its working directory.",
    "AGENT_COMMAND=" .. agent_command(a),
    "AGENT_DIR=" .. workdir,
    "",
  }, "\n"))
end

file(unit_dir .. "/" .. tmux_unit, tonumber("644", 8), table.concat({
  "# The mosaic fleet's tmux server. Written by 'mosaic fleet init'.",
  "# A unit of its own, so that the server (and so every agent's pane) never lives in an",
  "# agent unit's cgroup: restarting one agent then cannot kill the others.",
  "[Unit]",
  "Description=mosaic fleet: tmux server on socket " .. opts.socket,
  "",
  "[Service]",
  "Type=forking",
  ("ExecStart=%s -L %s -f %s/tmux.conf start-server"):format(tmux, opts.socket, fleet_dir),
  ("ExecStop=%s -L %s kill-server"):format(tmux, opts.socket),
  "",
  "[Install]",
  "WantedBy=default.target",
  "",
}, "\n"))

file(unit_dir .. "/" .. agent_template, tonumber("644", 8), table.concat({
  "# One mosaic agent: " .. opts.prefix .. "agent@<name>.service creates the tmux session <name> on the",
  "# fleet's socket, running AGENT_COMMAND from <config>/fleet/agents/<name>.env.",
  "# Written by 'mosaic fleet init'.",
  "#",
  "# Type=oneshot + RemainAfterExit=yes: 'tmux new-session -d' returns at once, and the unit",
  "#   stays active (Type=forking would deactivate immediately). So 'unit active' says",
  "#   nothing about the pane: 'mosaic fleet ps' looks at both.",
  "# KillMode=process: the pane's processes belong to the tmux server's unit",
  "#   (" .. tmux_unit .. "); stopping this unit ends the session with ExecStop, never by",
  "#   killing a cgroup.",
  "[Unit]",
  "Description=mosaic fleet agent %i",
  "Requires=" .. tmux_unit,
  "After=" .. tmux_unit,
  "",
  "[Service]",
  "Type=oneshot",
  "RemainAfterExit=yes",
  "KillMode=process",
  ("EnvironmentFile=%s/%%i.env"):format(env_dir),
  ("ExecStart=%s -L %s new-session -d -s %%i -x 200 -y 50 -c ${AGENT_DIR} -e MOSAIC_HOME=%s -- $AGENT_COMMAND")
    :format(tmux, opts.socket, paths.config),
  ("ExecStop=%s -L %s kill-session -t =%%i"):format(tmux, opts.socket),
  "",
  "[Install]",
  "WantedBy=default.target",
  "",
}, "\n"))

-- Exists, even as a dangling symlink?
local function exists(path)
  return os.rename(path, path) ~= nil
end

local existing = {}
for _, f in ipairs(files) do
  if exists(f.path) then
    existing[#existing + 1] = f.path
  end
end
if #existing > 0 and not opts.force then
  for _, p in ipairs(existing) do
    io.stderr:write(("mosaic: fleet init: %s: exists, not replaced (--force replaces it)\n"):format(p))
  end
  io.stderr:write("mosaic: fleet init: nothing written\n")
  return 1
end

local dirs = { [fleet_dir] = true, [env_dir] = true, [unit_dir] = true }
dirs[roster_path:match("^(.*)/[^/]*$") or "."] = true
for d in pairs(dirs) do
  if d ~= "" then
    local r, err = mosaic.exec({ "mkdir", "-p", "--", d })
    if not r or r.status ~= 0 then
      mosaic.die(("fleet init: %s: %s"):format(d, err or (r.stderr:gsub("%s+$", ""))))
    end
  end
end
for _, f in ipairs(files) do
  local ok, err = mosaic.write_file(f.path, f.text, f.mode)
  if not ok then
    mosaic.die("fleet init: " .. err)
  end
  print("wrote " .. f.path)
end

local units = { tmux_unit }
for _, a in ipairs(agents) do
  units[#units + 1] = agent_unit(a.name)
end
print("\nNext:")
print("  systemctl --user daemon-reload")
print("  systemctl --user enable --now " .. table.concat(units, " "))
print("  loginctl enable-linger \"$USER\"      # so the fleet starts at boot, not at your login")
print("  mosaic fleet ps")
return 0
