--- The checks of `mosaic doctor` (SPEC 2.13): the invariants a fleet relies on, each broken
-- one a finding {code, severity, agent, message, remedy}, the remedy being the exact
-- unit-file lines or command that fix it. Exit 0 clean, 1 warnings, 2 errors.
--
-- Host-wide:
--   error    roster-missing, roster-invalid   nothing fleet-wide can be checked without one
--   error    user-manager-unreachable         `systemctl --user` does not answer
--   warning  linger-disabled                  /var/lib/systemd/linger/<user> absent
--   error    tmux-missing; warning tmux-too-old (older than 3.2)
--   error    run-dir-unsafe                   <run> a symlink, not a directory, another
--                                             owner's, or group/world-writable
--   warning  tmux-server-absent               local agents rostered, no server on the socket
--   warning  focus-events-off                 a claude agent is rostered and the server's
--                                             focus-events is off (Claude asks for it)
--   error    tmux-server-in-agent-unit        the server's cgroup is inside an agent unit's
--                                             while that unit's KillMode is control-group or
--                                             mixed, or the server is an agent unit's main
--                                             process (Type=forking): stopping or restarting
--                                             that one unit kills the server and every agent
-- Per local rostered agent:
--   error    unit-not-found                   its unit is not loaded (no unit file)
--   error    unit-deactivates                 ExecStart runs `tmux new-session -d` (which
--                                             returns at once) but the unit is not
--                                             Type=oneshot + RemainAfterExit=yes
--   warning  unit-inactive-pane-alive         the unit is not active while its pane lives
--   warning  heartbeat-missing                pane alive, no heartbeat file: nothing beats
--   error    heartbeat-stale                  pane alive, the heartbeat writer stopped
--   warning  heartbeat-untrusted              the file is refused (owner, mode, symlink, ...)
--   warning  hooks-missing                    claude/codex without a mosaic hook
--   error    claude-onboarding, claude-api-key, claude-trust   Claude would stop at a
--                                             first-run, API-key or folder-trust dialog
--   error    codex-trust, codex-hooks-untrusted   Codex would stop at "Trust this folder?"
--                                             or "Hooks need review"
-- Where an agent's HOME, CODEX_HOME, API key and project dir come from: the running
-- program's /proc/<pid>/environ and cwd when its pane lives, else its unit (Environment=,
-- WorkingDirectory=, and `-e VAR=VALUE` / `-c DIR` of the `tmux new-session` in ExecStart),
-- else this user's own HOME.
local runtime_dirs = require "mosaic.hooks" -- claude_dir, codex_home
local json = require "mosaic.json"
local row_rules = require "mosaic.row"

local M = {}

M.SCHEMA = "mosaic.doctor/v1"
M.EXIT = { clean = 0, warning = 1, error = 2 }

--- Every finding code and its severity (for --ignore and the docs).
M.CODES = {
  ["roster-missing"] = "error", ["roster-invalid"] = "error",
  ["user-manager-unreachable"] = "error", ["linger-disabled"] = "warning",
  ["tmux-missing"] = "error", ["tmux-too-old"] = "warning", ["run-dir-unsafe"] = "error",
  ["tmux-server-absent"] = "warning", ["focus-events-off"] = "warning",
  ["tmux-server-in-agent-unit"] = "error",
  ["unit-not-found"] = "error", ["unit-deactivates"] = "error", ["unit-inactive-pane-alive"] = "warning",
  ["heartbeat-missing"] = "warning", ["heartbeat-stale"] = "error", ["heartbeat-untrusted"] = "warning",
  ["hooks-missing"] = "warning",
  ["claude-onboarding"] = "error", ["claude-api-key"] = "error", ["claude-trust"] = "error",
  ["codex-trust"] = "error", ["codex-hooks-untrusted"] = "error",
}

local FINDING_KEYS = { "code", "severity", "agent", "message", "remedy" }

local function ordered(keys, values)
  return setmetatable(values, { __name = "json.object", __jsonkeys = keys })
end

local function finding(code, agent, message, remedy, severity)
  return ordered(FINDING_KEYS, {
    code = code,
    severity = severity or M.CODES[code] or "warning",
    agent = agent,
    message = message,
    remedy = remedy,
  })
end

local function basename(path)
  return (tostring(path):match("([^/]*)$"))
end

local function read_file(path, max)
  local f = io.open(path, "rb")
  if not f then
    return nil
  end
  local data = f:read(max or (1 << 22))
  f:close()
  return data
end

local function exists(path)
  local f = io.open(path, "rb")
  if f then
    f:close()
    return true
  end
  return false
end

-- A word for a shell command line: quoted only when it needs to be.
local function shell_word(s)
  s = tostring(s)
  if s:match("^[%w@%%+=:,./_-]+$") then
    return s
  end
  return "'" .. s:gsub("'", "'\\''") .. "'"
end

-- Runs argv; the result table, or nil and why.
local function run(argv, timeout)
  local r, err = mosaic.exec(argv, { timeout = timeout or 10 })
  if not r then
    return nil, err
  end
  return r
end

-- ---------------------------------------------------------------------------------------
-- Parsers (pure functions; tests call them through `require "mosaic.doctor"`)

--- parse_show(text) -> list of property tables, one per unit block of `systemctl show`.
function M.parse_show(text)
  local units, current = {}, nil
  for line in (text .. "\n"):gmatch("([^\n]*)\n") do
    if line == "" then
      current = nil
    else
      local k, v = line:match("^([%w]+)=(.*)$")
      if k then
        if not current then
          current = {}
          units[#units + 1] = current
        end
        current[k] = v
      end
    end
  end
  return units
end

--- exec_argvs(value) -> the argv lists of an Exec*= property as `systemctl show` prints it
-- (`{ path=... ; argv[]=W1 W2 ... ; ... }`, one brace group per command). Words holding
-- spaces are split: good enough to recognise programs and flags.
function M.exec_argvs(value)
  local out = {}
  for argv in tostring(value):gmatch("argv%[%]=(.-) ; ") do
    local words = {}
    for w in argv:gmatch("%S+") do
      words[#words + 1] = w
    end
    out[#out + 1] = words
  end
  return out
end

--- env_words(value) -> {VAR = value} from an Environment= property (space separated,
-- double-quoted when a value holds spaces).
function M.env_words(value)
  local env = {}
  local s = tostring(value or "")
  local i = 1
  while i <= #s do
    local c = s:sub(i, i)
    if c == " " then
      i = i + 1
    else
      local word
      if c == '"' then
        local j = s:find('"', i + 1, true) or (#s + 1)
        word = s:sub(i + 1, j - 1)
        i = j + 1
      else
        local j = s:find(" ", i, true) or (#s + 1)
        word = s:sub(i, j - 1)
        i = j
      end
      local k, v = word:match("^([^=]+)=(.*)$")
      if k then
        env[k] = v
      end
    end
  end
  return env
end

-- tmux options that take a value, before the command and for new-session.
local TMUX_GLOBAL_ARGS = { ["-L"] = true, ["-S"] = true, ["-f"] = true, ["-c"] = true, ["-T"] = true }
local NEW_SESSION_ARGS = { ["-c"] = true, ["-e"] = true, ["-F"] = true, ["-n"] = true, ["-s"] = true,
  ["-t"] = true, ["-x"] = true, ["-y"] = true, ["-f"] = true }

--- tmux_new_session(argv) -> nil when argv is not `tmux ... new-session ...`, else
-- {socket, detached, env = {VAR = value}, dir, session, command = {argv after the options}}.
function M.tmux_new_session(argv)
  if type(argv) ~= "table" or not argv[1] or basename(argv[1]) ~= "tmux" then
    return nil
  end
  local info = { env = {}, command = {}, detached = false }
  local i = 2
  while argv[i] and argv[i]:sub(1, 1) == "-" and argv[i] ~= "--" do
    local flag = argv[i]
    if TMUX_GLOBAL_ARGS[flag] then
      if flag == "-L" then
        info.socket = argv[i + 1]
      end
      i = i + 2
    else
      i = i + 1
    end
  end
  if argv[i] ~= "new-session" and argv[i] ~= "new" then
    return nil
  end
  i = i + 1
  while argv[i] and argv[i]:sub(1, 1) == "-" do
    local flag = argv[i]
    if flag == "--" then
      i = i + 1
      break
    end
    -- Clustered flags (-dP, -ds NAME): booleans, the last one may take a value.
    local last = "-" .. flag:sub(-1)
    if flag:sub(2, -2):find("d", 1, true) or last == "-d" then
      info.detached = true
    end
    if NEW_SESSION_ARGS[last] then
      local value = argv[i + 1]
      if last == "-e" and value then
        local k, v = value:match("^([^=]+)=(.*)$")
        if k then
          info.env[k] = v
        end
      elseif last == "-c" then
        info.dir = value
      elseif last == "-s" then
        info.session = value
      end
      i = i + 2
    else
      i = i + 1
    end
  end
  for j = i, #argv do
    info.command[#info.command + 1] = argv[j]
  end
  return info
end

--- tmux_version(text) -> major, minor of `tmux -V` output ("tmux 3.3a", "tmux next-3.4"),
-- or nil when it cannot be read.
function M.tmux_version(text)
  local major, minor = tostring(text):match("(%d+)%.(%d+)")
  if not major then
    return nil
  end
  return tonumber(major), tonumber(minor)
end

--- version_ok(major, minor) -> whether tmux is 3.2 or newer.
function M.version_ok(major, minor)
  return major > 3 or (major == 3 and minor >= 2)
end

--- cgroup_of(text) -> the cgroup path of a /proc/<pid>/cgroup: the unified (v2) line, else
-- systemd's named v1 hierarchy.
function M.cgroup_of(text)
  local v2, named
  for line in tostring(text):gmatch("[^\n]+") do
    local path = line:match("^0::(.*)$")
    if path and path ~= "" and path ~= "/" then
      v2 = path
    end
    local p1 = line:match("^%d+:name=systemd:(.*)$")
    if p1 and p1 ~= "" then
      named = p1
    end
  end
  return v2 or named
end

--- inside(path, parent) -> whether cgroup `path` is `parent` or below it.
function M.inside(path, parent)
  if not path or not parent or parent == "" then
    return false
  end
  return path == parent or path:sub(1, #parent + 1) == parent .. "/"
end

-- The directory and its parents, nearest first ("/a/b" -> "/a/b", "/a", "/").
local function ancestors(dir)
  local out = {}
  local d = tostring(dir):gsub("/+$", "")
  while d ~= "" do
    out[#out + 1] = d
    d = d:match("^(.*)/[^/]*$") or ""
  end
  out[#out + 1] = "/"
  return out
end

--- claude_problems(text, project, api_key) -> list of {code, what}: what would stop a
-- Claude Code whose `.claude.json` holds `text` (nil: missing) at a dialog when it starts in
-- `project` with `api_key` (nil: not known).
function M.claude_problems(text, project, api_key)
  local out = {}
  local doc = text and json.decode(text)
  if type(doc) ~= "table" then
    doc = {}
  end
  if doc.hasCompletedOnboarding ~= true then
    out[#out + 1] = { code = "claude-onboarding",
      what = text and "hasCompletedOnboarding is not true" or "the file does not exist" }
  end
  if api_key and #api_key > 0 then
    local tail = api_key:sub(-20)
    local responses = type(doc.customApiKeyResponses) == "table" and doc.customApiKeyResponses or {}
    local function holds(list)
      if type(list) ~= "table" then
        return false
      end
      for _, v in ipairs(list) do
        if v == tail then
          return true
        end
      end
      return false
    end
    if holds(responses.rejected) then
      out[#out + 1] = { code = "claude-api-key", what = "the API key was REJECTED (customApiKeyResponses.rejected)" }
    elseif not holds(responses.approved) then
      out[#out + 1] = { code = "claude-api-key",
        what = "customApiKeyResponses.approved lacks the key's last 20 characters" }
    end
  end
  if project then
    local projects = type(doc.projects) == "table" and doc.projects or {}
    local trusted = false
    for _, d in ipairs(ancestors(project)) do
      local p = projects[d]
      if type(p) == "table" and p.hasTrustDialogAccepted == true then
        trusted = true
        break
      end
    end
    if not trusted then
      out[#out + 1] = { code = "claude-trust",
        what = ("projects[%q].hasTrustDialogAccepted is not true"):format(project) }
    end
  end
  return out
end

-- A TOML key or table-header segment: "quoted", 'literal' or bare; returns it and the rest.
local function toml_key(s)
  s = s:match("^%s*(.*)$")
  local c = s:sub(1, 1)
  if c == '"' then
    local out, i = {}, 2
    while i <= #s do
      local ch = s:sub(i, i)
      if ch == "\\" then
        local n = s:sub(i + 1, i + 1)
        out[#out + 1] = ({ n = "\n", t = "\t", ['"'] = '"', ["\\"] = "\\" })[n] or n
        i = i + 2
      elseif ch == '"' then
        return table.concat(out), s:sub(i + 1)
      else
        out[#out + 1] = ch
        i = i + 1
      end
    end
    return nil
  elseif c == "'" then
    local j = s:find("'", 2, true)
    if not j then
      return nil
    end
    return s:sub(2, j - 1), s:sub(j + 1)
  end
  local bare, rest = s:match("^([%w_-]+)(.*)$")
  return bare, rest
end

-- A dotted key ("a.\"b c\".d") -> list of segments, and the rest of the line.
local function toml_path(s)
  local parts = {}
  while true do
    local k, rest = toml_key(s)
    if not k then
      return nil
    end
    parts[#parts + 1] = k
    local after = rest:match("^%s*%.(.*)$")
    if not after then
      return parts, rest
    end
    s = after
  end
end

--- toml_tables(text) -> {["seg1\0seg2..."] = {key = raw value text}}: the key/value lines of
-- each table of a TOML file (inline tables and dotted keys are folded into the same map).
-- Enough to read Codex's trust entries; not a TOML parser.
function M.toml_tables(text)
  local tables = { [""] = {} }
  local current = ""
  for line in (tostring(text) .. "\n"):gmatch("([^\n]*)\n") do
    local header = line:match("^%s*%[%[?(.-)%]%]?%s*$") or line:match("^%s*%[([^%]]*)%]%s*#.*$")
    if header and not line:match("^%s*[%w_\"'-][^=]*=") then
      local parts = toml_path(header)
      current = parts and table.concat(parts, "\0") or "\0invalid"
      tables[current] = tables[current] or {}
    else
      local parts, rest = toml_path(line)
      local value = rest and rest:match("^%s*=%s*(.-)%s*$")
      if parts and value then
        local key = table.remove(parts)
        local name = current
        if #parts > 0 then
          name = (current == "" and "" or current .. "\0") .. table.concat(parts, "\0")
        end
        tables[name] = tables[name] or {}
        tables[name][key] = value
        -- An inline table `k = { a = "b" }`: its keys under name.k
        local inline = value:match("^{(.*)}$")
        if inline then
          local sub = (name == "" and "" or name .. "\0") .. key
          tables[sub] = tables[sub] or {}
          for item in (inline .. ","):gmatch("([^,]*),") do
            local ip, irest = toml_path(item)
            local iv = irest and irest:match("^%s*=%s*(.-)%s*$")
            if ip and iv then
              tables[sub][ip[#ip]] = iv
            end
          end
        end
      end
    end
  end
  return tables
end

local function toml_string(raw)
  if not raw then
    return nil
  end
  local v = toml_key(raw)
  return v
end

-- Codex's hook trust key: "<hooks.json path>:<event in snake_case>:<group>:<handler>".
local function snake(name)
  return (name:gsub("(%l)(%u)", "%1_%2"):gsub("(%u)(%u%l)", "%1_%2"):lower())
end

--- codex_problems(config_text, project, hooks_path, hooks_text) -> list of {code, what}:
-- what would stop a Codex with this config.toml (nil: missing) at "Trust this folder?" in
-- `project`, or at "Hooks need review" for the handlers of `hooks_text` (hooks.json).
-- A trusted handler has `[hooks.state."<path>:<event>:<i>:<j>"] trusted_hash = ...`; a
-- changed handler's hash is not checked (Codex's hash input is not documented).
function M.codex_problems(config_text, project, hooks_path, hooks_text)
  local out = {}
  local tables = M.toml_tables(config_text or "")
  if project then
    local trusted = false
    for _, d in ipairs(ancestors(project)) do
      local t = tables["projects\0" .. d]
      if t and toml_string(t.trust_level) == "trusted" then
        trusted = true
        break
      end
    end
    if not trusted then
      out[#out + 1] = { code = "codex-trust", what = ("no [projects.%q] trust_level = \"trusted\""):format(project) }
    end
  end
  if hooks_text then
    local doc = json.decode(hooks_text)
    local hooks = type(doc) == "table" and doc.hooks
    local untrusted = {}
    if type(hooks) == "table" then
      local events = {}
      for event in pairs(hooks) do
        events[#events + 1] = event
      end
      table.sort(events)
      for _, event in ipairs(events) do
        local groups = hooks[event]
        if type(groups) == "table" then
          for g, group in ipairs(groups) do
            local handlers = type(group) == "table" and group.hooks or {}
            for h in ipairs(type(handlers) == "table" and handlers or {}) do
              local key = ("%s:%s:%d:%d"):format(hooks_path, snake(event), g - 1, h - 1)
              local state = tables["hooks\0state\0" .. key]
              if not (state and toml_string(state.trusted_hash)) then
                untrusted[#untrusted + 1] = key
              end
            end
          end
        end
      end
    end
    if #untrusted > 0 then
      out[#out + 1] = { code = "codex-hooks-untrusted",
        what = ("%d hook%s of %s not trusted (%s)"):format(#untrusted, #untrusted == 1 and " is" or "s are",
          hooks_path, table.concat(untrusted, ", ")) }
    end
  end
  return out
end

-- Any string under a "command" key (or in a "command" list) of a decoded JSON value.
local function json_commands(value, out, key)
  if type(value) == "table" then
    for k, v in pairs(value) do
      json_commands(v, out, k == "command" and "command" or (type(k) == "number" and key or nil))
    end
  elseif type(value) == "string" and key == "command" then
    out[#out + 1] = value
  end
  return out
end

--- hooks_wired(runtime, where) -> installed (boolean), the files looked at (list).
-- `where` = {home, claude_dir, codex_home, project}. mosaic's hooks are installed when a
-- hook command of the runtime's own settings mentions `mosaic` (Claude:
-- <claude dir>/settings.json and the project's .claude/settings*.json; Codex:
-- CODEX_HOME/hooks.json and [hooks] tables of config.toml). The one place to follow the
-- format `mosaic hooks install` writes.
function M.hooks_wired(runtime, where)
  local files = {}
  local commands = {}
  local function json_file(path)
    files[#files + 1] = path
    local text = read_file(path)
    local doc = text and json.decode(text)
    if type(doc) == "table" and doc.hooks then
      json_commands(doc.hooks, commands)
    end
  end
  if runtime == "claude" then
    json_file(where.claude_dir .. "/settings.json")
    if where.project then
      json_file(where.project .. "/.claude/settings.json")
      json_file(where.project .. "/.claude/settings.local.json")
    end
  elseif runtime == "codex" then
    json_file(where.codex_home .. "/hooks.json")
    local path = where.codex_home .. "/config.toml"
    files[#files + 1] = path
    for name, t in pairs(M.toml_tables(read_file(path) or "")) do
      if name == "hooks" or name:sub(1, 6) == "hooks\0" and name:sub(1, 12) ~= "hooks\0state\0" then
        for k, v in pairs(t) do
          if k == "command" then
            commands[#commands + 1] = v
          end
        end
      end
    end
  end
  for _, c in ipairs(commands) do
    if c:find("mosaic", 1, true) then
      return true, files
    end
  end
  return false, files
end

-- ---------------------------------------------------------------------------------------
-- Gathering facts

local function user_name()
  local r = run({ "id", "-un" })
  local name = r and r.status == 0 and r.stdout:match("^(%S+)")
  return name or os.getenv("USER") or os.getenv("LOGNAME")
end

local function user_id()
  local r = run({ "id", "-u" })
  return r and r.status == 0 and tonumber(r.stdout:match("%d+")) or nil
end

local function user_unit_dir()
  local base = os.getenv("XDG_CONFIG_HOME")
  if not base or base == "" then
    base = (os.getenv("HOME") or "~") .. "/.config"
  end
  return base .. "/systemd/user"
end

-- The unit a drop-in should go to: the template for an instance (all agents at once).
local function dropin_target(unit)
  local template = unit:match("^([^@]+@)[^.]*%.service$")
  return template and (template .. ".service") or unit
end

local function dropin_remedy(unit, lines, restart)
  local target = dropin_target(unit)
  local dir = user_unit_dir() .. "/" .. target .. ".d"
  local body = table.concat(lines, "\\n") .. "\\n"
  local text = ("add to [Service] of %s:\n  %s\nfor example as a drop-in:\n"
    .. "  mkdir -p %s && printf '[Service]\\n%s' > %s/mosaic-doctor.conf\n  systemctl --user daemon-reload"):format(
    target, table.concat(lines, "\n  "), shell_word(dir), body, shell_word(dir))
  if restart then
    text = text .. "\n  " .. restart
  end
  return text
end

local function read_environ(pid)
  local data = read_file(("/proc/%d/environ"):format(pid))
  if not data then
    return nil
  end
  local env = {}
  for item in data:gmatch("([^%z]+)") do
    local k, v = item:match("^([^=]+)=(.*)$")
    if k then
      env[k] = v
    end
  end
  return env
end

local function read_cwd(pid)
  local r = run({ "readlink", "-n", "--", ("/proc/%d/cwd"):format(pid) }, 5)
  if r and r.status == 0 and r.stdout:sub(1, 1) == "/" then
    return r.stdout
  end
  return nil
end

-- `codex -C DIR` / `--cd DIR` / `--cd=DIR` in an argv, relative to cwd.
local function codex_dir(argv, cwd)
  for i, w in ipairs(argv or {}) do
    local dir
    if (w == "-C" or w == "--cd") and argv[i + 1] then
      dir = argv[i + 1]
    else
      dir = w:match("^%-%-cd=(.+)$")
    end
    if dir then
      if dir:sub(1, 1) ~= "/" and cwd then
        dir = cwd .. "/" .. dir
      end
      return dir
    end
  end
  return cwd
end

local function has_word(argv, word)
  for _, w in ipairs(argv or {}) do
    if w == word then
      return true
    end
  end
  return false
end

-- ---------------------------------------------------------------------------------------
-- The checks

local function check_linger(out)
  local user = user_name()
  if not user then
    return
  end
  if not exists("/var/lib/systemd/linger/" .. user) then
    out[#out + 1] = finding("linger-disabled", nil,
      ("lingering is off for user %s: the user manager, and so every agent unit, starts only when %s logs in, "
        .. "not at boot"):format(user, user),
      "loginctl enable-linger " .. shell_word(user))
  end
end

local function check_tmux_version(out)
  local r = run({ "tmux", "-V" })
  if not r or r.status ~= 0 then
    out[#out + 1] = finding("tmux-missing", nil, "tmux cannot be run: " .. tostring(r and r.stderr or "not found"),
      "apt-get install tmux    # tmux 3.2 or newer")
    return false
  end
  local major, minor = M.tmux_version(r.stdout)
  if major and not M.version_ok(major, minor) then
    out[#out + 1] = finding("tmux-too-old", nil,
      ("%s is older than 3.2: read-only attach (attach -r ignoring size) and per-window sizes do not hold")
        :format((r.stdout:gsub("%s+$", ""))),
      "install tmux 3.2 or newer (Debian 12: apt-get install tmux), then restart the fleet's tmux server")
  end
  return true
end

local function check_run_dir(out, run_dir)
  local r = run({ "stat", "-c", "%F|%u|%a", "--", run_dir })
  if not r or r.status ~= 0 then
    return -- absent: mosaic creates it (0700) on first use
  end
  local kind, uid, mode = r.stdout:match("^([^|]*)|(%d+)|(%d+)")
  if not kind then
    return
  end
  local me = user_id()
  local perm = tonumber(mode, 8) or 0
  local path = shell_word(run_dir)
  if kind == "symbolic link" then
    out[#out + 1] = finding("run-dir-unsafe", nil,
      ("the run dir %s is a symbolic link: mosaic refuses it"):format(run_dir),
      ("rm %s && mkdir -m 700 %s"):format(path, path))
  elseif kind ~= "directory" then
    out[#out + 1] = finding("run-dir-unsafe", nil, ("the run dir %s is a %s, not a directory"):format(run_dir, kind),
      ("mv %s %s.old && mkdir -m 700 %s"):format(path, path, path))
  elseif me and tonumber(uid) ~= me then
    out[#out + 1] = finding("run-dir-unsafe", nil,
      ("the run dir %s belongs to uid %s, not to you (uid %d): mosaic refuses it"):format(run_dir, uid, me),
      ("chown %d %s    # as root"):format(me, path))
  elseif perm & 18 ~= 0 then -- 0o022
    out[#out + 1] = finding("run-dir-unsafe", nil,
      ("the run dir %s is group- or world-writable (mode %s): anyone could forge heartbeats; mosaic refuses it")
        :format(run_dir, mode),
      "chmod 700 " .. path)
  end
end

-- The tmux server of the socket: {pid, focus_events}, or nil and why.
local function tmux_server(socket)
  local r = run({ "tmux", "-L", socket, "display-message", "-p", "#{pid}", ";", "show-options", "-s", "-v",
    "focus-events" })
  if not r or r.status ~= 0 then
    return nil, r and r.stderr or "tmux cannot be run"
  end
  local pid, focus = r.stdout:match("^(%d+)\n(%S*)")
  if not pid then
    return nil, "unexpected answer: " .. r.stdout
  end
  return { pid = tonumber(pid), focus_events = focus }
end

local SHOW_PROPS = "Id,LoadState,ActiveState,SubState,Type,KillMode,RemainAfterExit,ExecStart,ControlGroup,MainPID,"
  .. "Environment,WorkingDirectory,FragmentPath"

-- One batched `systemctl --user show` for the units: {unit = props}, or nil and why.
local function show_units(units)
  if #units == 0 then
    return {}
  end
  local argv = { "systemctl", "--user", "--no-pager", "show", "-p", SHOW_PROPS, "--" }
  for _, u in ipairs(units) do
    argv[#argv + 1] = u
  end
  -- As fleet ps does: without XDG_RUNTIME_DIR (cron), the user's /run/user/<uid> if it exists.
  local env
  local xdg = os.getenv("XDG_RUNTIME_DIR")
  if not xdg or xdg == "" then
    local uid = user_id()
    local dir = uid and ("/run/user/%d"):format(uid)
    if dir and exists(dir) then
      env = { XDG_RUNTIME_DIR = dir }
    end
  end
  local r, err = mosaic.exec(argv, { timeout = 30, env = env })
  if not r then
    return nil, err
  end
  if r.status ~= 0 then
    return nil, (r.stderr:gsub("%s+$", ""))
  end
  local by = {}
  for _, props in ipairs(M.parse_show(r.stdout)) do
    if props.Id then
      by[props.Id] = props
    end
  end
  -- systemd answers an instance by its own name; show keeps the order asked, so also map by position.
  local blocks = M.parse_show(r.stdout)
  for i, u in ipairs(units) do
    if not by[u] and blocks[i] then
      by[u] = blocks[i]
    end
  end
  return by
end

-- The `tmux new-session` an agent's unit runs, if any.
local function unit_session(props)
  for _, argv in ipairs(M.exec_argvs(props and props.ExecStart or "")) do
    local s = M.tmux_new_session(argv)
    if s then
      return s
    end
  end
  return nil
end

local function check_unit(out, agent, props, row, socket)
  local unit = agent.unit
  if not props or props.LoadState ~= "loaded" then
    out[#out + 1] = finding("unit-not-found", agent.name,
      ("unit %s is %s: nothing starts agent %s"):format(unit, props and props.LoadState or "unknown", agent.name),
      ("write %s/%s (the template in docs/guide.md, \"Your first fleet\"), then\n  systemctl --user daemon-reload"
        .. " && systemctl --user enable --now %s"):format(user_unit_dir(), dropin_target(unit), unit))
    return
  end
  local session = unit_session(props)
  if session and session.detached and not (props.Type == "oneshot" and props.RemainAfterExit == "yes") then
    out[#out + 1] = finding("unit-deactivates", agent.name,
      ("unit %s is Type=%s%s and runs `tmux new-session -d`, which returns at once: the unit deactivates right "
        .. "after starting and its ExecStop= (if any) kills the session, or the session lives on unseen by "
        .. "systemd (or the unit keeps a tmux server it forked as its main process)"):format(unit, props.Type,
        props.Type == "oneshot" and " without RemainAfterExit=yes" or ""),
      dropin_remedy(unit, { "Type=oneshot", "RemainAfterExit=yes" }, ("tmux -L %s kill-session -t =%s; "
        .. "systemctl --user restart %s"):format(shell_word(socket), shell_word(agent.session or agent.name), unit)))
  end
  local pane = row and row.pane
  if pane and pane.state == "alive" and not row_rules.ACTIVE[props.ActiveState] then
    out[#out + 1] = finding("unit-inactive-pane-alive", agent.name,
      ("unit %s is %s (%s) while the agent's pane is alive: systemd does not know the agent runs, so restarts, "
        .. "boot and `fleet check` judge it wrongly"):format(unit, props.ActiveState, tostring(props.SubState)),
      ("fix the unit's type first (unit-deactivates), then restart it cleanly:\n  tmux -L %s kill-session -t =%s"
        .. " && systemctl --user start %s"):format(shell_word(socket), shell_word(agent.session or agent.name), unit))
  end
end

local function check_cgroup(out, server, agents, units)
  local server_unit = ("a unit of its own for the tmux server (mosaic-tmux.service in docs/guide.md, \"Your first "
    .. "fleet\") that agent units Require= and come After=")
  -- A Type=forking unit whose `tmux new-session -d` started the server adopts it as its main
  -- process: stopping the unit kills the server, whatever KillMode says.
  for _, agent in ipairs(agents) do
    local props = units[agent.unit]
    if props and tonumber(props.MainPID) == server.pid then
      out[#out + 1] = finding("tmux-server-in-agent-unit", agent.name,
        ("the tmux server (pid %d) is the main process of unit %s (Type=%s): stopping or restarting this one "
          .. "agent kills the server and every agent on the socket"):format(server.pid, agent.unit,
          tostring(props.Type)),
        dropin_remedy(agent.unit, { "Type=oneshot", "RemainAfterExit=yes", "KillMode=process" })
          .. "\nand start the tmux server from " .. server_unit)
      return
    end
  end
  local text = read_file(("/proc/%d/cgroup"):format(server.pid))
  local cg = text and M.cgroup_of(text)
  if not cg then
    return
  end
  for _, agent in ipairs(agents) do
    local props = units[agent.unit]
    local kills = props and (props.KillMode == "control-group" or props.KillMode == "mixed")
    if kills and M.inside(cg, props.ControlGroup) then
      out[#out + 1] = finding("tmux-server-in-agent-unit", agent.name,
        ("the tmux server (pid %d) runs in unit %s's cgroup %s, and %s has KillMode=%s: stopping or restarting "
          .. "this one agent kills the server and every agent on the socket"):format(server.pid, agent.unit, cg,
          agent.unit, props.KillMode),
        dropin_remedy(agent.unit, { "KillMode=process" })
          .. "\nbetter, also start the tmux server from " .. server_unit)
      return
    end
  end
end

-- Where an agent's runtime keeps its state: from the live process, else its unit, else ours.
local function agent_context(row, props)
  local ctx = { source = "defaults" }
  local process = row and row.process
  local pid = (process and process.pid) or (row and row.pane and row.pane.state == "alive" and row.pane.pid)
  local env, cwd, argv
  if pid then
    env = read_environ(pid)
    cwd = read_cwd(pid)
    argv = process and process.argv
    if env then
      ctx.source = ("process %d"):format(pid)
    end
  end
  if not env then
    local session = unit_session(props)
    env = M.env_words(props and props.Environment)
    if session then
      -- systemd expands $VAR and ${VAR} in ExecStart from Environment=; show prints them unexpanded.
      local unit_env = env
      local function expand(v)
        return (v:gsub("%${([%w_]+)}", function(k)
          return unit_env[k] or ""
        end):gsub("%$([%a_][%w_]*)", function(k)
          return unit_env[k] or ""
        end))
      end
      local merged = {}
      for k, v in pairs(unit_env) do
        merged[k] = v
      end
      for k, v in pairs(session.env) do
        merged[k] = expand(v)
      end
      env = merged
      argv = session.command
    end
    -- WorkingDirectory= may carry systemd's "-" (ignore if missing) or "!" prefixes, or be "~".
    local wd = props and props.WorkingDirectory and props.WorkingDirectory:gsub("^[-!]+", "") or ""
    if wd == "~" then
      wd = env.HOME or os.getenv("HOME") or ""
    end
    cwd = session and session.dir or (wd ~= "" and wd) or nil
    if props then
      ctx.source = "unit " .. tostring(props.Id)
    end
  end
  ctx.env = env or {}
  ctx.argv = argv or {}
  ctx.home = ctx.env.HOME or os.getenv("HOME") or "/"
  ctx.cwd = cwd or ctx.home
  -- Claude's and Codex's own rules (an empty variable counts as unset, a relative one is
  -- under the working directory); without an environment to read, the defaults under HOME.
  local env_home = setmetatable({ HOME = ctx.home }, { __index = ctx.env })
  ctx.claude_dir = runtime_dirs.claude_dir(env_home, ctx.cwd) or ctx.home .. "/.claude"
  -- .claude.json lies in the configuration directory when one is named, else in HOME itself.
  local named = ctx.env.CLAUDE_CONFIG_DIR and ctx.env.CLAUDE_CONFIG_DIR ~= ""
  ctx.claude_json = named and ctx.claude_dir .. "/.claude.json" or ctx.home .. "/.claude.json"
  ctx.codex_home = runtime_dirs.codex_home(env_home, ctx.cwd) or ctx.home .. "/.codex"
  ctx.project = ctx.cwd
  return ctx
end

local function check_runtime(out, agent, ctx)
  local name = agent.name
  if agent.runtime == "claude" then
    local problems = M.claude_problems(read_file(ctx.claude_json), ctx.project, ctx.env.ANTHROPIC_API_KEY)
    for _, p in ipairs(problems) do
      local message, remedy
      if p.code == "claude-onboarding" then
        message = ("%s: %s: Claude Code will stop at its first-run screens"):format(ctx.claude_json, p.what)
        remedy = ("set in %s:\n  \"hasCompletedOnboarding\": true"):format(ctx.claude_json)
      elseif p.code == "claude-api-key" then
        message = ("%s: %s: Claude Code will ask \"Detected a custom API key\" and Enter answers No (logged "
          .. "out for good)"):format(ctx.claude_json, p.what)
        remedy = ("set in %s (the last 20 characters of ANTHROPIC_API_KEY, and not in \"rejected\"):\n"
          .. "  \"customApiKeyResponses\": {\"approved\": [\"%s\"], \"rejected\": []}"):format(ctx.claude_json,
          ctx.env.ANTHROPIC_API_KEY:sub(-20))
      else
        message = ("%s: %s: Claude Code will ask to trust the folder and Enter answers \"No, exit\"")
          :format(ctx.claude_json, p.what)
        remedy = ("set in %s:\n  \"projects\": {%s: {\"hasTrustDialogAccepted\": true}}"):format(ctx.claude_json,
          json.encode(ctx.project))
      end
      out[#out + 1] = finding(p.code, name, message, remedy)
    end
  elseif agent.runtime == "codex" then
    -- Codex 0.163 asks "Trust this folder?" only inside a git repository, and saves the trust
    -- for the repository's root (checked with the real program).
    local dir = codex_dir(ctx.argv, ctx.cwd)
    local root
    for _, d in ipairs(ancestors(dir)) do
      if exists(d .. "/.git") then
        root = d
        break
      end
    end
    local config = ctx.codex_home .. "/config.toml"
    local hooks_path = ctx.codex_home .. "/hooks.json"
    local hooks_text = not has_word(ctx.argv, "--dangerously-bypass-hook-trust") and read_file(hooks_path) or nil
    for _, p in ipairs(M.codex_problems(read_file(config), root, hooks_path, hooks_text)) do
      if p.code == "codex-trust" then
        out[#out + 1] = finding("codex-trust", name,
          ("%s: %s: Codex will ask \"Trust this folder?\" in %s (git repository %s)"):format(config, p.what, dir,
            root),
          ("add to %s:\n  [projects.%s]\n  trust_level = \"trusted\""):format(config, json.encode(root)))
      else
        out[#out + 1] = finding("codex-hooks-untrusted", name,
          ("%s: %s: Codex will stop at \"Hooks need review\" and Enter opens the review"):format(config, p.what),
          ("start this Codex once by hand and choose \"Trust all and continue\" (mosaic agent attach %s), or run it "
            .. "with --dangerously-bypass-hook-trust; Codex then writes [hooks.state.\"...\"] trusted_hash "
            .. "entries into %s"):format(name, config))
      end
    end
  end
  if agent.runtime == "claude" or agent.runtime == "codex" then
    local wired, files = M.hooks_wired(agent.runtime, ctx)
    if not wired then
      out[#out + 1] = finding("hooks-missing", name,
        ("no mosaic hook in %s: the agent's events (busy, waiting, prompt taken) do not reach its heartbeat")
          :format(table.concat(files, ", ")),
        "mosaic hooks install " .. shell_word(name) .. "\n  then restart the agent (it reads its hooks at start)")
    end
  end
end

local function check_heartbeat(out, agent, row)
  if not (row and row.pane and row.pane.state == "alive") then
    return
  end
  local hb = row.heartbeat or {}
  local interval = hb.interval_s or agent.heartbeat_interval or 15
  local wrap = ("run the agent under a heartbeat writer in its unit's ExecStart:\n  ... new-session -d -s %s -- "
    .. "mosaic heartbeat %s -- <the agent's command>\nor wire the runtime's hooks: mosaic hooks install %s")
    :format(agent.session or agent.name, agent.name, agent.name)
  if hb.health == "stale" then
    out[#out + 1] = finding("heartbeat-stale", agent.name,
      ("the pane is alive but its heartbeat is stale (%s): the writer stopped or hangs"):format(tostring(hb.reason)),
      wrap)
  elseif hb.health ~= "healthy" then
    local reason = tostring(hb.reason or "no reading")
    if reason == "no heartbeat file" then
      out[#out + 1] = finding("heartbeat-missing", agent.name,
        ("the pane is alive but nothing writes its heartbeat (no file, interval %g s)"):format(interval), wrap)
    elseif not reason:match("^clock skew") then
      out[#out + 1] = finding("heartbeat-untrusted", agent.name, "the heartbeat file is refused: " .. reason,
        "let only the agent's writer create it: rm the file and restart the writer (files are mode 0600, owned by "
          .. "you, never symlinks)")
    end
  end
end

-- ---------------------------------------------------------------------------------------

local SEVERITY_RANK = { error = 2, warning = 1 }

--- run(opts) -> the report {schema, generated_at, host, user, roster, socket, summary,
-- findings, exit}. opts: roster (path), socket, ignore (set of codes).
function M.run(opts)
  opts = opts or {}
  local out = {}
  local paths = mosaic.paths()
  local roster_path = opts.roster or paths.roster

  check_linger(out)
  local have_tmux = check_tmux_version(out)
  check_run_dir(out, paths.run)

  local roster, err = fleet.roster(opts.roster)
  local socket = opts.socket or (roster and roster.socket) or "mosaic-factory"
  if not roster then
    if not exists(roster_path) then
      out[#out + 1] = finding("roster-missing", nil, ("no roster at %s: no agent can be checked"):format(roster_path),
        ("mosaic fleet init --runtime claude   (writes %s and the unit template; see docs/guide.md)")
          :format(roster_path))
    else
      out[#out + 1] = finding("roster-invalid", nil, tostring(err), "fix the roster file; `mosaic fleet ps` names "
        .. "the line or field")
    end
  else
    local here = mosaic.hostname()
    local agents, units = {}, {}
    for _, a in ipairs(roster.agents) do
      if a.host == nil or a.host == here then
        agents[#agents + 1] = a
        units[#units + 1] = a.unit
      end
    end
    local rows = {}
    local snapshot = fleet.ps({ roster = opts.roster, socket = opts.socket })
    for _, row in ipairs(snapshot and snapshot.agents or {}) do
      rows[row.name] = row
    end

    local shown, why = show_units(units)
    if not shown then
      out[#out + 1] = finding("user-manager-unreachable", nil,
        "systemctl --user does not answer: " .. tostring(why),
        "run as the fleet's user with XDG_RUNTIME_DIR=/run/user/$(id -u) (log in, or loginctl enable-linger)")
      shown = {}
    end

    local server
    if have_tmux and #agents > 0 then
      server = tmux_server(socket)
      if not server then
        out[#out + 1] = finding("tmux-server-absent", nil,
          ("no tmux server answers on socket %s: no agent runs"):format(socket),
          "systemctl --user start " .. table.concat(units, " "))
      end
    end
    if server then
      local claude = false
      for _, a in ipairs(agents) do
        claude = claude or a.runtime == "claude"
      end
      if claude and server.focus_events ~= "on" then
        out[#out + 1] = finding("focus-events-off", nil,
          ("focus-events is off on socket %s: Claude Code asks for it (and prints a hint at every start)")
            :format(socket),
          ("tmux -L %s set-option -s focus-events on\nand, for the next server start, in its tmux.conf:\n  "
            .. "set -s focus-events on"):format(shell_word(socket)))
      end
      if next(shown) then
        check_cgroup(out, server, agents, shown)
      end
    end

    for _, agent in ipairs(agents) do
      local props = shown[agent.unit]
      if next(shown) then
        check_unit(out, agent, props, rows[agent.name], socket)
      end
      check_heartbeat(out, agent, rows[agent.name])
      if agent.runtime == "claude" or agent.runtime == "codex" then
        check_runtime(out, agent, agent_context(rows[agent.name], props))
      end
    end
  end

  local findings, ignored = {}, 0
  local errors, warnings = 0, 0
  for _, f in ipairs(out) do
    if opts.ignore and opts.ignore[f.code] then
      ignored = ignored + 1
    else
      findings[#findings + 1] = f
      if f.severity == "error" then
        errors = errors + 1
      else
        warnings = warnings + 1
      end
    end
  end
  -- Errors first, otherwise in the order found (table.sort is not stable: rank by position).
  local position = {}
  for i, f in ipairs(findings) do
    position[f] = i
  end
  table.sort(findings, function(a, b)
    if a.severity ~= b.severity then
      return SEVERITY_RANK[a.severity] > SEVERITY_RANK[b.severity]
    end
    return position[a] < position[b]
  end)
  local exit = errors > 0 and M.EXIT.error or (warnings > 0 and M.EXIT.warning or M.EXIT.clean)
  return ordered({ "schema", "generated_at", "host", "roster", "socket", "summary", "findings", "exit" }, {
    schema = M.SCHEMA,
    generated_at = os.date("!%Y-%m-%dT%H:%M:%SZ"),
    host = mosaic.hostname(),
    roster = roster_path,
    socket = socket,
    summary = ordered({ "errors", "warnings", "ignored" }, { errors = errors, warnings = warnings, ignored = ignored }),
    findings = json.array(findings),
    exit = exit,
  })
end

--- text(report) -> the human rendering: one block per finding, then a summary line.
function M.text(report)
  local lines = {}
  for _, f in ipairs(report.findings) do
    local where = f.agent and (f.agent .. ": ") or ""
    lines[#lines + 1] = ("%-7s %s: %s%s"):format(f.severity:upper(), f.code, where, f.message)
    local first = true
    for line in (f.remedy .. "\n"):gmatch("([^\n]*)\n") do
      lines[#lines + 1] = (first and "  fix: " or "       ") .. line
      first = false
    end
  end
  local s = report.summary
  if s.errors == 0 and s.warnings == 0 then
    lines[#lines + 1] = "mosaic doctor: no problems found"
      .. (s.ignored > 0 and (" (%d ignored)"):format(s.ignored) or "")
  else
    lines[#lines + 1] = ("mosaic doctor: %d error%s, %d warning%s%s"):format(s.errors, s.errors == 1 and "" or "s",
      s.warnings, s.warnings == 1 and "" or "s", s.ignored > 0 and (" (%d ignored)"):format(s.ignored) or "")
  end
  return table.concat(lines, "\n") .. "\n"
end

return M
