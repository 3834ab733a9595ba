--- inspect(value [, {width=80, depth=12}]) -> a readable, Lua-like rendering of a value.
-- Tables print on one line when they fit in `width`, otherwise one field per line.
-- Sequences first, then keys in their JSON order (decoded objects, fleet rows) or sorted.
local host = require "mosaic._host"

local null = host.null

local keywords = {}
for w in ([[and break do else elseif end false for function goto if in local nil not or
  repeat return then true until while]]):gmatch("%a+") do
  keywords[w] = true
end

local function quote(s)
  local q = s:gsub('[%c"\\]', function(c)
    local named = { ["\n"] = "\\n", ["\t"] = "\\t", ["\r"] = "\\r", ['"'] = '\\"', ["\\"] = "\\\\" }
    return named[c] or ("\\%03d"):format(c:byte())
  end)
  return '"' .. q .. '"'
end

local function key_text(k)
  if type(k) == "string" and k:match("^[%a_][%w_]*$") and not keywords[k] then
    return k
  end
  if type(k) == "string" then
    return "[" .. quote(k) .. "]"
  end
  return "[" .. tostring(k) .. "]"
end

local function ordered_keys(t, n)
  local mt = getmetatable(t)
  local listed = type(mt) == "table" and rawget(mt, "__jsonkeys")
  local keys, seen = {}, {}
  if type(listed) == "table" then
    for _, k in ipairs(listed) do
      if rawget(t, k) ~= nil then
        keys[#keys + 1] = k
        seen[k] = true
      end
    end
  end
  local rest = {}
  for k in next, t do
    local in_seq = math.type(k) == "integer" and k >= 1 and k <= n
    if not in_seq and not seen[k] then
      rest[#rest + 1] = k
    end
  end
  table.sort(rest, function(a, b)
    local ta, tb = type(a), type(b)
    if ta ~= tb then
      return ta < tb
    end
    if ta == "number" or ta == "string" then
      return a < b
    end
    return tostring(a) < tostring(b)
  end)
  for _, k in ipairs(rest) do
    keys[#keys + 1] = k
  end
  return keys
end

local render

local function render_table(t, opts, indent, seen, depth)
  if seen[t] then
    return "<cycle>"
  end
  if depth >= opts.depth then
    return "{...}"
  end
  seen[t] = true
  local n = #t
  local parts = {}
  for i = 1, n do
    parts[#parts + 1] = render(rawget(t, i), opts, indent .. "  ", seen, depth + 1)
  end
  for _, k in ipairs(ordered_keys(t, n)) do
    parts[#parts + 1] = key_text(k) .. " = " .. render(rawget(t, k), opts, indent .. "  ", seen, depth + 1)
  end
  seen[t] = nil
  if #parts == 0 then
    return "{}"
  end
  local one = "{ " .. table.concat(parts, ", ") .. " }"
  if #one + #indent <= opts.width and not one:find("\n") then
    return one
  end
  return "{\n" .. indent .. "  " .. table.concat(parts, ",\n" .. indent .. "  ") .. "\n" .. indent .. "}"
end

render = function(v, opts, indent, seen, depth)
  local t = type(v)
  if t == "string" then
    return quote(v)
  elseif t == "table" then
    return render_table(v, opts, indent, seen, depth)
  elseif v == null then
    return "json.null"
  elseif t == "number" or t == "boolean" or t == "nil" then
    return tostring(v)
  end
  return "<" .. tostring(v) .. ">"
end

return function(value, opts)
  opts = opts or {}
  return render(value, { width = opts.width or 80, depth = opts.depth or 12 }, "", {}, 0)
end
