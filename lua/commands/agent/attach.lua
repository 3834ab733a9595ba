--- Take an agent over: attach a tmux client (the only way to type into it)
local cli = require "mosaic.cli"

local parser = cli.parser("mosaic agent attach",
  "Attaches a normal tmux client to the agent's session in this terminal: the explicit,\n" ..
  "only interactive takeover (to look without touching, use 'mosaic agent watch'). It\n" ..
  "first says what it is about to do and asks for confirmation (unless --yes). While\n" ..
  "attached, the agent is leased to you (<run>/<agent>.lease): 'fleet ps' flags it\n" ..
  "'leased' and 'agent send' refuses it. Attach and detach are recorded in the audit log\n" ..
  "(<state>/audit.log, JSON lines). Detach with the tmux prefix, then d (C-b d by\n" ..
  "default); the agent keeps running. Inside tmux it nests a client (TMUX is unset for\n" ..
  "it; switch-client cannot move a client to another tmux server).",
  "Exit status: the tmux client's (0 after a detach), 1 not confirmed or tmux failed,\n" ..
  "3 refused before attaching (no such agent, no session, dead pane, leased by someone\n" ..
  "else, no terminal, lease or audit log not writable), 128+N when signal N ended it,\n" ..
  "64 usage.\n\n" ..
  "Examples:\n" ..
  "  mosaic agent attach coder-1\n" ..
  "  mosaic agent attach coder-1 --yes")
parser:argument("agent", "The agent (roster name, or an unrostered session's name).")
parser:flag("-y --yes", "Do not ask for confirmation.")
parser:option("--host", "The host the agent lives on (default: the roster's; needed for a remote unrostered session).")
parser:option("--roster", "Roster file (default $MOSAIC_ROSTER or <config>/fleet/roster.lua).")
parser:option("--socket", "tmux socket name (default: the roster's, else mosaic-factory).")
local opts = cli.parse(parser, { ... })

-- hosts (SPEC 2.12): an agent of another host is attached there, over ssh -t (lua/mosaic/hosts.lua)
local hosts = require "mosaic.hosts"
local forwarded = hosts.flags(opts, { "yes" })
table.move({ "--", opts.agent }, 1, 2, #forwarded + 1, forwarded)
local routed = hosts.route("agent attach", opts, { "agent", "attach", table.unpack(forwarded) },
  { terminal = true, fail_status = 3 })
if routed then
  return routed
end

local status, message, code = agent.attach(opts.agent, {
  yes = opts.yes,
  roster = opts.roster,
  socket = opts.socket,
})
if not status then
  mosaic.die("agent attach: " .. message, code or 1)
end
io.stderr:write(("mosaic: agent attach: detached from %s; lease released\n"):format(opts.agent))
return status
