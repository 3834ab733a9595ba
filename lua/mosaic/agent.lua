--- The agent module: send, capture, watch, attach, and the stub agent (SPEC 2.10).
local host = require "mosaic._host"
local with_runtimes = require "mosaic._options"
local forward = require "mosaic._forward"

local M = {}

--- send(name, text [, {verify=, timeout=5, force=, nonce=, socket=, roster=, lock_timeout=30}])
--   -> result | nil, message, result
-- Delivers `text` (bytes, exactly) to the agent's input and presses Enter (SPEC 2.7).
-- `result` has the fields of `mosaic agent send --json` (schema mosaic.agent.send/v1):
-- agent, tenant_id, host, pane, delivered, verdict ("accepted", "draft", "wedged",
-- "unknown"; nil without verify or on timeout), timed_out, exit, evidence, detail.
-- A refusal (no such agent, no session, dead pane, pane in a mode, input off, stopped
-- process, leased without force) returns nil, "<name>: <why>", and the result as third
-- value; nothing was delivered then. Example:
--   local r = assert(agent.send("coder-1", "run the tests", { verify = true }))
--   print(r.verdict, r.evidence.elapsed_ms)
function M.send(name, text, opts)
  if type(name) ~= "string" then
    error(("bad argument #1 to 'send' (string expected, got %s)"):format(type(name)), 2)
  end
  if type(text) ~= "string" then
    error(("bad argument #2 to 'send' (string expected, got %s)"):format(type(text)), 2)
  end
  if opts ~= nil and type(opts) ~= "table" then
    error(("bad argument #3 to 'send' (table expected, got %s)"):format(type(opts)), 2)
  end
  local ok, result, message, refused = pcall(host.agent_send, name, text, with_runtimes(opts, 2))
  if not ok then
    -- An option of the wrong type: raise it again at the caller's line.
    local why = tostring(result):gsub("^[^:\n]*:%d+: ", ""):gsub("'agent_send'", "'send'")
    error(why, 2)
  end
  return result, message, refused
end

-- capture, watch and attach: find the agent's pane through `fleet ps` (the roster and every
-- session on the socket), refusing what cannot be looked at from here.
local function check_args(fname, name, opts)
  if type(name) ~= "string" then
    error(("bad argument #1 to '%s' (string expected, got %s)"):format(fname, type(name)), 3)
  end
  if opts ~= nil and type(opts) ~= "table" then
    error(("bad argument #2 to '%s' (table expected, got %s)"):format(fname, type(opts)), 3)
  end
  opts = opts or {}
  for _, k in ipairs({ "roster", "socket" }) do
    if opts[k] ~= nil and type(opts[k]) ~= "string" then
      error(("bad argument #2 to '%s' (%s: string expected, got %s)"):format(fname, k, type(opts[k])), 3)
    end
  end
  return opts
end

local function locate(name, opts)
  local snapshot, err = host.fleet_ps({ roster = opts.roster, socket = opts.socket })
  if not snapshot then
    return nil, err
  end
  local row
  for _, r in ipairs(snapshot.agents) do
    if r.name == name then
      row = r
      break
    end
  end
  if not row then
    return nil, ("%s: no agent of that name in the roster or on socket %s"):format(name, snapshot.socket)
  end
  if row.host ~= snapshot.host then
    return nil, ("%s: runs on host %s; run this there"):format(name, tostring(row.host))
  end
  local state = row.pane and row.pane.state
  if state == nil then
    local why = "the tmux plane could not be read"
    for _, w in ipairs(snapshot.warnings) do
      if w.code:match("^tmux") then
        why = w.message
      end
    end
    return nil, ("%s: %s"):format(name, why)
  end
  if state == "absent" then
    return nil, ("%s: no tmux session for it on socket %s"):format(name, snapshot.socket)
  end
  return row, snapshot
end

local function split_lines(text)
  local lines = setmetatable({}, host.array_mt)
  for line in text:gmatch("([^\n]*)\n") do
    lines[#lines + 1] = line
  end
  return lines
end

--- capture(name [, {escapes=false, history=0, socket=, roster=}]) -> capture | nil, message
-- The agent's screen now, as tmux's `capture-pane -p` prints it (with colour escapes when
-- `escapes`; `history` adds up to that many lines of scrollback before the screen).
-- capture = {name, tenant_id, host, socket, pane, lines = {...}, text, width, height,
-- cursor_x, cursor_y, cursor_visible, alternate_on, dead, dead_status, in_mode,
-- history (lines of scrollback included), history_size}. Attaches nothing to the pane.
-- Example:
--   local c = assert(agent.capture("coder-1"))
--   print(c.lines[c.cursor_y + 1])   -- the line the cursor is on
function M.capture(name, opts)
  opts = check_args("capture", name, opts)
  local history = opts.history
  if history ~= nil and (math.type(history) ~= "integer" or history < 0) then
    error(("bad argument #2 to 'capture' (history: non-negative integer expected, got %s)"):format(
      tostring(history)), 2)
  end
  local row, snapshot = locate(name, opts)
  if not row then
    return nil, snapshot
  end
  local c, err = host.agent_capture(row.pane.id, snapshot.socket, { escapes = opts.escapes and true or false,
    history = history })
  if not c then
    return nil, ("%s: %s"):format(name, err)
  end
  c.name, c.tenant_id, c.host, c.socket = row.name, row.tenant_id, row.host, snapshot.socket
  c.lines = split_lines(c.text)
  return c
end

--- watch(name [, {interval=0.5, once=false, socket=, roster=}]) -> status | nil, message, status
-- Shows the agent's pane in this terminal, read-only, until `q`, Ctrl-C or Ctrl-D (SPEC
-- 2.5). No tmux client is attached: the pane is polled with `capture-pane` every `interval`
-- seconds, so nothing can reach the agent and its size never changes. `once` prints the
-- screen and returns; when standard output is not a terminal the screen is printed as plain
-- text, once, or (without `once`) each time it changes after a `--- <agent> <time> <w>x<h> ---`
-- line. Returns 0 when the operator quit, 128 + n when signal n ended it; nil, message and
-- 1 when the agent cannot be watched or its pane disappeared. Example:
--   agent.watch("coder-1", { interval = 1 })
function M.watch(name, opts)
  opts = check_args("watch", name, opts)
  local interval = opts.interval
  if interval ~= nil and (type(interval) ~= "number" or interval ~= interval or interval < 0.05
      or interval == math.huge) then
    error(("bad argument #2 to 'watch' (interval: number of seconds >= 0.05 expected, got %s)"):format(
      tostring(opts.interval)), 2)
  end
  local row, snapshot = locate(name, opts)
  if not row then
    return nil, snapshot, 1
  end
  local status, message = host.agent_watch(row.pane.id, snapshot.socket, {
    agent = row.name,
    interval = opts.interval,
    once = opts.once and true or false,
    heartbeat_interval = row.heartbeat and row.heartbeat.interval_s,
  })
  if message then
    return nil, message, status
  end
  return status
end

local function session_of(row, opts)
  if row.pane and row.pane.session then
    return row.pane.session
  end
  local roster = host.fleet_roster(opts.roster)
  for _, a in ipairs(roster and roster.agents or {}) do
    if a.name == row.name then
      return a.session
    end
  end
  return row.name -- an unrostered session: the row is named after it
end

--- attach(name [, {yes=false, socket=, roster=}]) -> status | nil, message, status
-- The one interactive takeover (SPEC 2.6): says what it is about to do on stderr, asks for
-- confirmation unless `yes`, then attaches a normal tmux client to the agent's session in
-- this terminal (nested when inside tmux) and returns when it detaches, with the client's
-- exit status. While attached the agent is leased (`fleet ps` flag `leased`, `agent send`
-- refuses it); attach and detach are recorded in <state>/audit.log. Refusals return nil,
-- message, 3 (no such agent, no session, dead pane, leased by someone else, no terminal,
-- lease or audit log not writable); declining returns nil, message, 1. Example:
--   local status, err = agent.attach("coder-1", { yes = true })
function M.attach(name, opts)
  opts = check_args("attach", name, opts)
  local row, snapshot = locate(name, opts)
  if not row then
    return nil, snapshot, 3
  end
  local pane = row.pane
  if pane.state == "dead" then
    return nil, ("%s: its pane is dead (the program exited%s); restart the agent instead"):format(
      name, pane.dead_status and (" with status " .. pane.dead_status) or ""), 3
  end
  if row.lease then
    return nil, ("%s: leased by %s since %s; wait until they detach"):format(name, row.lease.holder,
      row.lease.since), 3
  end
  if not host.isatty(0) then
    return nil, ("%s: attaching needs a terminal on standard input"):format(name), 3
  end
  local session = session_of(row, opts)
  local id = host.agent_attach_identity()
  local prefix = host.agent_tmux_prefix(snapshot.socket) or "C-b"
  local out = io.stderr
  out:write(("About to attach to agent %s (tenant %s, host %s):\n"):format(row.name,
    tostring(row.tenant_id or "-"), tostring(row.host)))
  out:write(("  tmux session =%s on socket %s (pane %s, running %s, %sx%s)\n"):format(session,
    snapshot.socket, pane.id, tostring(pane.command or "?"), tostring(pane.width or "?"),
    tostring(pane.height or "?")))
  out:write("  This is an interactive takeover: every key you type WILL reach the agent,\n")
  out:write("  and the agent's window takes your terminal's size while you are attached.\n")
  out:write(("  It is leased to %s meanwhile (`agent send` refuses it).\n"):format(id.holder))
  out:write(("  Detach with the tmux prefix, then d (%s d); the agent keeps running.\n"):format(prefix))
  if id.inside_tmux then
    out:write(("  You are inside tmux: this nests a client (switch-client cannot cross tmux servers);\n" ..
      "  if your outer tmux uses the same prefix, press it twice: %s %s d.\n"):format(prefix, prefix))
  end
  out:write(("  Recorded in %s.\n"):format(id.audit_log))
  if not opts.yes then
    out:write("Attach? [y/N] ")
    out:flush()
    local answer = io.stdin:read("l")
    if not answer or not answer:match("^%s*[yY]") then
      return nil, ("%s: not confirmed; nothing done"):format(name), 1
    end
  end
  io.stdout:flush()
  local status, message, refused = host.agent_attach({
    agent = row.name,
    tenant = row.tenant_id,
    session = session,
    socket = snapshot.socket,
    pane = pane.id,
  })
  if refused then
    return nil, ("%s: %s"):format(name, message), 3
  end
  if status ~= 0 and message then
    return nil, ("%s: %s"):format(name, message), status
  end
  return status
end

--- stub(name [, {interval=15}]) -> exit status
-- Runs the dogfood stub agent in this terminal (see `mosaic agent stub --help`).
function M.stub(name, opts)
  opts = opts or {}
  return (forward("stub", host.agent_stub, name, opts.interval or 15))
end

return M
