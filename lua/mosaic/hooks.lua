--- Native heartbeats from real runtimes (SPEC 2.11): wiring Claude Code's settings hooks and
-- Codex's hooks.json so that their events update the agent's heartbeat, and the event
-- handler those hooks run (`mosaic hooks event`).
local host = require "mosaic._host"
local json = mosaic.json

local M = {}

--- The events each runtime's hooks are wired for.
M.events = {
  claude = { "UserPromptSubmit", "PreToolUse", "PostToolUse", "Notification", "Stop", "SubagentStop",
    "SessionStart", "SessionEnd" },
  codex = { "UserPromptSubmit", "PreToolUse", "PermissionRequest", "PostToolUse", "Stop", "SessionStart" },
}
-- Events whose hook entries take a matcher ("" matches every tool or type).
local with_matcher = { PreToolUse = true, PostToolUse = true, Notification = true, PermissionRequest = true }

-- One word for a shell: single-quoted unless it is plainly safe.
local function quote(s)
  if s:match("^[%w@%%+=:,./_-]+$") then
    return s
  end
  return "'" .. s:gsub("'", "'\\''") .. "'"
end

--- The environment of process `pid` (a table), or nil when it cannot be read.
function M.environ(pid)
  local f = io.open(("/proc/%d/environ"):format(pid), "rb")
  if not f then
    return nil
  end
  local data = f:read(1 << 20) or ""
  f:close()
  local env = {}
  for entry in data:gmatch("[^%z]+") do
    local k, v = entry:match("^([^=]+)=(.*)$")
    if k and env[k] == nil then
      env[k] = v
    end
  end
  return env
end

-- `path` if absolute, else under the working directory `cwd` (nil when that is not known).
local function resolved(path, cwd)
  if path:sub(1, 1) == "/" then
    return path
  end
  if not (cwd and cwd:sub(1, 1) == "/") then
    return nil
  end
  return (cwd == "/" and "" or cwd) .. "/" .. path
end

-- The runtime's directory: `env[var]` unless it is unset or empty (a relative one under
-- `cwd`), else `default` under an absolute $HOME.
local function runtime_dir(env, var, default, cwd)
  local dir = env[var]
  if dir and dir ~= "" then
    return resolved(dir, cwd)
  end
  local home = env.HOME
  return home and home:sub(1, 1) == "/" and home .. "/" .. default or nil
end

--- Claude Code's configuration directory for the environment `env` (a table) of a process
-- working in `cwd` (optional), by Claude's own rule: $CLAUDE_CONFIG_DIR unless it is unset
-- or empty, else $HOME/.claude; nil when that cannot be told. Its settings.json, sessions/
-- and projects/ are there (`ClaudeRecord.configDirectory` on the Swift side).
function M.claude_dir(env, cwd)
  return runtime_dir(env, "CLAUDE_CONFIG_DIR", ".claude", cwd)
end

--- Codex's home for the environment `env` of a process working in `cwd` (optional):
-- $CODEX_HOME unless it is unset or empty, else $HOME/.codex; nil when that cannot be told.
function M.codex_home(env, cwd)
  return runtime_dir(env, "CODEX_HOME", ".codex", cwd)
end

--- Where the runtime of a `fleet ps` row keeps its hooks: {runtime, home, file} or nil, why.
-- `home` is the runtime's configuration directory. Claude: settings.json in its
-- configuration directory (`claude_dir`); Codex: hooks.json in its home (`codex_home`). Read
-- from the running program's environment, so the agent must run.
function M.target(row)
  local runtime = row.runtime
  if runtime ~= "claude" and runtime ~= "codex" then
    return nil, ("runtime %s has no hooks mosaic can wire"):format(tostring(runtime))
  end
  if not (row.process and row.process.pid) or row.drift then
    return nil, ("no %s program runs in its pane (start it first)"):format(runtime)
  end
  local env = M.environ(row.process.pid)
  if not env then
    return nil, ("cannot read the environment of pid %d"):format(row.process.pid)
  end
  if runtime == "claude" then
    local dir = M.claude_dir(env, row.process.cwd)
    if not dir then
      return nil, "its claude process has neither CLAUDE_CONFIG_DIR nor an absolute HOME"
    end
    return { runtime = runtime, home = dir, file = dir .. "/settings.json" }
  end
  local home = M.codex_home(env, row.process.cwd)
  if not home then
    return nil, "its codex process has neither CODEX_HOME nor an absolute HOME"
  end
  return { runtime = runtime, home = home, file = home .. "/hooks.json" }
end

--- The command line the hooks run: this mosaic with the operator's config, so events land in
-- the operator's run directory whatever HOME the agent has. `agent` is given when the home
-- belongs to one agent only; a shared home leaves attribution to the event itself.
function M.command(runtime, agent, opts)
  local paths = mosaic.paths()
  local words = { "MOSAIC_HOME=" .. quote(paths.config), quote(mosaic.executable()), "hooks", "event", runtime }
  if agent then
    words[#words + 1] = "--agent"
    words[#words + 1] = agent
  end
  words[#words + 1] = "--roster"
  words[#words + 1] = quote(opts and opts.roster or paths.roster)
  if opts and opts.socket then
    words[#words + 1] = "--socket"
    words[#words + 1] = quote(opts.socket)
  end
  return table.concat(words, " ")
end

local function is_ours(command)
  return type(command) == "string" and command:find(" hooks event ", 1, true) ~= nil
    and command:find("mosaic", 1, true) ~= nil
end

-- Reads a JSON settings file: the table, or {} when missing; nil, why when unreadable.
local function load(file)
  local f = io.open(file, "rb")
  if not f then
    return setmetatable({}, getmetatable(json.decode("{}")))
  end
  local text = f:read(4 << 20) or ""
  f:close()
  if text:match("^%s*$") then
    return json.decode("{}")
  end
  local ok, value = pcall(json.decode, text)
  if not ok or type(value) ~= "table" then
    return nil, ("%s: not a JSON object (%s); left as it is"):format(file, ok and "wrong type" or value)
  end
  return value
end

--- wire(target, command) -> changes (list of event names added or updated) | nil, why
-- Adds (or updates) one mosaic hook per event in the target's file, keeping every other hook.
function M.wire(target, command, dry_run)
  local doc, err = load(target.file)
  if not doc then
    return nil, err
  end
  if doc.hooks == nil then
    doc.hooks = json.decode("{}")
  end
  if type(doc.hooks) ~= "table" then
    return nil, target.file .. ": 'hooks' is not an object; left as it is"
  end
  local changes = {}
  for _, event in ipairs(M.events[target.runtime]) do
    local groups = doc.hooks[event]
    if groups == nil then
      groups = json.array({})
      doc.hooks[event] = groups
    end
    local found, current = false, false
    for _, group in ipairs(groups) do
      for _, h in ipairs(type(group) == "table" and group.hooks or {}) do
        if type(h) == "table" and is_ours(h.command) then
          found = true
          if h.command == command then
            current = true
          else
            h.command = command
          end
        end
      end
    end
    if not found then
      local group = { hooks = json.array({ { type = "command", command = command, timeout = 10 } }) }
      if with_matcher[event] then
        group.matcher = ""
      end
      groups[#groups + 1] = group
    end
    if not current then
      changes[#changes + 1] = event
    end
  end
  if #changes > 0 and not dry_run then
    local dir = target.file:match("^(.*)/[^/]*$")
    mosaic.exec({ "mkdir", "-p", dir })
    local ok, werr = mosaic.write_file(target.file, json.encode(doc, true) .. "\n", tonumber("600", 8))
    if not ok then
      return nil, werr
    end
  end
  return changes
end

--- wired(target) -> true when every event of the runtime runs a mosaic hook
function M.wired(target)
  local doc = load(target.file)
  if not doc or type(doc.hooks) ~= "table" then
    return false
  end
  for _, event in ipairs(M.events[target.runtime]) do
    local ok = false
    for _, group in ipairs(doc.hooks[event] or {}) do
      for _, h in ipairs(type(group) == "table" and group.hooks or {}) do
        ok = ok or (type(h) == "table" and is_ours(h.command))
      end
    end
    if not ok then
      return false
    end
  end
  return true
end

-- The pid of the program that ran this hook: the first ancestor that is not a shell.
local function runtime_pid()
  local pid = "self"
  for _ = 1, 8 do
    local f = io.open(("/proc/%s/stat"):format(pid), "rb")
    if not f then
      return nil
    end
    local stat = f:read("a")
    f:close()
    local comm, ppid = stat:match("%((.*)%)%s+%S+%s+(%d+)")
    if pid ~= "self" and comm ~= "sh" and comm ~= "bash" and comm ~= "dash" and comm ~= "mosaic" then
      return tonumber(pid)
    end
    if not ppid or ppid == "0" or ppid == "1" then
      return nil
    end
    pid = ppid
  end
  return nil
end

--- attribute(runtime, event, opts) -> agent name | nil, why
-- Which agent an event belongs to: --agent when the home has one agent; for codex (whose
-- shared app-server daemon runs every agent's hooks with the first agent's environment)
-- the agent whose program works in the event's `cwd`; for claude MOSAIC_AGENT, else the
-- pane in $TMUX_PANE (a hook runs under its own claude, in its pane, with its environment).
function M.attribute(runtime, event, opts)
  if opts.agent then
    return opts.agent
  end
  -- Codex's daemon gives every agent's hooks the first agent's environment: only the
  -- event itself can be trusted there.
  local named = runtime ~= "codex" and os.getenv("MOSAIC_AGENT")
  if named and named ~= "" then
    return named
  end
  if runtime ~= "codex" then
    -- The pane alone: the roster and one tmux listing (the resolver's rule), no systemd.
    local name, why = host.agent_of_pane(os.getenv("TMUX_PANE") or "", { roster = opts.roster,
      socket = opts.socket })
    return name, why
  end
  -- Each agent's program and its cwd: the roster, one tmux listing and /proc (no systemd,
  -- no heartbeats, no screens: the hook is on the agent's turn).
  local programs, err = host.agent_programs({ roster = opts.roster, socket = opts.socket })
  if not programs then
    return nil, err
  end
  local match, seen = nil, {}
  for _, row in ipairs(programs) do
    if row.runtime == "codex" then
      local cwd = row.cwd
      seen[#seen + 1] = ("%s in %s, pane %s"):format(row.name, tostring(cwd), row.pane_state)
      if cwd ~= nil and cwd == event.cwd then
        if match then
          return nil, ("two codex agents work in %s; cannot tell which one this event is"):format(event.cwd)
        end
        match = row.name
      end
    end
  end
  if not match then
    return nil, ("no codex agent works in %s (%s)"):format(tostring(event.cwd), table.concat(seen, ", "))
  end
  return match
end

--- event(runtime, text, opts) -> heartbeat line written | nil, why
-- Handles one hook event (the JSON text the runtime gave on stdin).
function M.event(runtime, text, opts)
  local ok, ev = pcall(json.decode, text)
  if not ok or type(ev) ~= "table" or type(ev.hook_event_name) ~= "string" then
    return nil, "not a hook event (JSON with hook_event_name expected)"
  end
  local name, why = M.attribute(runtime, ev, opts)
  if not name then
    return nil, why
  end
  return host.heartbeat_hook(name, ev, runtime_pid())
end

return M
