--- suggest(word, names [, max_distance]) -> the name closest to `word` by edit distance,
-- or nil when none is close enough (default: 2, or a third of the word's length). For
-- "did you mean" hints in errors.
return function(word, names, max_distance)
  max_distance = max_distance or math.max(2, #word // 3)
  local best, best_d
  for _, name in ipairs(names) do
    local prev = {}
    for j = 0, #name do
      prev[j] = j
    end
    for i = 1, #word do
      local cur = { [0] = i }
      for j = 1, #name do
        local cost = word:sub(i, i) == name:sub(j, j) and 0 or 1
        cur[j] = math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
      end
      prev = cur
    end
    local d = prev[#name]
    if d <= max_distance and (not best_d or d < best_d) then
      best, best_d = name, d
    end
  end
  return best
end
