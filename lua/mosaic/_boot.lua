-- Runs first in every mosaic Lua state: installs the module searcher and the API globals.
--
-- require() looks in <config>/lua, then each directory of $MOSAIC_LUA_PATH (':'-separated),
-- then the modules shipped inside the binary, then the system's Lua 5.4 paths (package.path,
-- so Debian's lua-* packages work). SPEC 2.9.
local host = require "mosaic._host"

local roots = host.lua_roots()

local function search(name)
  local rel = name:gsub("%.", "/")
  local candidates = { rel .. ".lua", rel .. "/init.lua" }
  for _, root in ipairs(roots) do
    for _, cand in ipairs(candidates) do
      local path = root .. "/" .. cand
      -- Code from disk passes the same trust check as <run>'s files (SPEC 2.2): a file
      -- another user could have written is refused, never run.
      local source, why, missing = host.read_code(path)
      if source then
        local fn, err = load(source, "@" .. path, "t")
        if not fn then
          error(("error loading module '%s' from file '%s':\n\t%s"):format(name, path, err), 0)
        end
        return fn, path
      elseif not missing then
        error(("module '%s': %s"):format(name, why), 0)
      end
    end
  end
  for _, cand in ipairs(candidates) do
    -- Shipped files come compiled at build time: nothing to parse.
    local chunk = host.shipped_chunk(cand)
    if chunk then
      return chunk, "@[mosaic]/" .. cand
    end
    local source = host.shipped(cand)
    if source then
      local chunkname = "@[mosaic]/" .. cand
      local fn, err = load(source, chunkname, "t")
      if not fn then
        error(("error loading shipped module '%s':\n\t%s"):format(name, err), 0)
      end
      return fn, chunkname
    end
  end
  return "\n\tno shipped module '" .. rel .. ".lua'"
end

table.insert(package.searchers, 2, search)

mosaic = require "mosaic"
fleet = require "mosaic.fleet"
agent = require "mosaic.agent"
heartbeat = require "mosaic.heartbeat"
