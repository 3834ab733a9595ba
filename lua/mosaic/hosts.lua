--- Other hosts over OpenSSH (SPEC 2.12): the fan-out of `fleet ps` and `fleet check`, and
-- the routing of agent verbs to the host an agent lives on.
--
-- Transport: the operator's own `ssh` (their config, keys, known_hosts), never asking
-- (BatchMode), connections shared (ControlMaster=auto, ControlPath under <run>/ssh,
-- ControlPersist), every host at once (mosaic.exec_many), each killed at its deadline.
--
-- The remote side: sshd hands the command line to the remote user's shell, so that line is
-- always `<mosaic> remote <hex>`: the roster's path for the binary (held to characters no
-- shell treats specially), the word `remote`, and the envelope
-- `{"v":1,"argv":[...]}` (JSON, hex-encoded: only 0-9 and a-f reach the shell). The remote
-- `mosaic remote` decodes it and runs that command in-process with exactly that argv.
-- Text (agent send's message) travels on ssh's stdin, never in the command line. The
-- envelope is an argument rather than stdin because `agent watch` and `agent attach` need
-- stdin for the terminal (`ssh -t`).
local host = require "mosaic._host"
local fleet = require "mosaic.fleet"
local json = require "mosaic.json"
local closest = require "mosaic._suggest"

local M = {}

M.ENVELOPE_VERSION = 1
--- Seconds a host may take to answer `fleet ps` (connection included).
M.TIMEOUT = 10
--- Seconds an ssh connection may take to be set up (ConnectTimeout).
M.CONNECT_TIMEOUT = 5
--- Seconds an idle shared connection stays open (ControlPersist).
M.PERSIST = 60

-- Commands a remote `mosaic remote` runs (the first two words of the envelope's argv).
M.COMMANDS = {
  ["fleet ps"] = true,
  ["agent send"] = true,
  ["agent capture"] = true,
  ["agent watch"] = true,
  ["agent attach"] = true,
}

--- serving: true while this process runs a command for another host's mosaic; it then
-- never fans out itself (a shared roster names this host's peers too).
M.serving = false

local function hex(s)
  return (s:gsub(".", function(c)
    return ("%02x"):format(c:byte())
  end))
end

local function unhex(s)
  if #s % 2 ~= 0 or s:find("[^0-9a-f]") then
    return nil
  end
  return (s:gsub("..", function(h)
    return string.char(tonumber(h, 16))
  end))
end

M.hex, M.unhex = hex, unhex

--- control_path([run]) -> the ControlPath for ssh (under <run>/ssh, a private directory), or
-- nil when the socket path would be too long (a Unix socket path has at most 107 bytes; %C
-- is 40 hex digits): then every call makes a connection of its own.
function M.control_path(run)
  run = run or mosaic.paths().run
  local dir = run .. "/ssh"
  -- ssh splits -o values at white space and expands % tokens in ControlPath: such a
  -- directory gets no shared connection rather than a broken one.
  if #dir + 1 + 40 > 104 or dir:find("[%s%%'\"\\]") then
    return nil
  end
  local ok = host.mkdir_private(run) and host.mkdir_private(dir)
  if not ok then
    return nil
  end
  return dir .. "/%C"
end

--- ssh_argv(h, argv [, {tty=, connect_timeout=, run=}]) -> the ssh command line that runs `argv`
-- (a mosaic command, e.g. {"fleet", "ps", "--json"}) with the mosaic of roster host `h`.
function M.ssh_argv(h, argv, opts)
  opts = opts or {}
  local cmd = { "ssh" }
  -- The roster's own options first: for each option ssh keeps the first value it is given.
  for _, o in ipairs(h.ssh_options or {}) do
    cmd[#cmd + 1] = "-o"
    cmd[#cmd + 1] = o
  end
  local control = M.control_path(opts.run)
  local fixed = {
    "BatchMode=yes",
    "ConnectTimeout=" .. math.max(1, math.ceil(opts.connect_timeout or M.CONNECT_TIMEOUT)),
    "ServerAliveInterval=5",
    "ServerAliveCountMax=2",
    "LogLevel=ERROR",
  }
  if control then
    fixed[#fixed + 1] = "ControlMaster=auto"
    fixed[#fixed + 1] = "ControlPath=" .. control
    fixed[#fixed + 1] = "ControlPersist=" .. M.PERSIST
  end
  for _, o in ipairs(fixed) do
    cmd[#cmd + 1] = "-o"
    cmd[#cmd + 1] = o
  end
  cmd[#cmd + 1] = opts.tty and "-t" or "-T"
  cmd[#cmd + 1] = "--"
  cmd[#cmd + 1] = h.ssh
  local envelope = json.encode({ v = M.ENVELOPE_VERSION, argv = json.array(argv) })
  cmd[#cmd + 1] = (h.mosaic or "mosaic") .. " remote " .. hex(envelope)
  return cmd
end

--- decode(hex) -> argv | nil, message: the envelope `mosaic remote` was given, checked.
function M.decode(text)
  local raw = unhex(text or "")
  if not raw then
    return nil, "the envelope is not hex"
  end
  local env = json.decode(raw)
  if type(env) ~= "table" then
    return nil, "the envelope is not a JSON object"
  end
  if env.v ~= M.ENVELOPE_VERSION then
    return nil, ("envelope version %s is not %d (update mosaic on both hosts)"):format(tostring(env.v),
      M.ENVELOPE_VERSION)
  end
  if type(env.argv) ~= "table" or #env.argv < 2 then
    return nil, "the envelope has no command"
  end
  for i, a in ipairs(env.argv) do
    if type(a) ~= "string" then
      return nil, ("argv[%d] is not a string"):format(i)
    end
  end
  local command = env.argv[1] .. " " .. env.argv[2]
  if not M.COMMANDS[command] then
    return nil, ("'%s' is not a command other hosts may run"):format(command)
  end
  return env.argv
end

--- serve(hex) -> exit status: runs the envelope's command in this process.
function M.serve(text)
  local argv, err = M.decode(text)
  if not argv then
    io.stderr:write("mosaic: remote: ", err, "\n")
    return 64
  end
  M.serving = true
  return require("mosaic._dispatch").main(argv)
end

-- The roster's hosts by name, and the list of the others (not this machine).
local function roster_hosts(roster)
  local by_name, others = {}, {}
  local here = mosaic.hostname()
  for _, h in ipairs(roster.hosts or {}) do
    by_name[h.name] = h
    if h.name ~= here then
      others[#others + 1] = h
    end
  end
  return by_name, others, here
end

--- check_host(roster, name) -> true | nil, message: `--host name` names this machine or a
-- roster host.
function M.check_host(roster, name)
  local by_name, _, here = roster_hosts(roster)
  if name == here or by_name[name] then
    return true
  end
  local names = {}
  for n in pairs(by_name) do
    if n ~= here then
      names[#names + 1] = n
    end
  end
  table.sort(names)
  local guess = closest(name, { here, table.unpack(names) })
  return nil, ("no host named '%s' (this machine is '%s', %s)%s"):format(name, here,
    #names > 0 and ("roster hosts: " .. table.concat(names, ", ")) or "no roster hosts",
    guess and (" (did you mean '" .. guess .. "'?)") or "")
end

-- The line of a failed call's stderr that says why: mosaic's own error line when there is
-- one (the remote mosaic's), else the last line (ssh's).
local function why_line(s)
  s = (s or ""):gsub("\r", "")
  local last
  for line in s:gmatch("[^\n]+") do
    if line:match("^mosaic: ") then
      return (line:gsub("^mosaic: ", ""))
    end
    last = line
  end
  return last or ""
end

-- What went wrong with one host's call (nil when it answered; HostsMerge checks the answer).
local function transport_error(h, r, timeout)
  if r.error ~= nil and r.error ~= json.null then
    return tostring(r.error)
  end
  if r.timed_out then
    return ("no answer within %g s"):format(timeout)
  end
  if r.status == 255 then
    local why = why_line(r.stderr)
    return why ~= "" and why or "ssh failed (status 255)"
  end
  if r.status ~= 0 then
    local why = why_line(r.stderr)
    return ("%s on %s exited with status %d%s"):format(h.mosaic or "mosaic", h.ssh, r.status,
      why ~= "" and (": " .. why) or "")
  end
  return nil
end

--- fan_out(hosts, argv, timeout [, run]) -> { {host=h, result=r}, ... } for each host, in
-- order: `argv` run by each host's mosaic, all at once (`run`: the run dir for the shared
-- connections, default <run>).
function M.fan_out(hosts, argv, timeout, run)
  local requests = {}
  for i, h in ipairs(hosts) do
    requests[i] = { argv = M.ssh_argv(h, argv, { connect_timeout = math.min(M.CONNECT_TIMEOUT, timeout), run = run }),
      timeout = timeout }
  end
  if #requests == 0 then
    return {}
  end
  local results = mosaic.exec_many(requests)
  local out = {}
  for i, h in ipairs(hosts) do
    out[i] = { host = h, result = results[i] }
  end
  return out
end

-- The query without the keys this module reads (fleet.ps refuses unknown options).
local function split_query(query)
  local q, own = {}, {}
  for k, v in pairs(query or {}) do
    if k == "host" or k == "host_timeout" then
      own[k] = v
    else
      q[k] = v
    end
  end
  return q, own
end

-- What ps and ps_json need: the query for fleet.ps, --host, the per-host timeout, the
-- other hosts and those to ask, this machine's name.
local function plan(query)
  local q, own = split_query(query)
  -- Only the roster's hosts: its agents are not needed here (and not built as Lua tables).
  local list = not M.serving and host.fleet_roster_hosts(q.roster)
  local roster = list and { hosts = list }
  local here, others = mosaic.hostname(), {}
  if roster then
    local _
    _, others, here = roster_hosts(roster)
    if own.host then
      local ok, err = M.check_host(roster, own.host)
      if not ok then
        return nil, err, "host-unknown"
      end
    end
  end
  local targets = {}
  for _, h in ipairs(others) do
    if own.host == nil or own.host == h.name then
      targets[#targets + 1] = h
    end
  end
  return { q = q, host = own.host, timeout = own.host_timeout or M.TIMEOUT, others = others, targets = targets,
    here = here }
end

local function remote_argv(q)
  local argv = { "fleet", "ps", "--json" }
  if q.tenant then
    table.move({ "--tenant", q.tenant }, 1, 2, #argv + 1, argv)
  end
  if q.probe then
    argv[#argv + 1] = "--probe"
    if q.probe_timeout then
      table.move({ "--probe-timeout", tostring(q.probe_timeout) }, 1, 2, #argv + 1, argv)
    end
  end
  return argv
end

--- merge_json(local_json, answers, here [, pretty]) -> merged JSON text | nil, message
-- The join itself (Swift, FleetCore HostsMerge): `answers` is a list of
-- {name=, ssh=, error=, stdout=}, `error` nil when the host answered.
M.merge_json = host.hosts_merge

-- The merged JSON text: every target asked at once, then this host's own fleet ps.
local function merged(p, pretty)
  local answers = M.fan_out(p.targets, remote_argv(p.q), p.timeout)
  local text, err, code = fleet.ps_json(p.q)
  if not text then
    return nil, err, code
  end
  local list = {}
  for i, a in ipairs(answers) do
    list[i] = { name = a.host.name, ssh = a.host.ssh, error = transport_error(a.host, a.result, p.timeout),
      stdout = a.result.stdout }
  end
  return M.merge_json(text, list, p.here, pretty)
end

--- ps(query) -> snapshot | nil, message, code
-- fleet.ps(query) joined with the `fleet ps --json` of every other roster host, asked at
-- the same time over ssh. Extra query fields: `host` (only that host's agents; only that
-- host is asked) and `host_timeout` (seconds per host, default M.TIMEOUT). The snapshot
-- gains `hosts` (this machine first); an unreachable host adds the warning
-- `host-unreachable` and its rostered agents keep null cells. Without other hosts (or
-- while serving another host) it is fleet.ps(query) unchanged.
function M.ps(query)
  local p, err, code = plan(query)
  if not p then
    return nil, err, code
  end
  local snapshot
  if #p.others == 0 then
    snapshot, err, code = fleet.ps(p.q)
  else
    local text
    text, err, code = merged(p)
    snapshot = text and json.decode(text)
  end
  if snapshot and p.host then
    M.only_host(snapshot, p.host)
  end
  return snapshot, err, code
end

--- ps_json(query [, pretty]) -> the JSON text of ps(query) | nil, message, code
-- No Lua tables are built (fleet.ps_json's fast path, the join in Swift), except with `host`.
function M.ps_json(query, pretty)
  local p, err, code = plan(query)
  if not p then
    return nil, err, code
  end
  if p.host == nil then
    if #p.others == 0 then
      return fleet.ps_json(p.q, pretty)
    end
    return merged(p, pretty)
  end
  local snapshot
  snapshot, err, code = M.ps(query)
  if not snapshot then
    return nil, err, code
  end
  return json.encode(snapshot, pretty)
end

--- only_host(snapshot, name): keeps the rows (and hosts entries) of host `name`.
function M.only_host(snapshot, name)
  local function only(list, field)
    local kept = {}
    for _, e in ipairs(list) do
      if e[field] == name then
        kept[#kept + 1] = e
      end
    end
    return json.array(kept)
  end
  snapshot.agents = only(snapshot.agents, "host")
  if type(snapshot.hosts) == "table" then
    snapshot.hosts = only(snapshot.hosts, "name")
  end
  local warnings = {}
  for _, w in ipairs(snapshot.warnings) do
    if w.code ~= "remote-agents" and (w.host or snapshot.host) == name then
      warnings[#warnings + 1] = w
    end
  end
  snapshot.warnings = json.array(warnings)
  return snapshot
end

--- locate(roster_path, name [, host]) -> nil (run it here) | roster host table | nil, message
-- Where an agent lives: its roster `host`; `host` (--host) names a host for a session the
-- roster does not list, and must agree with the roster otherwise.
function M.locate(roster_path, name, want)
  if M.serving then
    return nil
  end
  local roster = fleet.roster(roster_path)
  if not roster then
    return nil -- the command itself reports a broken roster
  end
  local by_name, _, here = roster_hosts(roster)
  if want then
    local ok, err = M.check_host(roster, want)
    if not ok then
      return nil, err
    end
  end
  local where, rostered = want, nil
  for _, a in ipairs(roster.agents) do
    if a.name == name then
      if want and a.host ~= want then
        return nil, ("%s: lives on host %s, not %s"):format(name, a.host, want)
      end
      where, rostered = a.host, a
      break
    end
  end
  if where == nil or where == here then
    return nil
  end
  return by_name[where], nil, rostered or { tenant_id = roster.tenant_id }
end

-- ssh's own words when it could not set up the connection: the remote command never ran.
local CONNECT_FAILURES = { "Connection refused", "Could not resolve hostname", "Permission denied",
  "Host key verification failed", "Connection timed out", "No route to host", "Network is unreachable",
  "kex_exchange_identification", "Operation timed out", "Name or service not known", "Connection closed by" }

local function connect_failed(stderr)
  for _, words in ipairs(CONNECT_FAILURES) do
    if (stderr or ""):find(words, 1, true) then
      return true
    end
  end
  return false
end

-- agent send --json when the other host's answer is missing: the result object (schema
-- mosaic.agent.send/v1), so scripts always get one. `kind`: "unreachable" (the command
-- never ran there: refused, exit 3), "timeout" (no answer in time: exit 2) or "lost" (the
-- connection ended while the command ran: the message may have been delivered, exit 1).
local function send_failure(name, h, a, why, kind)
  local refused = kind == "unreachable"
  local t = {
    schema = "mosaic.agent.send/v1", agent = name, tenant_id = a and a.tenant_id, host = h.name,
    delivered = false, verdict = not refused and "unknown" or nil, timed_out = kind == "timeout",
    exit = refused and 3 or (kind == "timeout" and 2 or 1),
    refused = refused and why or nil, refused_code = refused and "host-unreachable" or nil,
    error = not refused and why or nil,
    detail = refused and why or (why .. "; the message may have been delivered there"),
    evidence = json.object({}),
  }
  local keys = { "schema", "agent", "tenant_id", "host", "delivered", "verdict", "timed_out", "exit", "refused",
    "refused_code", "error", "detail", "evidence" }
  print(json.encode(setmetatable(t, { __name = "json.object", __jsonkeys = keys }), true))
  io.stdout:flush()
end

--- run(h, argv [, {stdin=, timeout=, terminal=}]) -> exit status | nil, message, kind: runs a
-- mosaic command on roster host `h`, its output passed through. `terminal`: on this terminal
-- (ssh -t when stdin and stdout are terminals). kind: "unreachable" (the command did not run
-- there: no connection, or no mosaic to run), "timeout", "lost" (the connection ended while
-- it ran).
function M.run(h, argv, opts)
  opts = opts or {}
  if opts.terminal then
    local tty = host.isatty(0) and host.isatty(1)
    local status, err = host.exec_terminal(M.ssh_argv(h, argv, { tty = tty }))
    if not status then
      return nil, err
    end
    if status == 255 then
      return nil, ("host %s (%s): ssh failed (status 255)"):format(h.name, h.ssh), "lost"
    end
    return status
  end
  local r, err = mosaic.exec(M.ssh_argv(h, argv), { stdin = opts.stdin or "", timeout = opts.timeout or 120 })
  if not r then
    return nil, err
  end
  io.stdout:write(r.stdout)
  io.stdout:flush()
  if r.timed_out then
    return nil, ("host %s (%s): no answer within %g s"):format(h.name, h.ssh, opts.timeout or 120), "timeout"
  end
  local why = why_line(r.stderr)
  if r.status == 255 then
    local kind = connect_failed(r.stderr) and "unreachable" or "lost"
    return nil, ("host %s (%s) %s: %s"):format(h.name, h.ssh, kind == "lost" and "connection lost" or "unreachable",
      why ~= "" and why or "ssh failed"), kind
  end
  if (r.status == 126 or r.status == 127) and r.stdout == "" then
    -- The remote shell found no mosaic to run (the roster's `mosaic` path, or not installed).
    return nil, ("host %s (%s): %s could not be run (status %d)%s"):format(h.name, h.ssh, h.mosaic or "mosaic",
      r.status, why ~= "" and (": " .. why) or ""), "unreachable"
  end
  io.stderr:write(r.stderr)
  return r.status
end

--- flags(opts, names) -> argv words for the options set in `opts`: a name "verify" gives
-- --verify when true; "timeout=" gives --timeout VALUE when set.
function M.flags(opts, names)
  local out = {}
  for _, n in ipairs(names) do
    local key, valued = n:match("^([%w_]+)(=?)$")
    local v = opts[key]
    if v ~= nil and v ~= false then
      out[#out + 1] = "--" .. key:gsub("_", "-")
      if valued == "=" then
        out[#out + 1] = tostring(v)
      end
    end
  end
  return out
end

--- route(command, opts, argv [, run options]) -> nil when the agent lives here, else the
-- exit status of the command run where it lives (`command`: "agent send" and the like,
-- for messages; `opts`: the parsed options, with agent, roster, host; `argv`: the full
-- mosaic argv for the other host). A failure prints one line and gives `fail_status`.
function M.route(command, opts, argv, run_opts)
  local h, err, rostered = M.locate(opts.roster, opts.agent, opts.host)
  if not h then
    if err then
      io.stderr:write("mosaic: ", command, ": ", err, "\n")
      return run_opts and run_opts.fail_status or 1
    end
    return nil
  end
  run_opts = run_opts or {}
  local status, why, kind = M.run(h, argv, run_opts)
  if not status then
    if run_opts.send_json then
      send_failure(opts.agent, h, rostered, why, kind)
    end
    io.stderr:write("mosaic: ", command, ": ", opts.agent, ": ", why, "\n")
    if kind == "timeout" and run_opts.timeout_status then
      return run_opts.timeout_status
    end
    if kind == "lost" and run_opts.lost_status then
      return run_opts.lost_status
    end
    return run_opts.fail_status or 1
  end
  return status
end

return M
