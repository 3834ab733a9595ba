--- Write the man pages (mosaic(1), one per command group, roster(5), heartbeat(7))
local cli = require "mosaic.cli"
local man = require "mosaic._man"

local parser = cli.parser("mosaic manpages",
  "Writes the man pages into DIR/man1, DIR/man5 and DIR/man7: mosaic(1); mosaic-<group>(1)\n" ..
  "for every command group and top-level command (mosaic-fleet, mosaic-agent, ...);\n" ..
  "mosaic-roster(5) and mosaic-heartbeat(7). They are generated from the commands' own\n" ..
  "definitions (the same ones --help prints, your commands in <config>/commands included)\n" ..
  "and from the docs carried in the binary, so they match this mosaic exactly. The date\n" ..
  "is today's, or $SOURCE_DATE_EPOCH's.",
  "Exit status: 0 written, 1 a page could not be written, 64 usage.\n\n" ..
  "Examples:\n" ..
  "  mosaic manpages ~/.local/share/man && man mosaic-fleet\n" ..
  "  sudo mosaic manpages /usr/local/share/man\n" ..
  "  mosaic manpages /tmp/m && man -l /tmp/m/man5/mosaic-roster.5")
parser:argument("dir", "The man directory (pages go to DIR/manN/)."):argname("DIR")
local opts = cli.parse(parser, { ... })

local dir = opts.dir:gsub("/+$", "")
if dir == "" then
  dir = "/"
end
for _, sub in ipairs({ "man1", "man5", "man7" }) do
  local r, err = mosaic.exec({ "mkdir", "-p", "--", dir .. "/" .. sub })
  if not r or r.status ~= 0 then
    mosaic.die(("manpages: %s/%s: %s"):format(dir, sub, err or (r.stderr:gsub("%s+$", ""))))
  end
end
for _, page in ipairs(man.pages()) do
  local path = ("%s/man%s/%s"):format(dir, page.file:match("%.(%d)$"), page.file)
  local ok, err = mosaic.write_file(path, page.text, tonumber("644", 8))
  if not ok then
    mosaic.die("manpages: " .. err)
  end
  print(path)
end
return 0
