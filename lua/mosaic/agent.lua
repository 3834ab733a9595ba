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
-- value, whose `refused_code` says which ("no-such-agent", "leased", ...); nothing was
-- delivered then. Example:
--   local r = assert(agent.send("coder-1", "run the tests", { verify = true }))
--   print(r.verdict, r.evidence.elapsed_ms)
function M.send(name, text, opts)
  local result, message, refused = forward("send", host.agent_send, name, text, with_runtimes(opts, 2, 3, "send"))
  return result, message, refused
end

--- resolve(name [, {roster=, socket=}]) -> target | nil, message, code
-- The agent `name` and its pane, by the one rule every verb uses: a roster agent, else the
-- unrostered tmux session of exactly that name on the socket. Reads the roster and one
-- `tmux list-panes`, nothing else. target = {name, tenant_id, host, socket, session,
-- rostered, runtime, heartbeat_interval, pane = {id, state ("alive", "dead"), pid, command,
-- width, height, in_mode, dead_status}, lease = {holder, since} | nil}. Codes:
-- "no-such-agent", "remote-host", "no-session", "tmux-unreadable", "roster-invalid".
-- No roster file yet is an empty roster (unrostered sessions stay addressable). Example:
--   local t, err, code = agent.resolve("coder-1")
--   if code == "no-session" then print("not started") end
function M.resolve(name, opts)
  local t, message, code = forward("resolve", host.agent_resolve, name, opts)
  return t, message, code
end

-- capture, watch and attach: the resolver's target. The host checks the verb's options
-- too (`fname` names the verb), before looking anything up: one layer of argument checks.
-- A tail call on purpose: forward's error level then lands on the public function's caller.
local function target(fname, name, opts)
  return forward(fname, host.agent_resolve, name, opts, fname)
end

local function split_lines(text)
  local lines = setmetatable({}, host.array_mt)
  for line in text:gmatch("([^\n]*)\n") do
    lines[#lines + 1] = line
  end
  return lines
end

--- capture(name [, {escapes=false, history=0, socket=, roster=}]) -> capture | nil, message, code
-- The agent's screen now, as tmux's `capture-pane -p` prints it (with colour escapes when
-- `escapes`; `history` adds up to that many lines of scrollback before the screen).
-- capture = {name, tenant_id, host, socket, pane, lines = {...}, text, width, height,
-- cursor_x, cursor_y, cursor_visible, alternate_on, dead, dead_status, in_mode,
-- history (lines of scrollback included), history_size}. Attaches nothing to the pane.
-- The agent is found as `resolve` finds it (the code is the resolver's, or "capture-failed").
-- Example:
--   local c = assert(agent.capture("coder-1"))
--   print(c.lines[c.cursor_y + 1])   -- the line the cursor is on
function M.capture(name, opts)
  local t, err, code = target("capture", name, opts)
  if not t then
    return nil, err, code
  end
  opts = opts or {}
  local c, cerr = forward("capture", host.agent_capture, t.pane.id, t.socket,
    { escapes = opts.escapes and true or false, history = opts.history })
  if not c then
    return nil, ("%s: %s"):format(name, cerr), "capture-failed"
  end
  c.name, c.tenant_id, c.host, c.socket = t.name, t.tenant_id, t.host, t.socket
  c.lines = split_lines(c.text)
  return c
end

--- watch(name [, {interval=0.5, once=false, socket=, roster=}]) -> status | nil, message, status [, code]
-- Shows the agent's pane in this terminal, read-only, until `q`, Ctrl-C or Ctrl-D (SPEC
-- 2.5). No tmux client is attached: the pane is polled with `capture-pane` every `interval`
-- seconds, so nothing can reach the agent and its size never changes. `once` prints the
-- screen and returns; when standard output is not a terminal the screen is printed as plain
-- text, once, or (without `once`) each time it changes after a `--- <agent> <time> <w>x<h> ---`
-- line. Returns 0 when the operator quit, 128 + n when signal n ended it; nil, message and
-- 1 when the agent cannot be watched (then also the resolver's code) or its pane
-- disappeared. Example:
--   agent.watch("coder-1", { interval = 1 })
function M.watch(name, opts)
  local t, err, code = target("watch", name, opts)
  if not t then
    return nil, err, 1, code
  end
  opts = opts or {}
  local status, message = forward("watch", host.agent_watch, t.pane.id, t.socket, {
    agent = t.name,
    interval = opts.interval,
    once = opts.once and true or false,
    heartbeat_interval = t.heartbeat_interval,
  })
  if message then
    return nil, message, status
  end
  return status
end

--- attach(name [, {yes=false, socket=, roster=}]) -> status | nil, message, status
-- The one interactive takeover (SPEC 2.6): says what it is about to do on stderr, asks for
-- confirmation unless `yes`, then attaches a normal tmux client to the agent's session in
-- this terminal (nested when inside tmux) and returns when it detaches, with the client's
-- exit status. While attached the agent is leased (`fleet ps` flag `leased`, `agent send`
-- refuses it); attach and detach are recorded in <state>/audit.log. Refusals return nil,
-- message, 3 and a code (the resolver's, or "pane-dead", "leased", "no-terminal", "refused":
-- lease or audit log not writable); declining returns nil, message, 1, "not-confirmed".
-- Example:
--   local status, err = agent.attach("coder-1", { yes = true })
function M.attach(name, opts)
  local t, err, code = target("attach", name, opts)
  if not t then
    return nil, err, 3, code
  end
  opts = opts or {}
  local pane = t.pane
  if pane.state == "dead" then
    return nil, ("%s: its pane is dead (the program exited%s); restart the agent instead"):format(
      name, pane.dead_status and (" with status " .. pane.dead_status) or ""), 3, "pane-dead"
  end
  if t.lease then
    return nil, ("%s: leased by %s since %s; wait until they detach"):format(name, t.lease.holder,
      t.lease.since), 3, "leased"
  end
  if not host.isatty(0) then
    return nil, ("%s: attaching needs a terminal on standard input"):format(name), 3, "no-terminal"
  end
  local session = t.session
  local id = host.agent_attach_identity()
  local prefix = host.agent_tmux_prefix(t.socket) or "C-b"
  local out = io.stderr
  out:write(("About to attach to agent %s (tenant %s, host %s):\n"):format(t.name,
    tostring(t.tenant_id or "-"), tostring(t.host)))
  out:write(("  tmux session =%s on socket %s (pane %s, running %s, %sx%s)\n"):format(session,
    t.socket, pane.id, tostring(pane.command or "?"), tostring(pane.width or "?"),
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
      return nil, ("%s: not confirmed; nothing done"):format(name), 1, "not-confirmed"
    end
  end
  io.stdout:flush()
  local status, message, refused = host.agent_attach({
    agent = t.name,
    tenant = t.tenant_id,
    session = session,
    socket = t.socket,
    pane = pane.id,
  })
  if refused then
    return nil, ("%s: %s"):format(name, message), 3, "refused"
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
