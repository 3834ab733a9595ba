--- Handle one hook event from Claude Code or Codex (run by the hooks 'hooks install' wires)
local cli = require "mosaic.cli"
local hooks = require "mosaic.hooks"

local parser = cli.parser("mosaic hooks event",
  "Reads one hook event (JSON) on standard input and updates the agent's heartbeat:\n" ..
  "status (busy, ok, waiting), ack (the prompt's [m:<nonce>] or digest), progress, and\n" ..
  "hook/since/waiting. Run by the hooks that 'mosaic hooks install' writes; prints nothing\n" ..
  "and always exits 0, so it can never stop the agent (problems go to <state>/hooks.log).")
parser:argument("runtime", "The runtime whose hook runs it."):choices { "claude", "codex" }
parser:option("--agent", "The agent the events belong to (when its home is its own).")
parser:option("--roster", "Roster file (default $MOSAIC_ROSTER or <config>/fleet/roster.lua).")
parser:option("--socket", "tmux socket name (default: the roster's, else mosaic-factory).")
local opts = cli.parse(parser, { ... })

local text = io.stdin:read(1 << 20) or ""
local ok, written, why = pcall(hooks.event, opts.runtime, text, opts)
if not (ok and written) then
  local state = mosaic.paths().state
  mosaic.exec({ "mkdir", "-p", state })
  local f = io.open(state .. "/hooks.log", "a")
  if f then
    f:write(os.date("!%Y-%m-%dT%H:%M:%SZ"), " ", opts.runtime, " ", tostring(ok and why or written), "\n")
    f:close()
  end
end
return 0
