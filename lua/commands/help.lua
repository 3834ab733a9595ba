--- List commands, or show one command's help
local dispatch = require "mosaic._dispatch"
local commands = require "mosaic._commands"

local words = { ... }
if words[1] == "-h" or words[1] == "--help" or words[1] == "help" then
  -- `mosaic help --help`, `mosaic help help`: this page.
  words = {}
end
if #words > 0 then
  -- The built-ins the host runs itself: `mosaic help run`, `help shell`, `help -e`.
  local b = commands.builtin(words[1])
  if b and #words == 1 then
    io.stdout:write(commands.builtin_help(b))
    return 0
  end
  -- `mosaic help fleet ps` is `mosaic fleet ps --help`.
  words[#words + 1] = "--help"
  return dispatch.main(words)
end

local out = io.stdout
out:write(("mosaic %s: the truth about an agent fleet, and safe hands on it\n\n"):format(mosaic.version))
out:write([[
Usage:
  mosaic <group> <command> [args]   run a command (below)
  mosaic shell                      Lua shell with the fleet API loaded
  mosaic run FILE [ARGS]            run a Lua script (also: mosaic FILE.lua, #!/usr/bin/env mosaic)
  mosaic -e CHUNK                   run a chunk of Lua
  mosaic --version

Commands:
]])
for _, c in ipairs(dispatch.list()) do
  out:write(("  %-20s %s\n"):format(c.name, c.summary))
end
out:write([[

Run 'mosaic help <command>' or 'mosaic <command> --help' for a command's options (also
'mosaic help run', 'help shell', 'help -e'). New here? 'mosaic fleet init' writes a roster and
the units for a first fleet. Drop a Lua file in <config>/commands/<group>/<name>.lua to add
'mosaic <group> <name>'.
]])
return 0
