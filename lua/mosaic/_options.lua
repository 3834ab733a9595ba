--- with_runtimes(opts, level [, arg, fname]) -> a copy of the options table with `runtimes` set to the
-- runtime profiles (`require "mosaic.runtimes"`, which an operator may override) unless the
-- caller gave some. Raises at `level` (the public function's caller) when `opts` is not a
-- table or nil, naming argument `arg` (default 1) of `fname`. For fleet.ps, fleet.ps_json,
-- fleet.agent, fleet.wait and agent.send.
return function(opts, level, arg, fname)
  if opts ~= nil and type(opts) ~= "table" then
    error(("bad argument #%d%s (table expected, got %s)"):format(arg or 1,
      fname and (" to '" .. fname .. "'") or "", type(opts)), level + 1)
  end
  local o = {}
  for k, v in pairs(opts or {}) do
    o[k] = v
  end
  if o.runtimes == nil then
    o.runtimes = require "mosaic.runtimes"
  end
  return o
end
