--- Show an agent's pane live, read-only, without attaching to it
local cli = require "mosaic.cli"

local parser = cli.parser("mosaic agent watch",
  "Shows the agent's pane full screen in this terminal, refreshed every --interval\n" ..
  "seconds, with a status line (agent, READ-ONLY, heartbeat health, pane size). It is\n" ..
  "read-only by construction: it attaches no tmux client (it polls capture-pane), so\n" ..
  "nothing you type, paste or click can reach the agent, the agent's window is never\n" ..
  "resized, and no focus events are sent. Keys: q, Ctrl-C or Ctrl-D leave; every other\n" ..
  "key is ignored. A terminal smaller than the pane shows the part around the pane's\n" ..
  "cursor (the status line says which rows and columns); a larger one shows the pane at\n" ..
  "its own size with its edges drawn. Names are roster agents, or unrostered tmux\n" ..
  "sessions on the socket.\n\n" ..
  "When standard output is not a terminal it prints plain text instead: with --once the\n" ..
  "screen, otherwise a snapshot each time the screen changes, each after a line\n" ..
  "'--- <agent> <ISO 8601 time> <width>x<height> ---'. To type into the agent, use\n" ..
  "'mosaic agent attach' (the only interactive takeover).",
  "Exit status: 0 when you quit, 1 when the agent cannot be watched or its pane\n" ..
  "disappeared, 128+N when signal N ended it, 64 usage.\n\n" ..
  "Examples:\n" ..
  "  mosaic agent watch coder-1\n" ..
  "  mosaic agent watch coder-1 --once | grep -c error\n" ..
  "  mosaic agent watch coder-1 --interval 2 > coder-1.log")
parser:argument("agent", "The agent (roster name, or an unrostered session's name).")
parser:option("--interval", "Seconds between refreshes (at least 0.05).", "0.5"):argname("S")
  :convert(cli.positive("--interval"))
parser:flag("--once", "Print the current screen and exit.")
parser:option("--host", "The host the agent lives on (default: the roster's; needed for a remote unrostered session).")
parser:option("--roster", "Roster file (default $MOSAIC_ROSTER or <config>/fleet/roster.lua).")
parser:option("--socket", "tmux socket name (default: the roster's, else mosaic-factory).")
local opts = cli.parse(parser, { ... })
if opts.interval < 0.05 then
  cli.usage_error(parser, ("--interval must be at least 0.05, got '%s'"):format(opts.interval))
end

-- hosts (SPEC 2.12): an agent of another host is watched there, on this terminal (lua/mosaic/hosts.lua)
local hosts = require "mosaic.hosts"
local forwarded = hosts.flags(opts, { "interval=", "once" })
table.move({ "--", opts.agent }, 1, 2, #forwarded + 1, forwarded)
local routed = hosts.route("agent watch", opts, { "agent", "watch", table.unpack(forwarded) }, { terminal = true })
if routed then
  return routed
end

local status, message, code = agent.watch(opts.agent, {
  interval = opts.interval,
  once = opts.once,
  roster = opts.roster,
  socket = opts.socket,
})
if not status then
  mosaic.die("agent watch: " .. message, code or 1)
end
return status
