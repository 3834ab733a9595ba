--- The rules of `mosaic fleet check` (SPEC 2.8), as a module so operator scripts (and the
-- morning report in examples/) judge a fleet the same way the check does.
--
-- States and exit statuses follow the Monitoring Plugins guidelines: OK 0, WARNING 1,
-- CRITICAL 2, UNKNOWN 3. Each finding is a problem {severity, code, agent, tenant_id,
-- host, message}; the verdict is the worst one, ranked CRITICAL > UNKNOWN > WARNING > OK.
--
-- Per rostered agent on this host (rows of `fleet.ps`):
--   CRITICAL  pane-dead          the pane's program exited (tmux keeps the dead pane)
--   CRITICAL  pane-absent        no session for it; also every agent when the tmux server
--                                is absent (warning tmux-server-absent): its pane is gone
--   CRITICAL  unit-inactive      unit state known and not active (reloading counts as
--                                active); inactive, failed, activating (auto-restart) ...
--   CRITICAL  heartbeat-stale    now - ts > 3 x interval
--   WARNING   drift              the pane runs something other than the roster runtime
--   WARNING   boot-enable        unit active but would not start at boot
--   WARNING   heartbeat-unknown  no heartbeat file, an untrusted or unparsable one, or a
--                                clock skew (the reason is in the message)
--   WARNING   stopped            the pane's foreground process is stopped (state T). Not in
--                                SPEC's lists: an operator may have pressed Ctrl-Z on
--                                purpose, and a really frozen agent goes stale (CRITICAL)
--   WARNING   probe-unanswered   with --probe: no answer within the probe timeout
--   WARNING   waiting            activity `waiting` (a permission, approval, trust or key
--                                dialog needs a human) for longer than `waiting` seconds
--                                (default 600), counted from activity.since; a wait whose
--                                start no source tells (screen only) is counted in the
--                                perfdata but not warned about (`mosaic hooks install`
--                                gives Codex agents the time)
--   (none)    leased             an operator holds it through `agent attach`: on purpose
-- Per unrostered session on the fleet's socket (left out by --tenant and --agent, unless
-- named): WARNING unrostered.
-- Fleet-level (the snapshot's warnings):
--   WARNING   linger-disabled, tmux-too-old, and any code this module does not know
--   UNKNOWN   tmux-unreadable, user-manager-unreachable, run-dir-unsafe: a plane the rules
--             need could not be read, so the check cannot say everything is fine. What the
--             other planes show still counts: a stale heartbeat is CRITICAL even when the
--             user manager is unreachable (CRITICAL outranks UNKNOWN). While the run
--             directory is unreadable, the per-agent heartbeat-unknown lines are left out
--             (the fleet-level line says why once).
--   (none)    remote-agents: agents rostered on other hosts the roster cannot reach are
--             not judged here (their planes are only readable there; run the check on each
--             host). They are counted in the perfdata as `remote`.
--   CRITICAL  host-unreachable (SPEC 2.8, 2.12): a roster host did not answer its `fleet ps`
--             over ssh; its agents cannot be seen (counted as `remote`). The agents of the
--             hosts that answered are judged by the rules above, like this host's own; a
--             warning another host reported carries its `host`.
--   WARNING   host-name-mismatch: a roster host calls itself by another name.
-- The flags, warning codes and unit states are FleetCore's (mosaic.row): a rule above that
-- says what a flag says is that flag, not a second reading of the row's cells.
-- The check itself could not run (verdict UNKNOWN, one problem, empty perfdata): bad
-- roster (roster-invalid), fleet ps failed (check-failed), time limit (timeout), another
-- check of the same scope still running (locked), bad arguments (usage), an --agent that
-- is neither rostered nor a session (no-such-agent), a --host that names no roster host
-- (host-unknown), nothing to check (nothing-to-check:
-- no rostered agent of this host in scope, e.g. a misspelt --tenant).
-- `ignore` (a set of codes) leaves problems out of the verdict; they are counted as
-- `ignored` in the JSON.
local json = require "mosaic.json"
local render = require "mosaic.render"
local rows = require "mosaic.row"
local fleet = require "mosaic.fleet"

local M = {}

M.SCHEMA = "mosaic.fleet.check/v1"
M.EXIT = { OK = 0, WARNING = 1, CRITICAL = 2, UNKNOWN = 3 }
local RANK = { OK = 0, WARNING = 1, UNKNOWN = 2, CRITICAL = 3 }

-- Fleet-level warnings that are no problem of their own: an absent tmux server is judged
-- per agent (pane-absent), remote agents on their own host.
local NOT_A_PROBLEM = { ["tmux-server-absent"] = true, ["remote-agents"] = true }

-- A fleet-level warning's severity: UNKNOWN when a plane could not be read, else WARNING.
local function warning_severity(code)
  if code == "host-unreachable" then
    return "CRITICAL"
  end
  return rows.UNREADABLE[code] and "UNKNOWN" or "WARNING"
end

--- Every problem code, by severity (for --ignore and the docs).
M.CODES = {
  ["pane-dead"] = "CRITICAL", ["pane-absent"] = "CRITICAL", ["unit-inactive"] = "CRITICAL",
  ["heartbeat-stale"] = "CRITICAL",
  drift = "WARNING", ["boot-enable"] = "WARNING", ["heartbeat-unknown"] = "WARNING",
  stopped = "WARNING", ["probe-unanswered"] = "WARNING", unrostered = "WARNING", waiting = "WARNING",
  -- hosts (SPEC 2.8, 2.12): a roster host that cannot be reached hides its agents
  ["host-unreachable"] = "CRITICAL",
}
for _, code in ipairs(rows.WARNINGS) do
  if not NOT_A_PROBLEM[code] then
    M.CODES[code] = warning_severity(code)
  end
end

--- The perfdata labels, in the order they are printed.
M.PERFDATA = { "agents", "healthy", "stale", "heartbeat_unknown", "dead", "absent", "inactive", "drift",
  "boot_enable", "stopped", "leased", "waiting", "unrostered", "remote" }

-- A JSON object whose keys encode in this order (nil values as null).
local function ordered(keys, values)
  return setmetatable(values, { __name = "json.object", __jsonkeys = keys })
end

-- One line of plugin output: no '|' (it starts the perfdata), no control characters.
local function clean(text)
  return (tostring(text):gsub("|", "/"):gsub("[%c]", " "))
end

local PROBLEM_KEYS = { "severity", "agent", "tenant_id", "host", "code", "message" }

local function problem(severity, code, row, host, message)
  return ordered(PROBLEM_KEYS, {
    severity = severity,
    agent = row and row.name or nil,
    tenant_id = row and row.tenant_id or nil,
    host = row and row.host or host,
    code = code,
    message = clean(message),
  })
end

local function basename(path)
  return (tostring(path):match("([^/]*)$"))
end

local function command_line(process, max)
  local argv = process and process.argv
  if not argv or #argv == 0 then
    return "an unknown program"
  end
  local words = { basename(argv[1]) }
  for i = 2, #argv do
    words[#words + 1] = argv[i]
  end
  local text = table.concat(words, " ")
  if #text > max then
    text = text:sub(1, max - 3) .. "..."
  end
  return text
end

local function now_iso()
  return os.date("!%Y-%m-%dT%H:%M:%SZ")
end

-- The problems of one rostered local agent.
local function judge_agent(row, ctx, out)
  local pane = row.pane or {}
  local unit = row.systemd or {}
  local hb = row.heartbeat or {}
  local has = rows.has
  if has(row, "dead") then
    local status = pane.dead_status and (" (exit status %s)"):format(pane.dead_status) or ""
    out[#out + 1] = problem("CRITICAL", "pane-dead", row, nil, "pane dead" .. status)
  elseif has(row, "absent") then
    out[#out + 1] = problem("CRITICAL", "pane-absent", row, nil,
      ("pane absent: no tmux session on socket %s"):format(ctx.socket))
  elseif pane.state == nil and ctx.absent_on[row.host] then
    out[#out + 1] = problem("CRITICAL", "pane-absent", row, nil,
      ("pane absent: no tmux server on socket %s"):format(ctx.socket))
  end
  if rows.unit_active(row) == false then
    out[#out + 1] = problem("CRITICAL", "unit-inactive", row, nil, ("unit %s is %s%s"):format(
      tostring(unit.unit), unit.active, unit.sub and (" (" .. unit.sub .. ")") or ""))
  end
  if has(row, "stale") then
    out[#out + 1] = problem("CRITICAL", "heartbeat-stale", row, nil,
      ("heartbeat stale: last beat %s ago, interval %s s"):format(render.duration(hb.age_s),
        hb.interval_s and ("%g"):format(hb.interval_s) or "?"))
  elseif hb.health ~= "healthy" and not ctx.run_dir_unsafe then
    out[#out + 1] = problem("WARNING", "heartbeat-unknown", row, nil,
      "heartbeat unknown: " .. tostring(hb.reason or "no reading"))
  end
  if has(row, "drift") then
    out[#out + 1] = problem("WARNING", "drift", row, nil, ("drift: roster runtime %s, pane runs %s"):format(
      tostring(row.runtime), command_line(row.process, 60)))
  end
  if has(row, "boot-enable") then
    out[#out + 1] = problem("WARNING", "boot-enable", row, nil,
      ("unit %s is active but %s: it will not start at boot"):format(tostring(unit.unit), tostring(unit.enabled)))
  end
  if has(row, "stopped") then
    out[#out + 1] = problem("WARNING", "stopped", row, nil, "the pane's foreground process is stopped")
  end
  local act = row.activity or {}
  if has(row, "waiting") then
    local since = render.epoch(act.since)
    if since and ctx.now and ctx.now - since > ctx.waiting then
      out[#out + 1] = problem("WARNING", "waiting", row, nil, ("waiting for %s for %s (over %s)"):format(
        act.waiting_for or "a human", render.duration(ctx.now - since), render.duration(ctx.waiting)))
    end
  end
  if ctx.probed and hb.probe_answered == false then
    out[#out + 1] = problem("WARNING", "probe-unanswered", row, nil, "did not answer a probe")
  end
end

-- The perfdata label each counted flag adds to.
local FLAG_COUNTS = { stale = "stale", dead = "dead", absent = "absent", drift = "drift",
  ["boot-enable"] = "boot_enable", stopped = "stopped", leased = "leased", waiting = "waiting" }

local function count(perf, row, ctx)
  local health = row.heartbeat and row.heartbeat.health or "unknown"
  perf.agents = perf.agents + 1
  if health == "healthy" then
    perf.healthy = perf.healthy + 1
  elseif not rows.has(row, "stale") then
    perf.heartbeat_unknown = perf.heartbeat_unknown + 1
  end
  for _, f in ipairs(row.flags or {}) do
    local label = FLAG_COUNTS[f]
    if label then
      perf[label] = perf[label] + 1
    end
  end
  if (row.pane or {}).state == nil and ctx.absent_on[row.host] then
    perf.absent = perf.absent + 1
  end
  if rows.unit_active(row) == false then
    perf.inactive = perf.inactive + 1
  end
end

local function plural(n, word)
  return ("%d %s%s"):format(n, word, n == 1 and "" or "s")
end

local function new_perfdata()
  local perf = ordered(M.PERFDATA, {})
  for _, k in ipairs(M.PERFDATA) do
    perf[k] = 0
  end
  return perf
end

local VERDICT_KEYS = { "schema", "state", "exit", "summary", "perfdata", "problems", "ignored", "host", "socket",
  "generated_at", "elapsed_s" }

local function verdict(fields)
  fields.schema = M.SCHEMA
  fields.exit = M.EXIT[fields.state]
  fields.problems = json.array(fields.problems or {})
  fields.ignored = fields.ignored or 0
  fields.host = fields.host or mosaic.hostname()
  fields.generated_at = fields.generated_at or now_iso()
  return ordered(VERDICT_KEYS, fields)
end

--- unknown(message [, code [, host]]) -> the verdict of a check that could not run.
function M.unknown(message, code, host)
  return verdict {
    state = "UNKNOWN",
    summary = clean(message),
    perfdata = json.object {},
    problems = { problem("UNKNOWN", code or "check-failed", nil, host or mosaic.hostname(), message) },
    host = host,
  }
end

--- evaluate(snapshot [, {agents = {names}, ignore = {code = true}, tenant = T}]) -> verdict
-- snapshot: what fleet.ps returns. verdict = {schema, state, exit, summary, perfdata,
-- problems, ignored, host, socket, generated_at}, the JSON of `fleet check --json`.
function M.evaluate(snapshot, opts)
  opts = opts or {}
  local ignore = opts.ignore or {}
  local host = snapshot.host
  local ctx = { socket = snapshot.socket, probed = false, now = render.epoch(snapshot.generated_at),
    waiting = opts.waiting or 600, absent_on = {} }
  for _, w in ipairs(snapshot.warnings or {}) do
    if w.code == "tmux-server-absent" then
      -- hosts (SPEC 2.12): another host's warning names it
      ctx.absent_on[w.host or host] = true
    elseif w.code == "run-dir-unsafe" then
      ctx.run_dir_unsafe = true
    end
  end
  for _, row in ipairs(snapshot.agents or {}) do
    if row.heartbeat and row.heartbeat.probe_answered ~= nil then
      ctx.probed = true
    end
  end

  -- hosts (SPEC 2.12): the rows of a host that answered are judged like this host's own;
  -- not those of a host that calls itself by another name (its rows were not taken).
  local observed, misnamed = {}, {}
  for _, w in ipairs(snapshot.warnings or {}) do
    if w.code == "host-name-mismatch" and w.host then
      misnamed[w.host] = true
    end
  end
  for _, h in ipairs(snapshot.hosts or {}) do
    if h.reachable and not misnamed[h.name] then
      observed[h.name] = true
    end
  end

  -- Which rows are in scope.
  local wanted, found = nil, {}
  if opts.agents and #opts.agents > 0 then
    wanted = {}
    for _, name in ipairs(opts.agents) do
      wanted[name] = true
    end
  end
  local perf = new_perfdata()
  local problems = {}
  local scope_hosts = {} -- the hosts of the rows in scope
  for _, row in ipairs(snapshot.agents or {}) do
    if wanted == nil or wanted[row.name] then
      found[row.name] = true
      scope_hosts[row.host or host] = true
      if rows.has(row, "unrostered") then
        perf.unrostered = perf.unrostered + 1
        problems[#problems + 1] = problem("WARNING", "unrostered", row, nil,
          ("session '%s' on socket %s is not in the roster"):format(row.name, ctx.socket))
      elseif row.host ~= host and not observed[row.host] then
        perf.remote = perf.remote + 1
      else
        count(perf, row, ctx)
        judge_agent(row, ctx, problems)
      end
    end
  end
  if wanted then
    local missing = {}
    for _, name in ipairs(opts.agents) do
      if not found[name] then
        local _, why = fleet.find(snapshot, name)
        missing[#missing + 1] = why
      end
    end
    if #missing > 0 then
      return M.unknown(table.concat(missing, "; "), "no-such-agent", host)
    end
  end
  -- A host that did not answer matters when agents in scope live there (all of them when
  -- the check is not narrowed).
  local narrowed = wanted ~= nil or opts.tenant ~= nil
  local function relevant(w)
    return w.code ~= "host-unreachable" or not narrowed or scope_hosts[w.host] == true
  end
  local unreachable = false
  for _, w in ipairs(snapshot.warnings or {}) do
    if w.code == "host-unreachable" and relevant(w) then
      unreachable = true
    end
  end
  if perf.agents == 0 and perf.unrostered == 0 and not unreachable then
    local why = perf.remote > 0 and ("%d agent(s) in scope run on other hosts"):format(perf.remote)
      or (opts.tenant and ("no rostered agent of tenant '%s'"):format(opts.tenant) or "no rostered agent in scope")
    return M.unknown(("nothing to check on %s: %s"):format(host, why), "nothing-to-check", host)
  end

  -- Fleet-level warnings.
  for _, w in ipairs(snapshot.warnings or {}) do
    if not NOT_A_PROBLEM[w.code] and relevant(w) then
      problems[#problems + 1] = problem(warning_severity(w.code), w.code, nil, w.host or host, w.message)
    end
  end

  -- Ignored codes, then the worst severity first (stable).
  local kept, ignored = {}, 0
  for i, p in ipairs(problems) do
    if ignore[p.code] then
      ignored = ignored + 1
    else
      kept[#kept + 1] = { p = p, i = i }
    end
  end
  table.sort(kept, function(a, b)
    local ra, rb = RANK[a.p.severity], RANK[b.p.severity]
    if ra ~= rb then
      return ra > rb
    end
    return a.i < b.i
  end)
  local state, tally = "OK", { CRITICAL = 0, WARNING = 0, UNKNOWN = 0 }
  problems = {}
  for _, k in ipairs(kept) do
    problems[#problems + 1] = k.p
    tally[k.p.severity] = tally[k.p.severity] + 1
    if RANK[k.p.severity] > RANK[state] then
      state = k.p.severity
    end
  end

  local summary
  local scope = plural(perf.agents, "agent")
  if state == "OK" then
    summary = perf.agents == 1 and "1 agent, healthy" or ("%s, all healthy"):format(scope)
    if ignored > 0 then
      summary = summary .. (" (%s ignored)"):format(plural(ignored, "problem"))
    end
  else
    local parts = {}
    if tally.CRITICAL > 0 then
      parts[#parts + 1] = ("%d critical"):format(tally.CRITICAL)
    end
    if tally.UNKNOWN > 0 then
      parts[#parts + 1] = ("%d unknown"):format(tally.UNKNOWN)
    end
    if tally.WARNING > 0 then
      parts[#parts + 1] = plural(tally.WARNING, "warning")
    end
    local first = problems[1]
    summary = ("%s, %s: %s%s%s"):format(scope, table.concat(parts, ", "),
      first.agent and (first.agent .. ": ") or "", first.message,
      #problems > 1 and (" (+%d more)"):format(#problems - 1) or "")
  end

  return verdict {
    state = state,
    summary = summary,
    perfdata = perf,
    problems = problems,
    ignored = ignored,
    host = host,
    socket = snapshot.socket,
    generated_at = snapshot.generated_at,
  }
end

local function number(v)
  if math.type(v) == "integer" then
    return tostring(v)
  end
  return (("%.3f"):format(v):gsub("0+$", ""):gsub("%.$", ""))
end

--- perfdata_text(verdict) -> "agents=5;;;0 healthy=4;;;0 ... time=0.021s;;;0"
-- The Monitoring Plugins syntax: 'label'=value[UOM];[warn];[crit];[min];[max].
function M.perfdata_text(v)
  local parts = {}
  for _, k in ipairs(M.PERFDATA) do
    if v.perfdata[k] ~= nil then
      parts[#parts + 1] = ("%s=%s;;;0"):format(k, number(v.perfdata[k]))
    end
  end
  if v.elapsed_s then
    parts[#parts + 1] = ("time=%ss;;;0"):format(number(v.elapsed_s))
  end
  return table.concat(parts, " ")
end

--- text(verdict) -> the plugin output: "MOSAIC FLEET <STATE> - <summary> | <perfdata>",
-- then one line per problem ("CRITICAL: coder-2: pane dead").
function M.text(v)
  local perf = M.perfdata_text(v)
  local lines = { ("MOSAIC FLEET %s - %s%s"):format(v.state, v.summary, perf ~= "" and (" | " .. perf) or "") }
  if not (#v.problems == 1 and v.problems[1].severity == "UNKNOWN" and v.problems[1].message == v.summary) then
    for _, p in ipairs(v.problems) do
      lines[#lines + 1] = ("%s: %s%s"):format(p.severity, p.agent and (p.agent .. ": ") or "", p.message)
    end
  end
  return table.concat(lines, "\n") .. "\n"
end

--- snapshot(query, timeout) -> snapshot | nil, message, code
-- hosts.ps(query) (fleet.ps joined with the other roster hosts' answers), bounded in time
-- in this process (`mosaic.within`): the tmux and systemctl queries, the roster's
-- evaluation, the probes and the ssh fan-out end by the deadline.
-- codes: timeout, roster-invalid, host-unknown (--host names no roster host), check-failed.
function M.snapshot(query, timeout)
  local ok, snapshot, err, code = pcall(mosaic.within, math.max(timeout, 0.001), require("mosaic.hosts").ps, query)
  if not ok then
    -- A script error under the snapshot (a bug, a hostile module): UNKNOWN, never a trace.
    local why = tostring(snapshot):gsub("\n.*", "")
    return nil, "fleet ps failed: " .. why, "check-failed"
  end
  if snapshot then
    return snapshot
  end
  if code == "timeout" then
    return nil, ("fleet ps did not answer within %s s"):format(number(timeout)), "timeout"
  end
  return nil, tostring(err), code or "check-failed"
end

-- FNV-1a, 32 bits: a short stable name for a scope.
local function fnv1a(text)
  local h = 2166136261
  for i = 1, #text do
    h = ((h ~ text:byte(i)) * 16777619) & 0xffffffff
  end
  return ("%08x"):format(h)
end

--- lock_name(scope) -> "fleet-check" for the default scope, "fleet-check-<hash>" for one
-- narrowed by roster, socket, tenant, agents or probe, so overlapping runs of one cron job
-- are refused while checks of different scopes (one per tenant, say) run side by side.
function M.lock_name(scope)
  local parts = {}
  for _, k in ipairs({ "roster", "socket", "tenant", "probe", "host" }) do
    if scope[k] ~= nil and scope[k] ~= false then
      parts[#parts + 1] = k .. "=" .. tostring(scope[k])
    end
  end
  if scope.agents and #scope.agents > 0 then
    local names = { table.unpack(scope.agents) }
    table.sort(names)
    parts[#parts + 1] = "agents=" .. table.concat(names, ",")
  end
  if #parts == 0 then
    return "fleet-check"
  end
  return "fleet-check-" .. fnv1a(table.concat(parts, "\n"))
end

return M
