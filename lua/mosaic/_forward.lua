--- forward(name, fn, ...) -> fn(...)'s results. For friendly wrappers around raw host
-- functions, and the one place that renames them in messages: a bad argument the host
-- function raises is raised again at the wrapper's caller, naming the wrapper (`name`)
-- instead of the raw function, so it points at the user's line like any other programming
-- error. Any other error (Ctrl-C, the time limit) passes on unchanged. Call it as
-- `return (forward(...))`: as a tail call, the wrapper's own frame would be gone and the
-- level would be off by one.
return function(name, fn, ...)
  local results = table.pack(pcall(fn, ...))
  if not results[1] then
    local e = results[2]
    if type(e) == "string" and e:find("bad argument", 1, true) then
      error((e:gsub("^[^:\n]*:%d+: ", ""):gsub("to '[%w_.]+'", "to '" .. name .. "'")), 3)
    end
    error(e, 0)
  end
  return table.unpack(results, 2, results.n)
end
