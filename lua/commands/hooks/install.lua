--- Wire Claude Code's and Codex's hooks to the agents' heartbeats
local cli = require "mosaic.cli"
local hooks = require "mosaic.hooks"

local parser = cli.parser("mosaic hooks install",
  "Configures each named agent's runtime so that its own events update the agent's\n" ..
  "heartbeat (SPEC 2.11): the hooks in Claude Code's settings.json (in $CLAUDE_CONFIG_DIR,\n" ..
  "else $HOME/.claude) and Codex's $CODEX_HOME/hooks.json (else $HOME/.codex). The home\n" ..
  "is read from the running program's environment, so\n" ..
  "the agent must be running. Idempotent; keeps every hook of the operator's own; says\n" ..
  "what it changed. Both runtimes read their hooks when they start: restart the agents\n" ..
  "(systemctl --user restart mosaic-agent@NAME) for the hooks to run. A Codex shows\n" ..
  "'Hooks need review' at its next start until the hooks are trusted (see 'mosaic doctor').",
  "Agents sharing one home share one hook, and each event is attributed to its agent by\n" ..
  "MOSAIC_AGENT, the pane ($TMUX_PANE) for claude, or the working directory for codex.\n\n" ..
  "Exit status: 0 all wired, 1 some agent could not be wired, 64 usage.")
parser:argument("agents", "Agents to wire (default with --all: every claude and codex agent)."):args("*")
parser:flag("--all", "Every claude and codex agent of the roster.")
parser:flag("--dry-run", "Say what would change; change nothing.")
parser:option("--roster", "Roster file (default $MOSAIC_ROSTER or <config>/fleet/roster.lua).")
parser:option("--socket", "tmux socket name (default: the roster's, else mosaic-factory).")
local opts = cli.parse(parser, { ... })
if #opts.agents == 0 and not opts.all then
  cli.usage_error(parser, "name the agents to wire, or --all")
end

local snapshot, err = fleet.ps({ roster = opts.roster, socket = opts.socket })
if not snapshot then
  mosaic.die("hooks install: " .. err)
end
local rows, wanted = {}, {}
for _, name in ipairs(opts.agents) do
  wanted[name] = true
end
local has_flag = require("mosaic.row").has
for _, row in ipairs(snapshot.agents) do
  if (opts.all and (row.runtime == "claude" or row.runtime == "codex") and not has_flag(row, "unrostered"))
    or wanted[row.name] then
    rows[#rows + 1] = row
    wanted[row.name] = nil
  end
end
local status = 0
for name in pairs(wanted) do
  local _, why = fleet.find(snapshot, name)
  io.stderr:write(("mosaic: hooks install: %s\n"):format(why))
  status = 1
end

-- Which agents share each home (their hooks cannot name one agent).
local targets, by_file = {}, {}
for _, row in ipairs(rows) do
  local t, why = hooks.target(row)
  if t then
    targets[row.name] = t
    by_file[t.file] = (by_file[t.file] or 0) + 1
  else
    io.stderr:write(("mosaic: hooks install: %s: %s\n"):format(row.name, why))
    status = 1
  end
end
local done = {}
for _, row in ipairs(rows) do
  local t = targets[row.name]
  if t and not done[t.file] then
    done[t.file] = true
    local shared = by_file[t.file] > 1
    -- The hook names no agent: which agents share a home depends on which of them run now,
    -- so the event itself tells (MOSAIC_AGENT, the pane, or Codex's working directory).
    local command = hooks.command(t.runtime, nil, opts)
    local changes, why = hooks.wire(t, command, opts.dry_run)
    if not changes then
      io.stderr:write(("mosaic: hooks install: %s: %s\n"):format(row.name, why))
      status = 1
    elseif #changes == 0 then
      print(("%s: %s already wired (%s)"):format(row.name, t.file, shared and "shared home" or "own home"))
    else
      print(("%s: %s %s: %s%s"):format(row.name, opts.dry_run and "would wire" or "wired", t.file,
        table.concat(changes, ", "), opts.dry_run and "" or " (restart the agent for them to run)"))
    end
  end
end
return status
