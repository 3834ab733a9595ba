--- Run the dogfood stub agent: a line agent that beats, answers probes and acknowledges
local cli = require "mosaic.cli"

local parser = cli.parser("mosaic agent stub",
  "The dogfood stub agent (SPEC 2.3): shows a prompt, reads input in raw mode, answers\n" ..
  "every line (\"ACK <nonce>\" for a line carrying [m:<nonce>]), writes its heartbeat\n" ..
  "every interval (status=busy while working on a line) and answers probes within 1 s.")
parser:argument("agent", "The agent's name (its heartbeat is <run>/<agent>.hb).")
parser:option("--interval", "Heartbeat interval in seconds (default: the roster's, else 15).")
  :convert(cli.positive("--interval"))
local opts = cli.parse(parser, { ... })
if not opts.agent:match("^[%w][%w_-]*$") or #opts.agent > 64 then
  cli.usage_error(parser, ("invalid agent name '%s'"):format(opts.agent))
end
return agent.stub(opts.agent, { interval = opts.interval or heartbeat.interval(opts.agent) })
