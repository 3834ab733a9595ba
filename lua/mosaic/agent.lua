--- The agent module: send, capture, watch, attach, and the stub agent (SPEC 2.10).
local host = require "mosaic._host"

local M = {}

--- stub(name [, {interval=15}]) -> exit status
-- Runs the dogfood stub agent in this terminal (see `mosaic agent stub --help`).
function M.stub(name, opts)
  opts = opts or {}
  return host.agent_stub(name, opts.interval or 15)
end

return M
