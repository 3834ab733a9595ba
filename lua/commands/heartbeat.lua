--- Beat for an agent: a responder beside it, or a wrapper around its command
local cli = require "mosaic.cli"

local parser = cli.parser("mosaic heartbeat",
  "Joins an agent to the heartbeat protocol (SPEC 2.3) without changing it.\n\n" ..
  "  mosaic heartbeat <agent> [--pid PID]     beat beside a running runtime (until PID exits)\n" ..
  "  mosaic heartbeat <agent> -- CMD ARGS...  run CMD as a child and beat while it lives\n\n" ..
  "Writes <run>/<agent>.hb atomically every interval and answers probes within 1 s.")
parser:argument("agent", "The agent's name.")
parser:argument("command", "The command to run and beat for (after --)."):args("*")
parser:option("--interval", "Heartbeat interval in seconds (default: the roster's, else 15).")
  :convert(cli.positive("--interval"))
parser:option("--pid", "The pid to report (and to outlive: stop when it exits)."):convert(math.tointeger)
local opts = cli.parse(parser, { ... })
if not opts.agent:match("^[%w][%w_-]*$") or #opts.agent > 64 then
  cli.usage_error(parser, ("invalid agent name '%s'"):format(opts.agent))
end
if #opts.command > 0 then
  if opts.pid then
    cli.usage_error(parser, "--pid cannot be combined with a command")
  end
  return heartbeat.wrap(opts.agent, opts.command, { interval = opts.interval })
end
return heartbeat.respond(opts.agent, { interval = opts.interval, pid = opts.pid })
