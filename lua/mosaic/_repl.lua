--- The shell's evaluator (SPEC 2.9): expressions print their values, statements run,
-- incomplete input continues. The line reading (libedit) and the protected call that
-- Ctrl-C can interrupt live in the host; this module compiles and prints.
local inspect = require "mosaic.inspect"

local M = {}

--- compile(source) -> "ready", fn | "more" | "error", message
function M.compile(source)
  local fn = load("return " .. source, "=stdin", "t")
  if fn then
    return "ready", fn
  end
  local err
  fn, err = load(source, "=stdin", "t")
  if fn then
    return "ready", fn
  end
  if err:sub(-5) == "<eof>" then
    return "more"
  end
  return "error", err
end

--- show(...) prints results: tables pretty-printed, several values tab-separated.
function M.show(...)
  local n = select("#", ...)
  if n == 0 then
    return
  end
  local parts = {}
  for i = 1, n do
    local v = select(i, ...)
    parts[i] = type(v) == "string" and v or inspect(v)
  end
  io.stdout:write(table.concat(parts, "\t"), "\n")
  io.stdout:flush()
end

return M
