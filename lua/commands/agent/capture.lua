--- Print an agent's screen (capture-pane for scripts)
local cli = require "mosaic.cli"
local render = require "mosaic.render"

local parser = cli.parser("mosaic agent capture",
  "Prints the agent's screen as tmux's capture-pane -p does: one line per row, trailing\n" ..
  "blanks removed. Colours are kept (as escape sequences) when standard output is a\n" ..
  "terminal and NO_COLOR is unset, left out otherwise; --plain and --escapes force\n" ..
  "either. Attaches nothing to the pane. Names are roster agents, or unrostered tmux\n" ..
  "sessions on the socket.",
  "Exit status: 0 printed, 1 the agent cannot be captured, 64 usage.\n\n" ..
  "Examples:\n" ..
  "  mosaic agent capture coder-1\n" ..
  "  mosaic agent capture coder-1 --history 500 | grep -n FAIL\n" ..
  "  mosaic agent capture coder-1 --json | jq .cursor_y")
parser:argument("agent", "The agent (roster name, or an unrostered session's name).")
parser:flag("--plain", "No colour escapes, even on a terminal.")
parser:flag("--escapes", "Colour escapes, even when not on a terminal.")
parser:option("--history", "Include up to N lines of scrollback before the screen."):argname("N")
  :convert(function(s)
    local n = math.tointeger(tonumber(s))
    if not n or n < 0 then
      return nil, ("--history must be a non-negative integer, got '%s'"):format(s)
    end
    return n
  end)
parser:flag("--json", "Print one JSON object (schema mosaic.agent.capture/v1): lines, cursor, size.")
parser:option("--host", "The host the agent lives on (default: the roster's; needed for a remote unrostered session).")
parser:option("--roster", "Roster file (default $MOSAIC_ROSTER or <config>/fleet/roster.lua).")
parser:option("--socket", "tmux socket name (default: the roster's, else mosaic-factory).")
local opts = cli.parse(parser, { ... })
if opts.plain and opts.escapes then
  cli.usage_error(parser, "--plain and --escapes cannot be combined")
end

-- Colours by default on a terminal (unless NO_COLOR is set), as fleet ps does.
local color = render.color_enabled(false)
local escapes = opts.escapes or (not opts.plain and not opts.json and color)
-- hosts (SPEC 2.12): an agent of another host is captured there (lua/mosaic/hosts.lua)
local hosts = require "mosaic.hosts"
local forwarded = hosts.flags({ escapes = escapes, plain = not escapes, history = opts.history, json = opts.json },
  { "escapes", "plain", "history=", "json" })
table.move({ "--", opts.agent }, 1, 2, #forwarded + 1, forwarded)
local routed = hosts.route("agent capture", opts, { "agent", "capture", table.unpack(forwarded) }, { timeout = 60 })
if routed then
  return routed
end

local c, err = agent.capture(opts.agent, {
  escapes = escapes,
  history = opts.history,
  roster = opts.roster,
  socket = opts.socket,
})
if not c then
  mosaic.die("agent capture: " .. err)
end
if opts.json then
  c.schema = "mosaic.agent.capture/v1"
  c.text = nil
  print(mosaic.json.encode(c, true))
  return 0
end
io.stdout:write(c.text)
if escapes and color then
  io.stdout:write("\27[0m")
end
return 0
