--- help() in the shell: lists and explains the Lua API from docs/lua-api.md, the same
-- text the reader of the repository gets (the binary carries a copy of docs/).
--
--   help()                  every module and function, one line each
--   help(fleet)             a module: what it is, its functions
--   help(fleet.ps)          one function (also help "fleet.ps"): signature, text, example
local host = require "mosaic._host"

local M = {}

local parsed

-- The doc, as modules {name, text, functions = {{name, signature, text}}} in order.
local function parse()
  if parsed then
    return parsed
  end
  local source = host.shipped("docs/lua-api.md") or ""
  local modules, by_name = {}, {}
  local module, fn
  local function append(target, line)
    target.lines[#target.lines + 1] = line
  end
  for line in (source .. "\n"):gmatch("([^\n]*)\n") do
    local h2 = line:match("^## (.+)$")
    local h3 = line:match("^### (.+)$")
    if h2 then
      module = { name = h2, lines = {}, functions = {} }
      modules[#modules + 1] = module
      fn = nil
    elseif h3 and module then
      local name = h3:match("^([%w_.:]+)")
      fn = { name = name, signature = h3, lines = {} }
      module.functions[#module.functions + 1] = fn
      by_name[name] = fn
    elseif fn then
      append(fn, line)
    elseif module then
      append(module, line)
    end
  end
  parsed = { modules = modules, by_name = by_name }
  return parsed
end

local function text_of(lines)
  local t = table.concat(lines, "\n"):gsub("^%s+", ""):gsub("%s+$", "")
  return t
end

local function first_sentence(lines)
  for _, l in ipairs(lines) do
    if l:match("%S") and not l:match("^```") then
      local para = {}
      for _, m in ipairs(lines) do
        if #para > 0 and not m:match("%S") then
          break
        end
        if m:match("%S") then
          para[#para + 1] = m
        end
      end
      local s = table.concat(para, " ")
      return (s:match("^(.-%.)%s") or s)
    end
  end
  return ""
end

-- The documented name of a value: a module table or a function reachable from the globals.
local function name_of(value)
  local roots = { mosaic = mosaic, fleet = fleet, agent = agent, heartbeat = heartbeat, ["mosaic.json"] = mosaic.json }
  for root, t in pairs(roots) do
    if value == t then
      return root
    end
  end
  for root, t in pairs(roots) do
    for k, v in pairs(t) do
      if v == value then
        return root .. "." .. k
      end
    end
  end
  if value == require("mosaic.cli") then
    return "mosaic.cli"
  end
  for k, v in pairs(require("mosaic.cli")) do
    if v == value then
      return "cli." .. k
    end
  end
  return nil
end

--- text(what) -> the help text for `what` (nil: the index; a name or a value).
function M.text(what)
  local doc = parse()
  if #doc.modules == 0 then
    return "help: this build carries no copy of docs/lua-api.md\n"
  end
  if what == nil then
    local out = { "The mosaic Lua API (docs/lua-api.md). help(fleet.ps) or help \"fleet.ps\" explains one.", "" }
    for _, m in ipairs(doc.modules) do
      if #m.functions > 0 then
        out[#out + 1] = m.name
        for _, f in ipairs(m.functions) do
          out[#out + 1] = ("  %-40s %s"):format(f.signature, first_sentence(f.lines))
        end
        out[#out + 1] = ""
      end
    end
    return table.concat(out, "\n")
  end
  local name = type(what) == "string" and what or name_of(what)
  if not name then
    return ("help: no documentation for this %s (try help() for the list)\n"):format(type(what))
  end
  name = name:gsub("%(.*$", ""):gsub(":", ".")
  local f = doc.by_name[name]
  if f then
    return f.signature .. "\n\n" .. text_of(f.lines) .. "\n"
  end
  for _, m in ipairs(doc.modules) do
    if m.name == name or m.name:match("^" .. name:gsub("%p", "%%%0") .. "[%s%(]") then
      local intro = text_of(m.lines)
      local out = { m.name, "" }
      if intro ~= "" then
        out[#out + 1] = intro
        out[#out + 1] = ""
      end
      for _, fn in ipairs(m.functions) do
        out[#out + 1] = ("  %-40s %s"):format(fn.signature, first_sentence(fn.lines))
      end
      return table.concat(out, "\n") .. "\n"
    end
  end
  local names = {}
  for n in pairs(doc.by_name) do
    names[#names + 1] = n
  end
  local guess = require("mosaic._suggest")(name, names)
  return ("help: nothing documented as '%s'%s (try help() for the list)\n"):format(name,
    guess and (" (did you mean '" .. guess .. "'?)") or "")
end

--- help([what]): prints the help (see the top of this file).
function M.help(what)
  io.stdout:write(M.text(what))
  io.stdout:flush()
end

return M
