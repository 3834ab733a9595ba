--- The shell's evaluator (SPEC 2.9): expressions print their values, statements run,
-- incomplete input continues, Tab completes names. The line reading (libedit) and the
-- protected call that Ctrl-C can interrupt live in the host; this module compiles,
-- prints and finds completions.
local inspect = require "mosaic.inspect"

local M = {}

-- help() in the shell lists and explains the API (docs/lua-api.md, carried in the binary).
if rawget(_G, "help") == nil then
  _G.help = require("mosaic._apihelp").help
end

--- compile(source [, firstline]) -> "ready", fn | "more", message | "error", message
-- Tries `return <source>` first, so expressions give their values. "more" means the
-- input ended too early (the message is what Lua says if it ends there). With
-- `firstline` > 1, the chunk is named `stdin+<firstline - 1>` (a script on stdin), and
-- the shell turns its `stdin+K:N:` positions into `stdin:<K+N>:` (`Shell.absoluteLines`). (Padding the source
-- with newlines instead made every chunk cost as much as all the lines before it.)
function M.compile(source, firstline)
  local name = "=stdin"
  if firstline and firstline > 1 then
    name = "=stdin+" .. (firstline - 1)
  end
  local fn = load("return " .. source, name, "t")
  if fn then
    return "ready", fn
  end
  local err
  fn, err = load(source, name, "t")
  if fn then
    return "ready", fn
  end
  if err:sub(-5) == "<eof>" then
    return "more", err
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

local keywords = {}
for w in ([[and break do else elseif end false for function goto if in local nil not or
  repeat return then true until while]]):gmatch("%a+") do
  keywords[w] = true
end

local getmetatable = debug.getmetatable or getmetatable

--- The table a value's fields come from through its metatable (`__index` when a table).
local function index_table(v)
  local mt = getmetatable(v)
  local index = type(mt) == "table" and rawget(mt, "__index") or nil
  return type(index) == "table" and index or nil
end

--- v[k] without running code: raw, then along `__index` tables.
local function field(v, k)
  local seen = {}
  while v ~= nil and not seen[v] do
    seen[v] = true
    if type(v) == "table" then
      local x = rawget(v, k)
      if x ~= nil then
        return x
      end
    end
    v = index_table(v)
  end
  return nil
end

local function callable(v)
  if type(v) == "function" then
    return true
  end
  local mt = getmetatable(v)
  return type(mt) == "table" and rawget(mt, "__call") ~= nil
end

--- Names in `v` (and what its `__index` tables add) that start with `partial`.
local function names(v, partial, methods_only, out)
  local seen, found = {}, {}
  local hidden = partial:sub(1, 1) ~= "_"
  while v ~= nil and not seen[v] do
    seen[v] = true
    if type(v) == "table" then
      for k, x in next, v do
        if
          type(k) == "string"
          and k:sub(1, #partial) == partial
          and k:match("^[%a_][%w_]*$")
          and not keywords[k]
          and not (hidden and k:sub(1, 1) == "_")
          and not found[k]
          and (not methods_only or callable(x))
        then
          found[k] = true
          out[#out + 1] = k
        end
      end
    end
    v = index_table(v)
  end
  return out
end

--- complete(line) -> candidates, partial
-- Completions for the name that ends `line` (the text before the cursor): globals and
-- keywords, `a.b.c` fields, `a:m` methods (also on string literals: `("x"):up`). Each
-- candidate replaces `partial`, the identifier characters at the end of `line`.
-- Values are looked up raw, following `__index` tables, so no Lua code runs.
function M.complete(line)
  local partial = line:match("[%w_]*$")
  if partial:match("^%d") then
    return {}, partial
  end
  local before = line:sub(1, #line - #partial)
  local sep = before:sub(-1)
  local out = {}
  if sep ~= "." and sep ~= ":" then
    if before:match("[%w_]$") then
      return out, partial
    end
    names(_G, partial, false, out)
    for k in pairs(keywords) do
      if k:sub(1, #partial) == partial then
        out[#out + 1] = k
      end
    end
  else
    local head = before:sub(1, -2)
    local target
    local path = head:match("[%a_][%w_%.]*$")
    if path and not path:find("%.%.") and path:sub(-1) ~= "." then
      local prev = head:sub(-#path - 1, -#path - 1)
      if #head > #path and prev:match("[%w_%.:%)%]\"'`]") then
        return out, partial
      end
      target = _G
      for part in path:gmatch("[^%.]+") do
        target = field(target, part)
        if target == nil then
          return out, partial
        end
      end
    elseif head:match("[\"']%)$") or head:match("%]%]%)$") then
      target = ""
    else
      return out, partial
    end
    names(type(target) == "table" and target or index_table(target), partial, sep == ":", out)
  end
  table.sort(out)
  return out, partial
end

return M
