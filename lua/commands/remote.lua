--- (internal) Run a command that another host's mosaic sent over ssh
local cli = require "mosaic.cli"

local parser = cli.parser("mosaic remote",
  "Internal: the command another host's mosaic runs here over ssh (SPEC 2.12). ENVELOPE\n" ..
  "is hex-encoded JSON {\"v\":1,\"argv\":[...]}: the command (fleet ps, agent send, agent\n" ..
  "capture, agent watch or agent attach) and its exact arguments, which run in this process\n" ..
  "as if given on the command line; text for agent send comes on standard input. The hex\n" ..
  "keeps every name and word away from the remote shell, which only ever sees\n" ..
  "'<mosaic> remote <hex digits>'. This host never fans out to other hosts while serving.",
  "Exit status: the command's, 64 for an envelope that cannot be read.")
parser:argument("envelope", "The hex-encoded JSON envelope.")
local opts = cli.parse(parser, { ... })
return require("mosaic.hosts").serve(opts.envelope)
