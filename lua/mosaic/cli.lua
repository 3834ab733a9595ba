--- Argument parsing for commands: Debian's lua-argparse, with mosaic's conventions.
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

--- parse(parser, args) -> the parsed options table; exits 64 on a usage error.
function M.parse(parser, args)
  local ok, result = parser:pparse(args)
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
