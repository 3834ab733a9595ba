--- forward(name, fn, ...) -> fn(...)'s results. For friendly wrappers around raw host
-- functions: an error the host function raises (a bad argument) is raised again at the
-- wrapper's caller, naming the wrapper (`name`) instead of the raw function, so it points
-- at the user's line like any other programming error. Call it as `return (forward(...))`:
-- as a tail call, the wrapper's own frame would be gone and the level would be off by one.
return function(name, fn, ...)
  local results = table.pack(pcall(fn, ...))
  if not results[1] then
    local why = tostring(results[2]):gsub("^[^:\n]*:%d+: ", ""):gsub("to '[%w_.]+'", "to '" .. name .. "'")
    error(why, 3)
  end
  return table.unpack(results, 2, results.n)
end
