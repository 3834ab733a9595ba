--- What the benchmarks share. Each loads it from its own directory:
--   local shared = dofile((arg[0]:match("^(.*)/") or ".") .. "/_bench.lua")
local M = {}

--- median(xs) -> the median of a list of numbers (NaN for none); the list is left as it is
function M.median(xs)
  local s = table.move(xs, 1, #xs, 1, {})
  table.sort(s)
  local n = #s
  if n == 0 then
    return 0 / 0
  end
  return n % 2 == 1 and s[(n + 1) // 2] or (s[n // 2] + s[n // 2 + 1]) / 2
end

--- runner(exec_opts) -> run(argv [, may_fail]) -> result
-- `mosaic.exec` with `exec_opts` (timeout, env); a program that cannot start, or that exits
-- non-zero unless `may_fail`, is an error raised at the benchmark's line.
function M.runner(exec_opts)
  return function(argv, may_fail)
    local r, err = mosaic.exec(argv, exec_opts)
    if not r then
      error(err, 2)
    end
    if r.status ~= 0 and not may_fail then
      error(("%s failed (%d): %s"):format(table.concat(argv, " "), r.status, r.stderr), 2)
    end
    return r
  end
end

return M
