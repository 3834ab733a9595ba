--- The command tree, read from the commands themselves: every command's argparse parser
-- (caught at its first parse, before it does anything), the built-ins the host handles
-- (run, shell, -e, help), and the groups. Completions (mosaic._complete) and man pages
-- (mosaic._man) are generated from it, so they cannot drift from what the commands accept.
local dispatch = require "mosaic._dispatch"
local host = require "mosaic._host"
local cli = require "mosaic.cli"

local M = {}

--- The built-ins: handled by the host before any command script, documented here.
M.BUILTINS = {
  {
    name = "run",
    summary = "Run a Lua script with the fleet API loaded",
    usage = "mosaic run [--timeout S] [--memory MB] FILE [ARGS...]",
    description = "Runs a Lua script with the mosaic API loaded (fleet, agent, heartbeat, mosaic are\n" ..
      "globals), with `arg` as in lua: arg[0] is FILE, arg[1..] its arguments. FILE '-' reads\n" ..
      "standard input. The same runs as 'mosaic FILE.lua ARGS', 'mosaic path/to/FILE ARGS' and\n" ..
      "a '#!/usr/bin/env mosaic' shebang.",
    options = {
      { "--timeout S", "Stop the script after S seconds (exit 1, \"time limit exceeded\")." },
      { "--memory MB", "Cap the memory the script's Lua code may allocate." },
      { "-h, --help", "Show this help and exit." },
    },
    epilog = "Exit status: the script's os.exit status, else 0; 1 after an uncaught error (the\n" ..
      "message and a Lua traceback on stderr); 130 interrupted; 64 usage.\n\n" ..
      "Examples:\n" ..
      "  mosaic run report.lua --since 1h\n" ..
      "  mosaic run --timeout 50 examples/restart-stale.lua",
    positional = { "file" },
  },
  {
    name = "shell",
    summary = "Lua shell (REPL) with the fleet API loaded",
    usage = "mosaic shell",
    description = "A Lua 5.4 REPL with the mosaic API loaded (fleet, agent, heartbeat, mosaic).\n" ..
      "Expressions print their values (tables pretty-printed), statements run, and incomplete\n" ..
      "input continues on the next line with '>> '.\n" ..
      "  Tab      complete globals and fields (fleet.p<Tab>, mosaic.json.e<Tab>)\n" ..
      "  Ctrl-C   interrupt running code, or discard the line being typed\n" ..
      "  Ctrl-D   leave (on an empty line)\n" ..
      "  help()   list the API; help(fleet.ps) or help \"fleet.ps\" explains one function\n" ..
      "Reads <config>/init.lua first if present. History: <state>/shell_history. Without a\n" ..
      "terminal, runs stdin as a script: values are printed, and the first error ends it with\n" ..
      "status 1.",
    options = { { "-h, --help", "Show this help and exit." } },
    epilog = "Examples:\n" ..
      "  mosaic shell\n" ..
      "  printf 'fleet.ps().host\\n' | mosaic shell",
    positional = {},
  },
  {
    name = "-e",
    summary = "Run a chunk of Lua given on the command line",
    usage = "mosaic -e CHUNK [-e CHUNK ...] [FILE [ARGS...]]",
    description = "Runs each CHUNK in turn, then FILE if given (as 'mosaic run' does), with the mosaic\n" ..
      "API loaded. A chunk's values are not printed: use print().",
    options = {},
    epilog = "Exit status: as for 'mosaic run'.\n\n" ..
      "Examples:\n" ..
      "  mosaic -e 'for _, a in ipairs(fleet.ps().agents) do print(a.name, a.heartbeat.health) end'",
    positional = { "file" },
  },
}

local builtin_by_name = {}
for _, b in ipairs(M.BUILTINS) do
  builtin_by_name[b.name] = b
end

--- builtin(name) -> the built-in's description table, or nil.
function M.builtin(name)
  return builtin_by_name[name]
end

--- builtin_help(b) -> the help text of a built-in, shaped like argparse's.
function M.builtin_help(b)
  local lines = { "Usage: " .. b.usage, "", b.description }
  if #b.options > 0 then
    lines[#lines + 1] = ""
    lines[#lines + 1] = "Options:"
    for _, o in ipairs(b.options) do
      lines[#lines + 1] = ("   %-22s %s"):format(o[1], o[2])
    end
  end
  if b.epilog then
    lines[#lines + 1] = ""
    lines[#lines + 1] = b.epilog
  end
  return table.concat(lines, "\n") .. "\n"
end

local function read(path)
  local f = io.open(path, "rb")
  if not f then
    return nil
  end
  local text = f:read("a")
  f:close()
  return text
end

local cache = {}

--- parser(name) -> the argparse parser of command `name` ("fleet ps"), or nil when the
-- command has none (it does not parse with mosaic.cli) or cannot be loaded. The command's
-- chunk runs only up to its first parse, and only if it calls cli.parser at all.
function M.parser(name)
  if cache[name] ~= nil then
    return cache[name] or nil
  end
  cache[name] = false
  local words = {}
  for w in name:gmatch("%S+") do
    words[#words + 1] = w
  end
  local found = dispatch.find(words)
  if not found or found.words ~= #words then
    return nil
  end
  local source = found.source or read(found.path)
  if not source or not source:find("cli.parser(", 1, true) then
    return nil
  end
  local fn = found.shipped and host.shipped_chunk(found.shipped) or load(source, found.chunkname, "t")
  if not fn then
    return nil
  end
  local sentinel = {}
  local saved_arg, saved_capture = _G.arg, cli._capture
  cli._capture = sentinel
  local ok, err = pcall(fn)
  cli._capture, _G.arg = saved_capture, saved_arg
  if not ok and err == sentinel and sentinel.parser then
    cache[name] = sentinel.parser
    return sentinel.parser
  end
  return nil
end

--- list() -> every command: {name=, summary=, origin=, group=} sorted by name (what
-- `mosaic help` lists), without the built-ins.
function M.list()
  local result = {}
  for _, c in ipairs(dispatch.list()) do
    result[#result + 1] = { name = c.name, summary = c.summary, origin = c.origin, group = c.name:match("^(%S+) ") }
  end
  return result
end

--- top() -> the first words: {name=, summary=, kind = "group"|"command"|"builtin"}, sorted.
function M.top()
  local seen, result = {}, {}
  for _, c in ipairs(M.list()) do
    local first = c.name:match("^%S+")
    if not seen[first] then
      seen[first] = true
      if c.group then
        result[#result + 1] = { name = first, summary = M.group_summary(first), kind = "group" }
      else
        result[#result + 1] = { name = first, summary = c.summary, kind = "command" }
      end
    end
  end
  for _, b in ipairs(M.BUILTINS) do
    if not seen[b.name] then
      result[#result + 1] = { name = b.name, summary = b.summary, kind = "builtin" }
    end
  end
  table.sort(result, function(a, b)
    return a.name < b.name
  end)
  return result
end

local GROUP_SUMMARIES = {
  fleet = "The whole fleet: list, judge, export, set up",
  agent = "One agent: send, capture, watch, attach, stub",
}

--- group_summary(group) -> one line about a command group.
function M.group_summary(group)
  return GROUP_SUMMARIES[group] or ("The " .. group .. " commands")
end

--- members(group) -> the commands of a group ({name="fleet ps", summary=...}).
function M.members(group)
  local result = {}
  for _, c in ipairs(M.list()) do
    if c.group == group then
      result[#result + 1] = c
    end
  end
  return result
end

return M
