--- Command dispatch: `mosaic <group> <command> [args]` runs commands/<group>/<command>.lua,
-- `mosaic <command> [args]` runs commands/<command>.lua. Looked up in <config>/commands,
-- then <root>/commands for each $MOSAIC_LUA_PATH root and <config>/lua, then the commands
-- shipped in the binary. The first line of a command starting with "--- " is its summary.
local host = require "mosaic._host"
local closest = require "mosaic._suggest"

local M = {}

-- Whether a command file is there (trusted or not: an untrusted one is found, then refused
-- when it would run, so a bad file never silently falls through to a shipped command).
local function present(path)
  local _, _, missing = host.read_code(path)
  return not missing
end

local function command_dirs()
  local dirs = { host.paths().commands }
  for _, root in ipairs(host.lua_roots()) do
    dirs[#dirs + 1] = root .. "/commands"
  end
  return dirs
end

--- find(words) -> {path=|source=, shipped=, chunkname=, words=n} for the longest match, or nil.
function M.find(words)
  for n = math.min(2, #words), 1, -1 do
    local ok = true
    for i = 1, n do
      if not words[i]:match("^[%w][%w_-]*$") then
        ok = false
      end
    end
    if ok then
      local rel = table.concat(words, "/", 1, n) .. ".lua"
      for _, dir in ipairs(command_dirs()) do
        local path = dir .. "/" .. rel
        if present(path) then
          return { path = path, chunkname = "@" .. path, words = n }
        end
      end
      local source = host.shipped("commands/" .. rel)
      if source then
        return { source = source, shipped = "commands/" .. rel, chunkname = "@[mosaic]/commands/" .. rel,
          words = n }
      end
    end
  end
  return nil
end

local function summary_of(text)
  for line in text:gmatch("[^\n]*") do
    local s = line:match("^%-%-%-%s*(.-)%s*$")
    if s then
      return s
    end
    if not line:match("^#!") and not line:match("^%s*$") and not line:match("^%-%-") then
      break
    end
  end
  return ""
end

local function read(path)
  return host.read_code(path) or ""
end

--- list() -> sorted list of {name="fleet ps", summary=..., origin="shipped"|path}
function M.list()
  local seen, result = {}, {}
  local function add(name, summary, origin)
    if not seen[name] then
      seen[name] = true
      result[#result + 1] = { name = name, summary = summary, origin = origin }
    end
  end
  for _, dir in ipairs(command_dirs()) do
    for _, entry in ipairs(host.list_dir(dir)) do
      local path = dir .. "/" .. entry
      if host.is_dir(path) then
        for _, sub in ipairs(host.list_dir(path)) do
          local cmd = sub:match("^(.+)%.lua$")
          if cmd then
            add(entry .. " " .. cmd, summary_of(read(path .. "/" .. sub)), path .. "/" .. sub)
          end
        end
      else
        local cmd = entry:match("^(.+)%.lua$")
        if cmd then
          add(cmd, summary_of(read(path)), path)
        end
      end
    end
  end
  for _, rel in ipairs(host.shipped()) do
    local cmd = rel:match("^commands/(.+)%.lua$")
    if cmd then
      add((cmd:gsub("/", " ")), summary_of(host.shipped(rel)), "shipped")
    end
  end
  table.sort(result, function(a, b)
    return a.name < b.name
  end)
  return result
end

local function group_commands(group)
  local result = {}
  for _, c in ipairs(M.list()) do
    if c.name:match("^" .. group:gsub("%p", "%%%0") .. " ") then
      result[#result + 1] = c
    end
  end
  return result
end

local function print_group(group, commands, out)
  out:write(("Usage: mosaic %s <command> [args]\n\nCommands:\n"):format(group))
  for _, c in ipairs(commands) do
    out:write(("  %-18s %s\n"):format(c.name, c.summary))
  end
  out:write(("\nRun 'mosaic %s <command> --help' for a command's options.\n"):format(group))
end

local function usage(message, hint)
  io.stderr:write("mosaic: ", message, "\n")
  if hint then
    io.stderr:write("Try '", hint, "'.\n")
  end
  return 64
end

--- main(argv) -> exit status
function M.main(argv)
  local found = M.find(argv)
  if not found then
    local group = argv[1]
    local members = group_commands(group)
    if #members > 0 then
      local sub = argv[2]
      if sub == "-h" or sub == "--help" or sub == "help" then
        print_group(group, members, io.stdout)
        return 0
      end
      if not sub then
        print_group(group, members, io.stderr)
        return 64
      end
      local names = {}
      for _, c in ipairs(members) do
        names[#names + 1] = c.name:match(" (.+)$")
      end
      local guess = closest(sub, names)
      return usage(("unknown command '%s %s'%s"):format(group, sub,
        guess and (" (did you mean '" .. group .. " " .. guess .. "'?)") or ""), "mosaic " .. group .. " --help")
    end
    local names = {}
    for _, c in ipairs(M.list()) do
      names[#names + 1] = c.name:match("^(%S+)")
    end
    local guess = closest(group, names)
    return usage(("unknown command '%s'%s"):format(group,
      guess and (" (did you mean '" .. guess .. "'?)") or ""), "mosaic help")
  end
  -- A shipped command comes compiled at build time; its source is the fallback.
  local fn = found.shipped and host.shipped_chunk(found.shipped)
  local err
  if not fn and found.source then
    fn, err = load(found.source, found.chunkname, "t")
  elseif not fn then
    local source, why = host.read_code(found.path)
    if not source then
      io.stderr:write("mosaic: ", why, "\n")
      return 1
    end
    fn, err = load(source, found.chunkname, "t")
  end
  if not fn then
    error(err, 0)
  end
  local name = "mosaic " .. table.concat(argv, " ", 1, found.words)
  local args = { [0] = name }
  for i = found.words + 1, #argv do
    args[#args + 1] = argv[i]
  end
  _G.arg = args
  local status = fn(table.unpack(args))
  io.stdout:flush()
  if math.type(status) == "integer" then
    return status
  end
  return 0
end

return M
