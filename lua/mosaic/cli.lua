--- Argument parsing for commands: lua-argparse (shipped as lua/argparse.lua), with mosaic's conventions.
-- A usage error prints one line and a hint on stderr and exits 64; --help prints the
-- help and exits 0.
local argparse = require "argparse"

local M = {}

-- "fleet ps" for the parser of "mosaic fleet ps": error lines read "mosaic: fleet ps: ...".
local function what(parser)
  return (parser._name:gsub("^mosaic ", ""))
end

-- While set (by mosaic._commands), parsers stop their command at its first parse and
-- hand themselves over instead: completions and man pages read the very definitions the
-- commands parse with.
M._capture = nil

local function captured(self)
  local sentinel = M._capture
  sentinel.parser = self
  error(sentinel, 0)
end

--- parser(name, description [, epilog]) -> an argparse parser
function M.parser(name, description, epilog)
  local p = argparse(name, description, epilog):help_max_width(100)
  if M._capture then
    p.parse, p.pparse = captured, captured
  end
  return p
end

-- A negative number after an option that takes a value is that value, not another option:
-- `--interval -1` is read as `--interval=-1`, so the option's converter can say what is
-- wrong with it (argparse alone reports "unknown option '-1'").
local function negative_values(parser, args)
  local takes = {}
  for _, o in ipairs(parser._options or {}) do
    if (o._maxargs or 0) > 0 then
      for _, alias in ipairs(o._aliases or {}) do
        takes[alias] = true
      end
    end
  end
  local out, i = {}, 1
  while i <= #args do
    local a, value = args[i], args[i + 1]
    if a == "--" then
      table.move(args, i, #args, #out + 1, out)
      break
    end
    local lower = type(value) == "string" and value:lower() or ""
    if takes[a] and lower:sub(1, 1) == "-" and (tonumber(value) or lower:match("^%-inf") or lower == "-nan") then
      out[#out + 1] = a:sub(1, 2) == "--" and (a .. "=" .. value) or (a .. value)
      i = i + 2
    else
      out[#out + 1] = a
      i = i + 1
    end
  end
  return out
end

--- parse(parser, args) -> the parsed options table; exits 64 on a usage error.
function M.parse(parser, args)
  local ok, result = parser:pparse(negative_values(parser, args))
  if not ok then
    io.stderr:write(("mosaic: %s: %s\nTry '%s --help'.\n"):format(what(parser), result, parser._name))
    os.exit(64)
  end
  return result
end

--- usage_error(parser, message): the same one-line usage error, for checks argparse cannot do.
function M.usage_error(parser, message)
  io.stderr:write(("mosaic: %s: %s\nTry '%s --help'.\n"):format(what(parser), message, parser._name))
  os.exit(64)
end

--- positive(name) -> a converter for argparse that accepts a positive number.
function M.positive(name)
  return function(s)
    local n = tonumber(s)
    if not n or n <= 0 or n ~= n or n == math.huge then
      return nil, ("%s must be a positive number, got '%s'"):format(name, s)
    end
    return n
  end
end

return M
